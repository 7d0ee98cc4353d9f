/**
 * `ww ls [QUERY…]` and `ww lookup [QUERY…]`: parse locally (a syntax error never reaches the
 * node and exits 1 with a caret), connect (exit 2 on failure), stream the matches through the
 * chosen formatter as they arrive (exit 3 if the stream fails after it began), exit 0 — also
 * for an empty result and when the reader closed the pipe. A node that hands this client the
 * null View (it requires a token) gets a one-line warning and exit 4. `ww ls … --count` prints the number
 * of matches and `ww explain …` the plan (both answered by the node, nothing streamed).
 */
import type { FormatterFactory } from '../format/types.js'
import { renderCaret, tryParseQuery } from '../lang/index.js'
import type { CliContext } from '../client/context.js'
import { EXIT, notAuthorized, streamFailed } from '../client/errors.js'
import { Output } from '../client/output.js'
import { closeQuietly, connectOrExit, formatInit, formatPlan, queryText, streamQuery } from '../client/query.js'

/** The `ls` / `lookup` action; returns the exit code. */
export async function queryCommand(op: 'ls' | 'lookup', words: readonly string[], ctx: CliContext, verb?: 'count' | 'explain'): Promise<number> {
  const text = queryText(op, words)
  // Parsed before connecting: a malformed query never costs a connection (exit 1).
  const parsed = tryParseQuery(text)
  if (!parsed.ok) {
    process.stderr.write(`${renderCaret(text, parsed.error)}\n`)
    return EXIT.usage
  }
  const statement = parsed.statement
  const factory: FormatterFactory = ctx.formats.get(ctx.options.format)
  const out = new Output(process.stdout)
  const session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: out.closed })
  try {
    // The null View would answer every query with nothing: say why instead (exit 4).
    if (session.view.isNull) throw notAuthorized(ctx.options.addr)
    if (verb !== undefined) {
      // `ww ls … --count` / `ww explain …`: the node counts or explains; nothing is streamed.
      let answer: string
      try {
        const v = verb === 'count' ? await session.view.count(statement) : await session.view.explain(statement)
        answer = typeof v === 'number' ? `${v}\n` : ctx.options.format === 'text' ? formatPlan(v) : `${JSON.stringify(v)}\n`
      } catch (err) {
        throw streamFailed(0, err as Error)
      }
      out.write(answer)
      await out.end()
      return EXIT.ok
    }
    const result = await streamQuery(session.view, statement, factory(out, formatInit(process.stdout, ctx.options)), out, out.closed)
    await out.end()
    if (out.closed.aborted) return EXIT.ok
    if (result.error !== undefined) throw streamFailed(result.count, result.error)
    return EXIT.ok
  } finally {
    await closeQuietly(session)
  }
}
