/**
 * The query runner the command line and the shell share: turn the words of a command into
 * query text, connect (failures become exit code 2), and stream a statement's matches
 * through a formatter under the output's backpressure (a failure after the stream began
 * becomes exit code 3).
 */
import type { QueryPlan, Session, View } from '../api.js'
import type { FormatInit, FormatOutput, Formatter, FormatterFactory } from '../format/types.js'
import type { Statement } from '../lang/ast.js'
import { renderCaret, tryParseQuery } from '../lang/index.js'
import type { TransportRegistry } from '../transport/registry.js'
import type { CliContext } from './context.js'
import { cannotConnectAny, CliError, codeOf, EXIT, streamFailed } from './errors.js'
import { splitAddrs } from './config.js'
import { Output } from './output.js'

/** Where a streamed query writes: the formatter's output plus the stream's backpressure. */
export interface QuerySink extends FormatOutput {
  /** True while the consumer is behind: stop pulling records until `drain()` resolves. */
  readonly needsDrain: boolean
  /** Resolves once the consumer has caught up (at once if it is not behind). */
  drain(): Promise<void>
}

/** The query text of `ww ls WORDS…` / `ww lookup WORDS…`: words joined with spaces; lookup is implied. */
export function queryText(op: 'ls' | 'lookup', words: readonly string[]): string {
  const text = words.join(' ').trim()
  if (op === 'ls') return text
  const first = text.split(/\s+/, 1)[0]?.toLowerCase()
  return first === 'lookup' || first === 'ls' ? text : text === '' ? 'lookup' : `lookup ${text}`
}

/** How one streamed query went. */
export interface StreamResult {
  count: number
  elapsedMs: number
  /** The stream's error, unless it ended cleanly or was cancelled by `signal`. */
  error?: Error
  /** True when `signal` stopped it. */
  cancelled: boolean
}

/**
 * Streams `statement` from `view` into a formatter, waiting whenever `out` is full.
 * Never throws for the stream's own failure: it is returned (and handed to `end`).
 */
export async function streamQuery(
  view: View,
  statement: Statement,
  formatter: Formatter,
  out: QuerySink,
  signal?: AbortSignal,
  onRecord?: (count: number) => void,
): Promise<StreamResult> {
  const started = performance.now()
  // With the node's age/seen of each record: the text format shows them, the others ignore them.
  const cursor = view.iter(statement, { signal, times: true })
  formatter.begin()
  let count = 0
  // Every record already received in one read (no promise per record); `[]` is the end.
  for (let batch = await cursor.nextBatch(); batch.length > 0; batch = await cursor.nextBatch()) {
    for (const r of batch) {
      if (signal?.aborted === true) break // Ctrl-C: not the rest of the batch
      formatter.record(r)
      count++
      onRecord?.(count)
      if (out.needsDrain) await out.drain()
    }
  }
  const elapsedMs = performance.now() - started
  const cancelled = signal?.aborted === true
  const err = cancelled ? undefined : cursor.err()
  formatter.end({ count, elapsedMs, error: err })
  return err === undefined ? { count, elapsedMs, cancelled } : { count, elapsedMs, error: err, cancelled }
}

/**
 * Connects to the first node of `addr` that answers: one URL, a comma-separated list, or an
 * array, tried in order. When none answers: exit code 2 with one line naming every URL and why.
 * A URL no transport can dial is the user's mistake (exit 1) and stops at once.
 */
export async function connectOrExit(
  addr: string | readonly string[],
  options: { token?: string; transports: TransportRegistry; signal?: AbortSignal },
): Promise<Session> {
  // Imported here, not at the top: a query that fails to parse exits without loading the
  // protocol client (MessagePack, the WebSocket library).
  const { connect } = await import('../proto/client/client.js')
  const addrs = typeof addr === 'string' ? splitAddrs(addr) : addr
  const failures: Array<{ addr: string; err: unknown }> = []
  for (const a of addrs.length > 0 ? addrs : [typeof addr === 'string' ? addr : '']) {
    try {
      return await connect(a, { token: options.token, transports: options.transports, signal: options.signal })
    } catch (err) {
      // Checked by code, not class: a plugin transport's errors need only carry the code.
      const code = codeOf(err)
      if (code === 'ERR_UNSUPPORTED_SCHEME' || code === 'ERR_INVALID_URL') {
        throw new CliError(code, `${(err as Error).message} (${code})`, {
          hint: code === 'ERR_INVALID_URL' ? 'give --addr as scheme://host:port, e.g. ws://127.0.0.1:8420' : 'a plugin can add the scheme: --plugin PATH',
          cause: err,
        })
      }
      failures.push({ addr: a, err })
      if (options.signal?.aborted === true) break
    }
  }
  throw cannotConnectAny(failures)
}

/**
 * Whether to colour output on `stream`: `FORCE_COLOR` set to anything but `0`/`false` forces
 * it on (also into a pipe); otherwise only a terminal gets colour, and only when Node's own
 * check says it has colours (`hasColors()`: off with `NO_COLOR` or `NODE_DISABLE_COLORS`
 * set, or `TERM=dumb`). https://no-color.org, https://force-color.org
 */
export function useColor(stream: NodeJS.WritableStream & { isTTY?: boolean; hasColors?: (env?: object) => boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false'
  if (stream.isTTY !== true) return false
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return typeof stream.hasColors === 'function' ? stream.hasColors(env) : true
}

/**
 * Formatter options for a stream: colour as `useColor` decides; `columns` (the width) when it
 * is a terminal that reports one (a pseudo-terminal without a size says 0); and the table
 * options of the command line (`-o wide`, `--columns`, `--no-headers`) when given.
 */
export function formatInit(
  stream: NodeJS.WriteStream = process.stdout,
  table: { wide?: boolean; fields?: readonly string[]; headers?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): FormatInit {
  const init: FormatInit = {}
  if (useColor(stream, env)) init.color = true
  if (stream.isTTY === true && typeof stream.columns === 'number' && stream.columns > 0) init.columns = stream.columns
  if (table.wide === true) init.wide = true
  if (table.fields !== undefined) init.fields = table.fields
  if (table.headers === false) init.headers = false
  return init
}

/** Closes a session, bounded: a dead node must not keep the process waiting. */
export async function closeQuietly(session: Session, ms = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    session.close().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
    }),
  ])
  clearTimeout(timer)
}

/**
 * `explain`'s answer for people: the plan, the index and ranges walked, estimated against
 * actual rows, the time.
 */
export function formatPlan(p: QueryPlan): string {
  const lines = [
    `query     ${p.query}`,
    `plan      ${p.plan}${p.plan === 'materialized' ? ` (walk ${p.index}, sort by ${p.order})` : ''}`,
    `index     ${p.index}${p.absentFirst ? ` (after the records without ${p.order}, from the peer index)` : ''}`,
    `order     ${p.order}, then peer`,
    `ranges    ${p.ranges.join(' ∪ ') || '(none)'}`,
    `rows      estimated ${p.estimatedRows}, visited ${p.visitedRows}, returned ${p.actualRows}`,
    `time      ${p.ms.toFixed(3)} ms`,
  ]
  return `${lines.join('\n')}\n`
}

/** A line of `count QUERY` / `explain QUERY` (case-insensitive), or a plain query. */
export function splitVerb(text: string): { verb: 'count' | 'explain' | undefined; query: string; offset: number } {
  const m = /^(\s*)(count|explain)(?=\s|$)\s*/i.exec(text)
  if (m === null) return { verb: undefined, query: text, offset: 0 }
  return { verb: m[2]!.toLowerCase() as 'count' | 'explain', query: text.slice(m[0].length), offset: m[0].length }
}
