/**
 * Checks a Statement that arrived as data (from the wire, from a program) rather than from
 * parseQuery: a node must not trust a client's Statement. Every rule the parser enforces on
 * text is enforced here on the structure, and the result is a fresh plain copy, so nothing
 * of the input (extra properties, prototypes, getters) survives into the engine.
 *
 * This is the one Statement validator: the node runs it on every Statement from the wire
 * (src/proto/wire/statement.ts), `RoutingTable.query`/`lookup` on a Statement object, and the
 * table's engine trusts what it returned (it has no rules of its own).
 */
import type { Constraint, FieldName, Index, Pattern, Predicate, Selector, Statement } from './ast.js'
import { MAX_LIMIT } from './build.js'
import { ERR_QUERY_BAD_STATEMENT, MAX_QUERY_LENGTH, QueryError } from './errors.js'

const FIELDS: readonly FieldName[] = ['host', 'peer', 'server', 'meta']

function bad(path: string, why: string): never {
  // column 0: the statement did not come from text, there is no column to point at.
  throw new QueryError(ERR_QUERY_BAD_STATEMENT, `invalid statement: ${path} ${why}`, { column: 0 })
}

function plainObject(v: unknown, path: string, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'must be an object')
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto !== Object.prototype && proto !== null) bad(path, 'must be a plain object')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!keys.includes(k) && !optional.includes(k)) bad(path, `has an unknown property ${JSON.stringify(k.slice(0, 40))}`)
  }
  for (const k of keys) if (!Object.hasOwn(o, k)) bad(path, `lacks ${k}`)
  return o
}

function text(v: unknown, path: string): string {
  if (typeof v !== 'string') bad(path, 'must be a string')
  if (v.length > MAX_QUERY_LENGTH) bad(path, `is longer than ${MAX_QUERY_LENGTH} characters`)
  return v
}

function index(v: unknown, path: string): Index {
  const o = plainObject(v, path, ['field', 'value', 'prefix'], ['key'])
  const field = o.field
  if (typeof field !== 'string' || !FIELDS.includes(field as FieldName)) bad(`${path}.field`, `must be one of ${FIELDS.join(', ')}`)
  const value = text(o.value, `${path}.value`)
  if (typeof o.prefix !== 'boolean') bad(`${path}.prefix`, 'must be a boolean')
  // A nil key (null: MessagePack nil; undefined) means "not given", as absent does.
  const given = o.key !== undefined && o.key !== null
  if (field === 'meta') {
    if (!given) bad(path, 'lacks key (required for field meta)')
    const key = text(o.key, `${path}.key`)
    if (key === '') bad(`${path}.key`, 'must not be empty')
    if (key.includes('=')) bad(`${path}.key`, 'must not contain "="')
    return { field: 'meta', key, value, prefix: o.prefix }
  }
  if (given) bad(`${path}.key`, `must be absent (or nil) for field ${field}`)
  return { field: field as FieldName, value, prefix: o.prefix }
}

function selector(v: unknown): Selector {
  const kind = (v as { kind?: unknown } | null)?.kind
  if (kind === 'all') {
    plainObject(v, 'selector', ['kind'])
    return { kind: 'all' }
  }
  if (kind === 'match' || kind === 'from') {
    const o = plainObject(v, 'selector', ['kind', 'index'])
    const i = index(o.index, 'selector.index')
    // FROM f=v* means FROM f=v (as the parser has it).
    return kind === 'match' ? { kind, index: i } : { kind, index: { ...i, prefix: false } }
  }
  return bad('selector.kind', 'must be all, match or from')
}

/**
 * Returns a fresh, plain copy of `value` when it is a valid Statement; throws QueryError
 * ERR_QUERY_BAD_STATEMENT (column 0) naming the offending part otherwise. FROM's prefix flag
 * is dropped, as the parser does.
 */
export function validateStatement(value: unknown): Statement {
  const o = plainObject(value, 'statement', ['op', 'selector', 'constraints', 'reverse'], ['where'])
  const op = o.op
  if (op !== 'ls' && op !== 'lookup') bad('op', 'must be ls or lookup')
  const sel = selector(o.selector)
  if (typeof o.reverse !== 'boolean') bad('reverse', 'must be a boolean')
  if (!Array.isArray(o.constraints)) bad('constraints', 'must be an array')
  if (o.constraints.length > 2) bad('constraints', 'has more than one TO and one LIMIT')
  const constraints: Constraint[] = []
  const seen = new Set<string>()
  o.constraints.forEach((c: unknown, n: number) => {
    const path = `constraints[${n}]`
    const kind = (c as { kind?: unknown } | null)?.kind
    if (kind !== 'limit' && kind !== 'to') bad(`${path}.kind`, 'must be limit or to')
    if (seen.has(kind)) bad(path, `repeats ${kind}`)
    seen.add(kind)
    if (kind === 'limit') {
      const l = plainObject(c, path, ['kind', 'n'])
      if (typeof l.n !== 'number' || !Number.isInteger(l.n) || l.n < 1 || l.n > MAX_LIMIT) {
        bad(`${path}.n`, `must be a whole number from 1 to ${MAX_LIMIT}`)
      }
      if (op === 'lookup') bad(path, 'LIMIT is not allowed with lookup')
      constraints.push({ kind: 'limit', n: l.n })
    } else {
      const t = plainObject(c, path, ['kind', 'index'])
      const i = index(t.index, `${path}.index`)
      if (sel.kind === 'match') bad(path, 'TO is not allowed with a match selector')
      if (sel.kind === 'from' && (sel.index.field !== i.field || sel.index.key !== i.key)) {
        bad(`${path}.index`, 'must name the same field as the from selector')
      }
      constraints.push({ kind: 'to', index: i })
    }
  })
  const out: Statement = { op, selector: sel, constraints, reverse: o.reverse }
  if (Object.hasOwn(o, 'where')) out.where = predicates(o.where, sel, constraints)
  return out
}

/** Most predicates in `where`: more than a query of {@link MAX_QUERY_LENGTH} characters can hold. */
export const MAX_PREDICATES = 4096
/** Most values in one `IN` list: more than a query of {@link MAX_QUERY_LENGTH} characters can hold. */
export const MAX_IN_VALUES = 8192

function pattern(v: unknown, path: string): Pattern {
  const o = plainObject(v, path, ['value', 'prefix'])
  const value = text(o.value, `${path}.value`)
  if (typeof o.prefix !== 'boolean') bad(`${path}.prefix`, 'must be a boolean')
  return { value, prefix: o.prefix }
}

function predicate(v: unknown, path: string): Predicate {
  const kind = (v as { kind?: unknown } | null)?.kind
  if (kind === 'eq' || kind === 'ne') {
    const o = plainObject(v, path, ['kind', 'index'])
    return { kind, index: index(o.index, `${path}.index`) }
  }
  if (kind !== 'in') bad(`${path}.kind`, 'must be eq, ne or in')
  const o = plainObject(v, path, ['kind', 'field', 'values'], ['key'])
  // The field and key follow the rules of an index: reuse them with a dummy value.
  const f = index({ field: o.field, ...(Object.hasOwn(o, 'key') ? { key: o.key } : {}), value: '', prefix: false }, path)
  if (!Array.isArray(o.values) || o.values.length === 0) bad(`${path}.values`, 'must be a non-empty array')
  if (o.values.length > MAX_IN_VALUES) bad(`${path}.values`, `has more than ${MAX_IN_VALUES} values`)
  const values = o.values.map((x: unknown, n: number) => pattern(x, `${path}.values[${n}]`))
  return f.field === 'meta' ? { kind: 'in', field: 'meta', key: f.key!, values } : { kind: 'in', field: f.field, values }
}

// `where`: a non-empty list; never with a match selector (the parser puts a lone `f=v` in the
// selector and everything else here); no predicate on the field FROM/TO bound.
function predicates(v: unknown, sel: Selector, constraints: Constraint[]): Predicate[] {
  if (!Array.isArray(v) || v.length === 0) bad('where', 'must be a non-empty array')
  if (v.length > MAX_PREDICATES) bad('where', `has more than ${MAX_PREDICATES} predicates`)
  if (sel.kind === 'match') bad('where', 'is not allowed with a match selector (put the match into where)')
  const to = constraints.find((c) => c.kind === 'to')
  const range = sel.kind === 'from' ? sel.index : to?.kind === 'to' ? to.index : undefined
  return v.map((x: unknown, n: number) => {
    const p = predicate(x, `where[${n}]`)
    const f = p.kind === 'in' ? p : p.index
    if (range !== undefined && f.field === range.field && f.key === range.key) {
      bad(`where[${n}]`, 'must not name the field of FROM/TO')
    }
    return p
  })
}
