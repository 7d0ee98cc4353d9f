/**
 * A small young generation for `ww start`. V8 sizes each of the young generation's two
 * semi-spaces up to 16 MiB, which an idle node fills with short-lived garbage and keeps: 32 MiB
 * of its ~88 MiB of anonymous memory in a 16-node cluster. A node allocates little per second,
 * so `ww start` run as the `ww` bin replaces itself (`process.execve`: same PID, same stdio)
 * with the same command under `--max-semi-space-size=`{@link START_SEMI_SPACE_MB}: 61 MiB
 * instead of 88 (docs/scaling.md, "Processes on one host"). A `--max-semi-space-size` already
 * given (on node's command line or in NODE_OPTIONS) wins and nothing is re-executed; so does a
 * Node without `process.execve` (before 22.15).
 *
 * The bin (src/cli/main.ts) does this first thing, before it loads the command line and its
 * modules: re-executing after them threw away ~0.7 s of CPU per start (every module loaded
 * twice), which 64 nodes starting on one 2-core host pay 64 times. This module therefore
 * imports nothing but `node:fs` and `node:path`.
 */
import { realpathSync } from 'node:fs'
import { basename, dirname } from 'node:path'

/** Largest young-generation semi-space of a `ww start` process, in MiB (V8's own: 16). @default 1 */
export const START_SEMI_SPACE_MB = 1

/** What {@link startReexecArgv} reads of a process. */
export interface ProcessView {
  execPath: string
  execArgv: readonly string[]
  argv: readonly string[]
  env: NodeJS.ProcessEnv
}

/**
 * The arguments to re-execute this process with as `ww start` under a small young generation,
 * or undefined: when `--max-semi-space-size` is already set (node's flags or NODE_OPTIONS), or
 * when the process is not the `ww` bin (its script is not `cli/main.js` or `cli/main.ts`,
 * e.g. a test runner calling runStart).
 */
export function startReexecArgv(p: ProcessView): string[] | undefined {
  // V8 takes `-` and `_` alike in a flag's name.
  const given = (a: string): boolean => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(a)
  if (p.execArgv.some(given) || (p.env.NODE_OPTIONS ?? '').split(/\s+/).some(given)) return undefined
  const script = p.argv[1]
  if (script === undefined) return undefined
  let real: string
  try {
    real = realpathSync(script)
  } catch {
    return undefined
  }
  if (!/^main\.[jt]s$/.test(basename(real)) || basename(dirname(real)) !== 'cli') return undefined
  return [p.execPath, `--max-semi-space-size=${START_SEMI_SPACE_MB}`, ...p.execArgv, ...p.argv.slice(1)]
}

/**
 * Re-executes this process as `ww start` under a small young generation when
 * {@link startReexecArgv} says so (and Node has `process.execve`); returns only when it does
 * not. Where `execve` exists but can't run (Windows, a worker thread: it throws), the node
 * starts as it is, with Node's default young generation.
 */
export function reexecStart(): void {
  if (typeof process.execve !== 'function' || process.platform === 'win32') return
  const again = startReexecArgv(process)
  if (again === undefined) return
  try {
    process.execve(process.execPath, again, process.env)
  } catch {
    // Not available here: run without the smaller young generation.
  }
}
