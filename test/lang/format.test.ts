import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Constraint, Index, Predicate, Selector, Statement } from '../../src/lang/ast.js'
import { formatStatement, MAX_LIMIT, parseQuery } from '../../src/lang/index.js'
import { formatField, needsQuotes, quote } from '../../src/lang/format.js'

describe('formatStatement', () => {
  it('prints the canonical text', () => {
    expect(formatStatement(parseQuery(''))).toBe('ls')
    expect(formatStatement(parseQuery('lookup where peer=x'))).toBe('lookup WHERE peer=x')
    expect(formatStatement(parseQuery('ls WHERE host=web*  LIMIT 10'))).toBe('ls WHERE host=web* LIMIT 10')
    expect(formatStatement(parseQuery('from host=a reverse to host=m*'))).toBe('ls FROM host=a TO host=m* REVERSE')
    expect(formatStatement(parseQuery('WHERE host=*'))).toBe('ls WHERE host=*')
    expect(formatStatement(parseQuery('WHERE host=""'))).toBe('ls WHERE host=""')
    expect(formatStatement(parseQuery('WHERE k="a b"*'))).toBe('ls WHERE k="a b"*')
  })

  it('quotes values and keys only when needed, escaping " and \\', () => {
    expect(needsQuotes('us-east-1')).toBe(false)
    expect(needsQuotes('a\\b')).toBe(false)
    for (const s of ['', 'a b', 'a=b', 'a"b', 'a*', '\t']) expect(needsQuotes(s)).toBe(true)
    expect(quote('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"')
  })

  it('writes meta keys bare unless they collide', () => {
    expect(formatField({ field: 'meta', key: 'region' })).toBe('region')
    expect(formatField({ field: 'host' })).toBe('host')
    for (const key of ['host', 'peer', 'server', 'seq', 'ttl', 'limit', 'Where', 'LS', 'meta.x', 'meta.']) {
      expect(formatField({ field: 'meta', key })).toBe(`meta.${key}`)
    }
    expect(formatField({ field: 'meta', key: 'a b' })).toBe('meta."a b"')
  })
})

// Random valid Statements: strings drawn from a mix of plain and troublesome characters.
const troublesome = fc.constantFrom(
  ' ', '=', '"', '*', '\\', '.', 'meta.', 'LS', 'to', 'host', '\t', '\u00a0', 'é', '😀',
  '!', '!=', '<', '>', '(', ')', ',', 'in', 'IN (', 'and', 'AND',
)
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.array(fc.oneof(troublesome, fc.string({ maxLength: 3 })), { maxLength: 5 }).map((a) => a.join('')),
  fc.constantFrom('host', 'peer', 'server', 'seq', 'ttl', 'limit', 'TO', 'meta', 'meta.', 'meta.host'),
)
const key = text.filter((k) => k !== '' && !k.includes('='))
const index: fc.Arbitrary<Index> = fc.oneof(
  fc.record({ field: fc.constantFrom('host' as const, 'peer' as const, 'server' as const), value: text, prefix: fc.boolean() }),
  fc.record({ field: fc.constant('meta' as const), key, value: text, prefix: fc.boolean() }),
)
const statement: fc.Arbitrary<Statement> = fc
  .record({
    op: fc.constantFrom('ls' as const, 'lookup' as const),
    sel: fc.constantFrom('all', 'match', 'from'),
    index,
    to: fc.option(fc.record({ value: text, prefix: fc.boolean() }), { nil: undefined }),
    limit: fc.option(fc.integer({ min: 1, max: MAX_LIMIT }), { nil: undefined }),
    toIndex: index,
    limitFirst: fc.boolean(),
    reverse: fc.boolean(),
  })
  .map((r) => {
    const selector: Selector =
      r.sel === 'all'
        ? { kind: 'all' }
        : r.sel === 'match'
          ? { kind: 'match', index: r.index }
          : { kind: 'from', index: { ...r.index, prefix: false } }
    const constraints: Constraint[] = []
    // TO stands alone or follows FROM on the same field; never with WHERE.
    if (r.to !== undefined && selector.kind !== 'match') {
      const base = selector.kind === 'from' ? selector.index : r.toIndex
      constraints.push({ kind: 'to', index: { ...base, value: r.to.value, prefix: r.to.prefix } })
    }
    if (r.limit !== undefined && r.op === 'ls') {
      const c: Constraint = { kind: 'limit', n: r.limit }
      if (r.limitFirst) constraints.unshift(c)
      else constraints.push(c)
    }
    // fast-check builds records without a prototype; the parser returns plain objects.
    return JSON.parse(JSON.stringify({ op: r.op, selector, constraints, reverse: r.reverse })) as Statement
  })

const predicate: fc.Arbitrary<Predicate> = fc.oneof(
  index.map((i): Predicate => ({ kind: 'eq', index: i })),
  index.map((i): Predicate => ({ kind: 'ne', index: i })),
  fc
    .record({ i: index, values: fc.array(fc.record({ value: text, prefix: fc.boolean() }), { minLength: 1, maxLength: 4 }) })
    .map(({ i, values }): Predicate => (i.field === 'meta' ? { kind: 'in', field: 'meta', key: i.key!, values } : { kind: 'in', field: i.field, values })),
)

// Statements of the new grammar: the parser's canonical form (a lone `f=v` with no range is
// the original match selector, never a one-element where).
const statement2: fc.Arbitrary<Statement> = fc
  .record({ s: statement, where: fc.array(predicate, { minLength: 1, maxLength: 4 }) })
  .map(({ s, where }) => {
    if (s.selector.kind === 'match') return s
    const to = s.constraints.find((c) => c.kind === 'to')
    const range = s.selector.kind === 'from' ? s.selector.index : to?.kind === 'to' ? to.index : undefined
    const fieldOf = (p: Predicate) => (p.kind === 'in' ? p : p.index)
    const w = where.filter((p) => range === undefined || fieldOf(p).field !== range.field || fieldOf(p).key !== range.key)
    if (w.length === 0) return s
    const out = w.length === 1 && w[0]!.kind === 'eq' && range === undefined ? { ...s, selector: { kind: 'match', index: w[0]!.index } } : { ...s, where: w }
    return JSON.parse(JSON.stringify(out)) as Statement
  })

describe('round trip', () => {
  it('parseQuery(formatStatement(s)) deep-equals s', () => {
    fc.assert(
      fc.property(statement, (s) => {
        expect(parseQuery(formatStatement(s))).toStrictEqual(s)
      }),
      { numRuns: 3000 },
    )
  })

  it('round-trips the new grammar: AND, !=, IN', () => {
    fc.assert(
      fc.property(statement2, (s) => {
        expect(parseQuery(formatStatement(s))).toStrictEqual(s)
      }),
      { numRuns: 3000 },
    )
    expect(formatStatement(parseQuery('where a!=x* and b in (c,"d e",*) from host=a'))).toBe('ls WHERE a!=x* AND b IN (c, "d e", *) FROM host=a')
  })

  it('formatStatement(parseQuery(q)) is a fixed point', () => {
    for (const q of ['ls WHERE region=us-east-1', 'lookup WHERE meta."a b"="c\\"d"*', 'LIMIT 3 REVERSE TO zone=b']) {
      const once = formatStatement(parseQuery(q))
      expect(formatStatement(parseQuery(once))).toBe(once)
    }
  })
})
