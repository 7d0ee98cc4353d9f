/**
 * The error of a malformed query. It is raised before anything is sent, and carries what the
 * shell needs to point at the mistake: a stable code, the 1-based column, what would have been
 * valid there, and for a near-miss a "did you mean".
 */
import { WwError } from '../errors.js'

/** Something that is not valid at this spot: a stray word, a missing value, a misplaced `*`, a blank inside `f=v`. */
export const ERR_QUERY_SYNTAX = 'ERR_QUERY_SYNTAX'
/** A quoted string with an escape other than `\"` and `\\`, or without its closing quote. */
export const ERR_QUERY_BAD_STRING = 'ERR_QUERY_BAD_STRING'
/** A field that is neither indexed nor a meta key: `seq`, `ttl`. */
export const ERR_QUERY_UNKNOWN_FIELD = 'ERR_QUERY_UNKNOWN_FIELD'
/** A meta key that is empty (`meta.=x`) or contains `=` (`meta."a=b"`). */
export const ERR_QUERY_BAD_KEY = 'ERR_QUERY_BAD_KEY'
/** LIMIT's argument is not a whole number from 1 to 2^31-1. */
export const ERR_QUERY_BAD_LIMIT = 'ERR_QUERY_BAD_LIMIT'
/** A clause (WHERE/FROM, TO, LIMIT, REVERSE) given twice. */
export const ERR_QUERY_DUPLICATE_CLAUSE = 'ERR_QUERY_DUPLICATE_CLAUSE'
/** LOOKUP with LIMIT: a lookup yields at most one record already. */
export const ERR_QUERY_LOOKUP_LIMIT = 'ERR_QUERY_LOOKUP_LIMIT'
/** TO names another field than FROM. */
export const ERR_QUERY_TO_FIELD = 'ERR_QUERY_TO_FIELD'
/** TO combined with WHERE. */
export const ERR_QUERY_TO_WITH_WHERE = 'ERR_QUERY_TO_WITH_WHERE'
/** The query is longer than {@link MAX_QUERY_LENGTH} characters (or is not a string). */
export const ERR_QUERY_TOO_LONG = 'ERR_QUERY_TOO_LONG'
/** A Statement given as data (over the wire) breaks the shape or rules of ast.ts; see validate.ts. */
export const ERR_QUERY_BAD_STATEMENT = 'ERR_QUERY_BAD_STATEMENT'

/** Every code a {@link QueryError} may carry. */
export type QueryErrorCode =
  | typeof ERR_QUERY_SYNTAX
  | typeof ERR_QUERY_BAD_STRING
  | typeof ERR_QUERY_UNKNOWN_FIELD
  | typeof ERR_QUERY_BAD_KEY
  | typeof ERR_QUERY_BAD_LIMIT
  | typeof ERR_QUERY_DUPLICATE_CLAUSE
  | typeof ERR_QUERY_LOOKUP_LIMIT
  | typeof ERR_QUERY_TO_FIELD
  | typeof ERR_QUERY_TO_WITH_WHERE
  | typeof ERR_QUERY_TOO_LONG
  | typeof ERR_QUERY_BAD_STATEMENT

/**
 * The longest query accepted, in UTF-16 code units. Queries are typed by people or built by
 * programs from a few values; the bound keeps a hostile or runaway input from costing much.
 */
export const MAX_QUERY_LENGTH = 16_384

/** Details of a {@link QueryError}. */
export interface QueryErrorInit {
  /**
   * 1-based column of the offending spot (UTF-16 code units; `text.length + 1` for "at the end");
   * 0 for a Statement checked as data, which has no text.
   */
  column: number
  /** Human-readable things that would have been valid there. @default [] */
  expected?: string[]
  /** A suggestion such as `did you mean WHERE?`. */
  hint?: string
}

/** A malformed query (docs/language.md). Tests and programs should look at `code`, never the message. */
export class QueryError extends WwError {
  declare readonly code: QueryErrorCode
  /** 1-based column of the offending spot, in UTF-16 code units (0: the Statement had no text). */
  readonly column: number
  /** What would have been valid at `column`, human readable (`WHERE`, `a value`, `end of query`). */
  readonly expected: string[]
  /** A suggestion for the user, when there is one. */
  readonly hint?: string

  constructor(code: QueryErrorCode, message: string, init: QueryErrorInit) {
    super(code, message)
    this.name = 'QueryError'
    this.column = init.column
    this.expected = init.expected ?? []
    if (init.hint !== undefined) this.hint = init.hint
  }
}
