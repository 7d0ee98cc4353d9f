/**
 * The shell with stdin not a terminal (`ww shell < queries.txt`, `echo … | ww shell`): each
 * line is run as a query (or meta-command), its output printed plainly in the chosen format
 * on stdout; everything that is not a result (failures, meta-command answers, help, timing)
 * goes to stderr. Blank lines and lines starting with `#` or `--` are skipped.
 * The exit code is 0 when every line succeeded, else that of the first failing line (1 query
 * error, 2 cannot connect, 3 stream failed); `--stop-on-error` stops at that line.
 * A lost connection is re-dialled for the next line. No TTY is needed.
 */
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { EXIT } from '../client/errors.js'
import { Output } from '../client/output.js'
import type { LineResult, ShellCore } from './core.js'

/** Options of `runPiped`. */
export interface PipedInit {
  input?: Readable
  stdout?: Writable
  stderr?: Writable
  /** Stop at the first failing line. @default false */
  stopOnError?: boolean
}

/** Runs every line of `input`; returns the exit code. */
export async function runPiped(core: ShellCore, init: PipedInit = {}): Promise<number> {
  const input = init.input ?? process.stdin
  const stderr = init.stderr ?? process.stderr
  const out = new Output(init.stdout ?? process.stdout)
  let exitCode: number = EXIT.ok
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false })
  // Runs one statement and reports it; `where` (FILE:LINE) prefixes the errors of a script's lines.
  const one = async (line: string, where?: string): Promise<LineResult> => {
    const r = await core.run(line, out, { fromScript: where !== undefined })
    await out.end()
    // Only results go to stdout, so that `ww shell < q.txt > out.ndjson` holds nothing else.
    if (r.info !== undefined && r.info !== 'cancelled') stderr.write(r.info + '\n')
    if (core.timing && r.elapsedMs !== undefined) stderr.write(`(${r.count ?? 0} ${r.count === 1 ? 'record' : 'records'}, ${r.elapsedMs.toFixed(1)} ms)\n`)
    if (r.error !== undefined) {
      const msg = where === undefined ? r.error : `${where}: ${r.error}`
      stderr.write(msg.endsWith('\n') ? msg : msg + '\n')
    }
    if (r.exitCode !== EXIT.ok && exitCode === EXIT.ok) exitCode = r.exitCode
    return r
  }
  const stop = (r: LineResult): boolean => r.quit === true || (r.exitCode !== EXIT.ok && init.stopOnError === true)
  try {
    outer: for await (const raw of rl) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#') || line.startsWith('--')) continue
      if (out.closed.aborted) break
      const r = await one(line)
      if (stop(r)) break
      if (r.script !== undefined) {
        // \i FILE: its lines in order; a failing line is reported with FILE:LINE and the
        // file goes on (as psql does), unless --stop-on-error.
        for (const s of r.script.lines) {
          if (out.closed.aborted) break outer
          if (stop(await one(s.text, `${r.script.file}:${s.no}`))) break outer
        }
      }
    }
  } finally {
    rl.close()
    await out.end()
    await core.close()
  }
  return exitCode
}
