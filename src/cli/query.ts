/**
 * `ww ls [QUERY…]` and `ww lookup [QUERY…]`: parse locally (a syntax error never reaches the
 * node and exits 1 with a caret), connect (exit 2 on failure), stream the matches through the
 * chosen formatter as they arrive (exit 3 if the stream fails after it began), exit 0 — also
 * for an empty result and when the reader closed the pipe. A node that hands this client the
 * null View (it requires a token) gets a one-line warning and exit 4.
 */
import type { FormatterFactory } from '../format/types.js'
import { renderCaret, tryParseQuery } from '../lang/index.js'
import type { CliContext } from '../client/context.js'
import { EXIT, notAuthorized, streamFailed } from '../client/errors.js'
import { Output } from '../client/output.js'
import { closeQuietly, connectOrExit, formatInit, queryText, streamQuery } from '../client/query.js'

/** The `ls` / `lookup` action; returns the exit code. */
export async function queryCommand(op: 'ls' | 'lookup', words: readonly string[], ctx: CliContext): Promise<number> {
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
    const result = await streamQuery(session.view, statement, factory(out, formatInit()), out, out.closed)
    await out.end()
    if (out.closed.aborted) return EXIT.ok
    if (result.error !== undefined) throw streamFailed(result.count, result.error)
    return EXIT.ok
  } finally {
    await closeQuietly(session)
  }
}
