/**
 * `ww ls QUERY --watch` (`-w`): the query's matches, then one line per change, until Ctrl-C
 * (exit 130). A lost connection exits 3, or with `--reconnect` dials again (backing off, at
 * most 5 s apart) and resyncs, printing only what changed while away. Printing is in
 * src/client/watch.ts; the events are `View.watch`'s (docs/table.md#watch).
 */
import type { Session } from '../api.js'
import { formatFor, type CliContext } from '../client/context.js'
import { CliError, EXIT, ERR_USAGE, streamFailed } from '../client/errors.js'
import { Output } from '../client/output.js'
import { closeQuietly, connectOrExit, formatInit } from '../client/query.js'
import { runWatch, watchPrinter } from '../client/watch.js'
import { renderCaret, tryParseQuery, type Statement } from '../lang/index.js'
import type { RoutingRecord } from '../record/record.js'

/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130

/** Options of the watch command. */
export interface WatchCommandOptions {
  /** Dial again after a lost connection and resync instead of exiting 3. @default false */
  reconnect?: boolean
  /** Stops the watch as Ctrl-C does (tests); SIGINT is always listened to. @default undefined */
  signal?: AbortSignal
}

/** First and largest pause between redials of a live view (`--watch`, `ww top`), in ms. */
export const BACKOFF_MIN = 250
/** @see BACKOFF_MIN */
export const BACKOFF_MAX = 5000

/** What a live view ({@link liveStatement}) calls itself in its errors. */
export interface LiveNames {
  /** Refusing lookup, e.g. "--watch works with ls, not lookup". */
  notLs: string
  /** Refusing LIMIT, e.g. "watch takes no LIMIT". */
  limit: string
  /** The hint that goes with the LIMIT refusal. */
  limitHint: string
}

/**
 * The statement a live view follows: `words` parsed as one ls query without LIMIT (a live
 * match set has no first n). A syntax error is printed with its caret and gives the usage
 * exit code; lookup and LIMIT are thrown as usage errors.
 */
export function liveStatement(words: readonly string[], names: LiveNames): { text: string; statement: Statement } | number {
  const text = words.join(' ').trim()
  const parsed = tryParseQuery(text)
  if (!parsed.ok) {
    process.stderr.write(`${renderCaret(text, parsed.error)}\n`)
    return EXIT.usage
  }
  const statement = parsed.statement
  if (statement.op !== 'ls') throw new CliError(ERR_USAGE, names.notLs)
  if (statement.constraints.some((c) => c.kind === 'limit')) {
    throw new CliError('ERR_WATCH_LIMIT', `${names.limit}: a live match set has no first n`, { hint: names.limitHint })
  }
  return { text, statement }
}

/** The `ls --watch` action; returns the exit code. */
export async function watchCommand(words: readonly string[], ctx: CliContext, options: WatchCommandOptions = {}): Promise<number> {
  const live = liveStatement(words, { notLs: '--watch works with ls, not lookup', limit: 'watch takes no LIMIT', limitHint: 'drop LIMIT, or run ww ls without --watch' })
  if (typeof live === 'number') return live
  const { statement } = live
  const out = new Output(process.stdout)
  const format = formatFor(ctx.options, ['text', 'json', 'ndjson'])
  const printer = watchPrinter(format, out, formatInit())
  if (printer === undefined) throw new CliError(ERR_USAGE, `--watch prints text, json or ndjson, not "${format}"`)
  // Ctrl-C, the caller's signal or a closed pipe stop the watch.
  const stop = new AbortController()
  const interrupted = new AbortController()
  const onSigint = (): void => {
    interrupted.abort()
    stop.abort()
  }
  process.on('SIGINT', onSigint)
  const onStop = (): void => stop.abort()
  options.signal?.addEventListener('abort', onSigint, { once: true })
  out.closed.addEventListener('abort', onStop, { once: true })
  const known = new Map<string, RoutingRecord>()
  let session: Session | undefined
  try {
    let resync = false
    let backoff = BACKOFF_MIN
    for (;;) {
      try {
        session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: stop.signal })
      } catch (err) {
        if (stop.signal.aborted) break
        if (!resync) throw err
        process.stderr.write(`ww: ${(err as Error).message}; retrying\n`)
        await sleep(backoff, stop.signal)
        backoff = Math.min(BACKOFF_MAX, backoff * 2)
        continue
      }
      const run = await runWatch(session.view, statement, printer, out, stop.signal, known, resync)
      await closeQuietly(session)
      session = undefined
      if (run.error === undefined || stop.signal.aborted) break
      if (options.reconnect !== true) throw streamFailed(known.size, run.error)
      process.stderr.write(`ww: connection lost (${(run.error as { code?: string }).code ?? run.error.message}); reconnecting\n`)
      if (run.synced) backoff = BACKOFF_MIN
      resync = true
      await sleep(backoff, stop.signal)
      backoff = Math.min(BACKOFF_MAX, backoff * 2)
    }
    await out.end()
    return interrupted.signal.aborted ? EXIT_INTERRUPTED : EXIT.ok
  } catch (err) {
    if (interrupted.signal.aborted) return EXIT_INTERRUPTED
    throw err
  } finally {
    process.off('SIGINT', onSigint)
    options.signal?.removeEventListener('abort', onSigint)
    out.closed.removeEventListener('abort', onStop)
    if (session !== undefined) await closeQuietly(session)
  }
}

/** Waits `ms`, or less if `signal` aborts first (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
