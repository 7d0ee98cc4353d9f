import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx', 'plugins/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Network tests start real libp2p nodes; on a 2-core CI machine running every file at
    // once starves their timers. Two workers keep both cores busy without that.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
})
