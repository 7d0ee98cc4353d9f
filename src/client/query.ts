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
import { cannotConnect, CliError, codeOf, EXIT, streamFailed } from './errors.js'
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
  for (;;) {
    const r = await cursor.next()
    if (r === undefined) break
    formatter.record(r)
    count++
    onRecord?.(count)
    if (out.needsDrain) await out.drain()
  }
  const elapsedMs = performance.now() - started
  const cancelled = signal?.aborted === true
  const err = cancelled ? undefined : cursor.err()
  formatter.end({ count, elapsedMs, error: err })
  return err === undefined ? { count, elapsedMs, cancelled } : { count, elapsedMs, error: err, cancelled }
}

/** Connects to `addr`, mapping any failure to exit code 2. */
export async function connectOrExit(
  addr: string,
  options: { token?: string; transports: TransportRegistry; signal?: AbortSignal },
): Promise<Session> {
  // Imported here, not at the top: a query that fails to parse exits without loading the
  // protocol client (MessagePack, the WebSocket library).
  const { connect } = await import('../proto/client/client.js')
  try {
    return await connect(addr, { token: options.token, transports: options.transports, signal: options.signal })
  } catch (err) {
    // A URL no transport can dial is the user's mistake (exit 1), not an unreachable node.
    // Checked by code, not class: a plugin transport's errors need only carry the code.
    const code = codeOf(err)
    if (code === 'ERR_UNSUPPORTED_SCHEME' || code === 'ERR_INVALID_URL') {
      throw new CliError(code, `${(err as Error).message} (${code})`, {
        hint: code === 'ERR_INVALID_URL' ? 'give --addr as scheme://host:port, e.g. ws://127.0.0.1:8420' : 'a plugin can add the scheme: --plugin PATH',
        cause: err,
      })
    }
    throw cannotConnect(addr, err)
  }
}

/**
 * Formatter options for a stream: `{}` when it is not a terminal (a pipe, a file);
 * `{ color, columns }` when it is, `columns` left out when the terminal reports no width
 * (a pseudo-terminal without a size says 0).
 */
export function formatInit(stream: NodeJS.WriteStream = process.stdout): FormatInit {
  if (stream.isTTY !== true) return {}
  const color = process.env.NO_COLOR === undefined
  return typeof stream.columns === 'number' && stream.columns > 0 ? { columns: stream.columns, color } : { color }
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
