#!/usr/bin/env node
/**
 * The `ww` bin. Startup time is most of what a one-shot `ww ls` costs, so before anything
 * else is loaded this entry:
 * - turns on Node's on-disk compile cache (module.enableCompileCache, Node ≥ 22.1; opt out
 *   with NODE_DISABLE_COMPILE_CACHE=1), so later runs skip compiling the same code;
 * - loads Chevrotain (the query parser's library) from the single-file build its package
 *   ships (lib/chevrotain.mjs) instead of its module tree, which pulls in ~2 300 lodash-es
 *   files one by one. Same version, same API; only the loading changes. Skipped when the
 *   hook API (module.registerHooks, Node ≥ 22.15) or that file is missing.
 * - `ww start` re-executes itself under a small young generation (src/cli/reexec.ts) here,
 *   before anything else is loaded.
 * Then it runs the command line (program.ts) and exits with its code.
 */
import * as nodeModule from 'node:module'
import { existsSync, realpathSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

type ResolveHook = (
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => { url: string; format?: string | null; shortCircuit?: boolean },
) => { url: string; format?: string | null; shortCircuit?: boolean }

const mod = nodeModule as unknown as {
  enableCompileCache?: () => unknown
  registerHooks?: (hooks: { resolve: ResolveHook }) => unknown
}

try {
  mod.enableCompileCache?.()
} catch {
  // a cache that cannot be written (read-only tmp) only costs speed
}

if (typeof mod.registerHooks === 'function' && process.env.WW_NO_BUNDLED_CHEVROTAIN === undefined) {
  let bundled: string | null | undefined
  mod.registerHooks({
    resolve(specifier, context, next) {
      if (specifier !== 'chevrotain') return next(specifier, context)
      const r = next(specifier, context)
      if (bundled === undefined) {
        // The package's entry is lib/src/api.js; its bundle sits at lib/chevrotain.mjs.
        const candidate = new URL('../chevrotain.mjs', r.url)
        bundled = candidate.protocol === 'file:' && existsSync(fileURLToPath(candidate)) ? candidate.href : null
      }
      return bundled === null ? r : { url: bundled, format: 'module', shortCircuit: true }
    },
  })
}

// A reader that goes away (`ww --help | head -1`) must not crash the process with an
// unhandled 'error' event. Commands that stream (ls, sub) add their own handler to stop their
// work; this one only keeps the rest (help, version, banners) quiet.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`ww: cannot write output: ${err.message}\n`)
  process.exitCode ??= err.code === 'EPIPE' ? 0 : 1
})

// `ww start` re-executes itself under a small young generation (src/cli/reexec.ts): do it
// now, before the command line and its modules are loaded only to be thrown away.
if (process.argv[2] === 'start') (await import('./reexec.js')).reexecStart()

const { main } = await import('./program.js')

// Run when executed as the bin (not when imported).
const argv1 = process.argv[1]
if (argv1 !== undefined && import.meta.url === pathToFileURL(realpathSync(argv1)).href) {
  const code = await main()
  process.exitCode = code
  // A stray handle (a socket in TIME_WAIT, a plugin's timer) must not keep a finished command
  // alive; unref'd, this timer fires only if something else still holds the loop open.
  setTimeout(() => process.exit(code), 1500).unref()
}
