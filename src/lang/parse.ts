/**
 * Text to Statement: lex, parse, build. The leftmost mistake found wins; errors come back as
 * data from `tryParseQuery` (for the shell) or thrown by `parseQuery`.
 */
import { LRUCache } from 'lru-cache'
import type { Statement } from './ast.js'
import { buildStatement } from './build.js'
import { ERR_QUERY_BAD_STRING, ERR_QUERY_TOO_LONG, MAX_QUERY_LENGTH, QueryError } from './errors.js'
import { parseTokens, parser } from './parser.js'
import { syntaxError } from './syntax.js'
import { lexQuery } from './tokens.js'

/** The outcome of {@link tryParseQuery}: the statement, or the error as data. */
export type ParseResult = { ok: true; statement: Statement } | { ok: false; error: QueryError }

/**
 * Parsed statements by query text, so a program that runs the same few queries (a service
 * polling `ls WHERE role=db`, the shell's highlighter re-parsing a line) lexes and parses each
 * once. Bounded by count and by the text it holds (at most 1024 statements and 1 Mi
 * characters of keys); least recently used first out. Only good statements are kept, deep
 * frozen: every caller shares them, so none may change one (copy it first).
 */
const cache = new LRUCache<string, ParseResult & { ok: true }>({
  max: 1024,
  maxSize: 1 << 20,
  sizeCalculation: (_v, k) => k.length + 1,
})

/** Forgets every cached statement (tests, benchmarks). */
export function clearParseCache(): void {
  cache.clear()
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}

/**
 * Parses a query without throwing for malformed input.
 * When several mistakes are present, the leftmost one found is reported.
 */
export function tryParseQuery(text: string): ParseResult {
  if (typeof text === 'string') {
    const hit = cache.get(text)
    if (hit !== undefined) return hit
  }
  const r = parseUncached(text)
  if (r.ok) cache.set(text, deepFreeze(r))
  return r
}

function parseUncached(text: string): ParseResult {
  if (typeof text !== 'string') {
    return { ok: false, error: new QueryError(ERR_QUERY_TOO_LONG, 'a query must be a string', { column: 1 }) }
  }
  if (text.length > MAX_QUERY_LENGTH) {
    return {
      ok: false,
      error: new QueryError(ERR_QUERY_TOO_LONG, `a query may be at most ${MAX_QUERY_LENGTH} characters long`, {
        column: MAX_QUERY_LENGTH + 1,
      }),
    }
  }
  const lexed = lexQuery(text)
  const cst = parseTokens(lexed.tokens)
  const parseErr = parser.errors[0]
  if (parseErr !== undefined) {
    const error = syntaxError(parseErr, lexed.tokens, text)
    // A broken string before the syntax error is the earlier mistake, and often its cause.
    const bad = lexed.badString
    if (bad !== undefined && bad.offset + 1 < error.column) {
      return {
        ok: false,
        error: new QueryError(ERR_QUERY_BAD_STRING, bad.message, { column: bad.offset + 1, expected: bad.expected }),
      }
    }
    return { ok: false, error }
  }
  try {
    return { ok: true, statement: buildStatement(cst, lexed.strings) }
  } catch (err) {
    if (err instanceof QueryError) return { ok: false, error: err }
    throw err
  }
}

/** Parses a query (docs/language.md) into its Statement. Throws {@link QueryError} when it is malformed. */
export function parseQuery(text: string): Statement {
  const r = tryParseQuery(text)
  if (!r.ok) throw r.error
  return r.statement
}
