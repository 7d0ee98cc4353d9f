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
import type { ShellCore } from './core.js'

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
  try {
    for await (const raw of rl) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#') || line.startsWith('--')) continue
      if (out.closed.aborted) break
      const r = await core.run(line, out)
      await out.end()
      // Only results go to stdout, so that `ww shell < q.txt > out.ndjson` holds nothing else.
      if (r.info !== undefined && r.info !== 'cancelled') stderr.write(r.info + '\n')
      if (core.timing && r.elapsedMs !== undefined) stderr.write(`(${r.count ?? 0} ${r.count === 1 ? 'record' : 'records'}, ${r.elapsedMs.toFixed(1)} ms)\n`)
      if (r.error !== undefined) stderr.write(r.error.endsWith('\n') ? r.error : r.error + '\n')
      if (r.exitCode !== EXIT.ok && exitCode === EXIT.ok) exitCode = r.exitCode
      if (r.quit === true || (r.exitCode !== EXIT.ok && init.stopOnError === true)) break
    }
  } finally {
    rl.close()
    await out.end()
    await core.close()
  }
  return exitCode
}
