/**
 * The node's check of a Statement received from the wire. The client parses queries itself
 * (a syntax error never reaches the wire), so the node only sees the plain-data AST
 * (src/lang/ast.ts) — but that data comes from an untrusted client and the engine trusts its
 * input. The rules are the query language's own (`validateStatement` of src/lang/); here a
 * violation becomes the protocol's ERR_BAD_QUERY, which closes the connection.
 */
import { WwError } from '../../errors.js'
import type { Statement } from '../../lang/ast.js'
import { validateStatement as checkStatement, MAX_QUERY_LENGTH } from '../../lang/index.js'

/** A received Statement broke the shape of src/lang/ast.ts (the message names the spot). */
export const ERR_BAD_QUERY = 'ERR_BAD_QUERY'

/** Longest string (value, key, prefix) accepted in query arguments, in UTF-16 code units. */
export const MAX_QUERY_VALUE = MAX_QUERY_LENGTH

/** Returns a fresh, checked Statement built from `v`, or throws WwError ERR_BAD_QUERY. */
export function validateStatement(v: unknown): Statement {
  try {
    return checkStatement(v)
  } catch (err) {
    throw new WwError(ERR_BAD_QUERY, `bad query: ${(err as Error).message}`, { cause: err })
  }
}
