import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (path: string): string => fileURLToPath(new URL(`./src/${path}`, import.meta.url))

export default defineConfig({
  // The package's own entry points, as plugins/ import them (`ww/transport`), from the
  // sources rather than a build in dist/ that may be stale or absent (tsconfig.json `paths`
  // does the same for the type checker and tsx).
  resolve: {
    alias: [
      { find: /^ww$/, replacement: src('index.ts') },
      { find: /^ww\/transport$/, replacement: src('transport/index.ts') },
      { find: /^ww\/transport\/conformance$/, replacement: src('transport/conformance.ts') },
      { find: /^ww\/plugin$/, replacement: src('plugin.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx', 'plugins/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Network tests start real libp2p nodes; on a 2-core CI machine running every file at
    // once starves their timers. Two workers keep both cores busy without that.
    pool: 'forks',
    // `ww start` re-executes itself under a small young generation unless one is given
    // (src/cli/start-action.ts). Under tsx that second start compiles every module again, and
    // the tests start hundreds of nodes: children they spawn get the flag up front instead.
    // test/cli/start-heap.test.ts removes it to check the re-execution itself.
    env: { NODE_OPTIONS: [process.env.NODE_OPTIONS, '--max-semi-space-size=1'].filter(Boolean).join(' ') },
    maxWorkers: 2,
    fileParallelism: true,
  },
})
