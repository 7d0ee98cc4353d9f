/**
 * Strict shape check of a Statement received from the wire. The client parses queries
 * itself (a syntax error never reaches the wire), so the node only sees the plain-data AST
 * (src/lang/ast.ts) — but that data comes from an untrusted client, and the engine trusts its
 * input, so everything the grammar would have ruled out is ruled out here too. A bad
 * Statement is answered with ERR_BAD_QUERY naming the field, and the connection is closed.
 */
import { WwError } from '../errors.js'
import type { Constraint, Index, Selector, Statement } from '../lang/ast.js'

/** A received Statement broke the shape of src/lang/ast.ts (the message names the spot). */
export const ERR_BAD_QUERY = 'ERR_BAD_QUERY'

/** Longest value or meta key accepted in a wire Statement, in UTF-16 code units. */
export const MAX_QUERY_VALUE = 16_384
/** Largest LIMIT accepted (as the parser's). */
export const MAX_LIMIT = 2 ** 31 - 1

const FIELDS = new Set(['host', 'peer', 'server', 'meta'])

function bad(where: string, what: string): WwError {
  return new WwError(ERR_BAD_QUERY, `bad query: ${where}: ${what}`)
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date)
}

function index(v: unknown, where: string): Index {
  if (!isMap(v)) throw bad(where, 'expected a map {field, key?, value, prefix}')
  const { field, key, value, prefix } = v
  if (typeof field !== 'string' || !FIELDS.has(field)) throw bad(`${where}.field`, 'expected host, peer, server or meta')
  if (typeof value !== 'string' || value.length > MAX_QUERY_VALUE) throw bad(`${where}.value`, `expected a string of at most ${MAX_QUERY_VALUE} characters`)
  if (typeof prefix !== 'boolean') throw bad(`${where}.prefix`, 'expected a boolean')
  if (field === 'meta') {
    if (typeof key !== 'string' || key.length === 0 || key.includes('=') || key.length > MAX_QUERY_VALUE) {
      throw bad(`${where}.key`, "expected a non-empty meta key without '='")
    }
    return { field, key, value, prefix }
  }
  if (key !== undefined && key !== null) throw bad(`${where}.key`, `only a meta index has a key, not ${field}`)
  return { field: field as Index['field'], value, prefix }
}

function sameIndex(a: Index, b: Index): boolean {
  return a.field === b.field && a.key === b.key
}

/** Returns a fresh, checked Statement built from `v`, or throws ERR_BAD_QUERY. */
export function validateStatement(v: unknown): Statement {
  if (!isMap(v)) throw bad('query', 'expected a map {op, selector, constraints, reverse}')
  const { op, selector, constraints, reverse } = v
  if (op !== 'ls' && op !== 'lookup') throw bad('op', "expected 'ls' or 'lookup'")
  if (typeof reverse !== 'boolean') throw bad('reverse', 'expected a boolean')
  if (!isMap(selector)) throw bad('selector', 'expected a map {kind, index?}')
  let sel: Selector
  switch (selector.kind) {
    case 'all':
      sel = { kind: 'all' }
      break
    case 'match':
    case 'from':
      sel = { kind: selector.kind, index: index(selector.index, 'selector.index') }
      break
    default:
      throw bad('selector.kind', "expected 'all', 'match' or 'from'")
  }
  if (!Array.isArray(constraints) || constraints.length > 2) throw bad('constraints', 'expected an array of at most 2 constraints')
  const out: Constraint[] = []
  const seen = new Set<string>()
  constraints.forEach((c: unknown, i) => {
    const where = `constraints[${i}]`
    if (!isMap(c)) throw bad(where, 'expected a map {kind, …}')
    if (c.kind !== 'limit' && c.kind !== 'to') throw bad(`${where}.kind`, "expected 'limit' or 'to'")
    if (seen.has(c.kind)) throw bad(where, `${c.kind} given twice`)
    seen.add(c.kind)
    if (c.kind === 'limit') {
      if (op === 'lookup') throw bad(where, 'lookup takes no limit')
      const n = c.n
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw bad(`${where}.n`, `expected a whole number from 1 to ${MAX_LIMIT}`)
      out.push({ kind: 'limit', n })
    } else {
      const ix = index(c.index, `${where}.index`)
      if (sel.kind === 'match') throw bad(where, 'to cannot be combined with a match selector')
      if (sel.kind === 'from' && !sameIndex(sel.index, ix)) throw bad(where, 'to must name the same field as from')
      out.push({ kind: 'to', index: ix })
    }
  })
  return { op, selector: sel, constraints: out, reverse }
}
