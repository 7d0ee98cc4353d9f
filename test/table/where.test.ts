import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Pattern, Predicate, Statement } from '../../src/lang/ast.js'
import { formatStatement, parseQuery, validateStatement } from '../../src/lang/index.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { countRange, rank } from '../../src/table/count.js'
import { comparator, Entry, newTree, probe, LOW, HIGH } from '../../src/table/indexes.js'
import { MATERIALIZE_MAX, planWhere, runWhere } from '../../src/table/plan.js'
import { RoutingTable } from '../../src/table/table.js'

const P = (s: string): string => `12D3KooW${s}`
const PEERS = ['A', 'B', 'AB', 'BA', 'C', 'CA', 'D', 'DB', 'E', 'F', 'G', 'H'].map(P)
const VALUES = ['', 'a', 'ab', 'abc', 'b', 'ba', 'a\uffff', 'x y']
const KEYS = ['region', 'role', 'az']

const arbRecord = fc.record({
  peer: fc.constantFrom(...PEERS),
  server: fc.constantFrom('000000000000000a', '000000000000000b'),
  seq: fc.integer({ min: 1, max: 3 }),
  ttl: fc.constantFrom(5, 1000, 1000, 1000),
  host: fc.constantFrom(...VALUES),
  meta: fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES.filter((v) => v !== '')), { maxKeys: 3 }),
})

type Field = { field: 'host' | 'peer' | 'server' } | { field: 'meta'; key: string }
const arbField: fc.Arbitrary<Field> = fc.oneof(
  fc.constantFrom<Field>({ field: 'host' }, { field: 'peer' }, { field: 'server' }),
  fc.constantFrom(...KEYS, 'nokey').map((key): Field => ({ field: 'meta', key })),
)
const arbPattern: fc.Arbitrary<Pattern> = fc.record({
  value: fc.constantFrom(...VALUES, P('A'), P('B'), P(''), '000000000000000a'),
  prefix: fc.boolean(),
})
const arbPredicate: fc.Arbitrary<Predicate> = fc.oneof(
  fc.record({ f: arbField, p: arbPattern }).map(({ f, p }): Predicate => ({ kind: 'eq', index: { ...f, ...p } })),
  fc.record({ f: arbField, p: arbPattern }).map(({ f, p }): Predicate => ({ kind: 'ne', index: { ...f, ...p } })),
  fc.record({ f: arbField, ps: fc.array(arbPattern, { minLength: 1, maxLength: 4 }) }).map(({ f, ps }): Predicate => ({ kind: 'in', ...f, values: ps })),
)

const fieldOf = (p: Predicate): Field => (p.kind === 'in' ? (p.field === 'meta' ? { field: 'meta', key: p.key! } : { field: p.field }) : p.index.field === 'meta' ? { field: 'meta', key: p.index.key! } : { field: p.index.field })
const same = (a: Field, b: Field): boolean => a.field === b.field && (a.field !== 'meta' || a.key === (b as { key: string }).key)

// Random queries of the new grammar, as text: built as a Statement, printed, parsed back (so
// the parser's canonical form is what runs), and checked by the validator.
const arbQuery: fc.Arbitrary<string> = fc
  .record({
    op: fc.constantFrom('ls', 'ls', 'lookup'),
    where: fc.array(arbPredicate, { minLength: 1, maxLength: 4 }),
    range: fc.option(fc.record({ f: arbField, from: fc.option(arbPattern, { nil: undefined }), to: fc.option(arbPattern, { nil: undefined }) }), { nil: undefined }),
    limit: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    reverse: fc.boolean(),
  })
  .map(({ op, where, range, limit, reverse }) => {
    const s: Statement = { op: op as Statement['op'], selector: { kind: 'all' }, constraints: [], reverse }
    let w = where
    if (range !== undefined && (range.from !== undefined || range.to !== undefined)) {
      w = where.filter((p) => !same(fieldOf(p), range.f))
      if (range.from !== undefined) s.selector = { kind: 'from', index: { ...range.f, value: range.from.value, prefix: false } }
      if (range.to !== undefined) s.constraints.push({ kind: 'to', index: { ...range.f, ...range.to } })
    }
    if (limit !== undefined && op === 'ls') s.constraints.push({ kind: 'limit', n: limit })
    if (w.length > 0) s.where = w
    return formatStatement(validateStatement(JSON.parse(JSON.stringify(s))))
  })

function valueOf(r: RoutingRecord, f: Field): string | undefined {
  if (f.field === 'meta') return Object.hasOwn(r.meta, f.key) ? r.meta[f.key] : undefined
  const v = r[f.field]
  return f.field === 'host' && v === '' ? undefined : v
}
const hit = (x: string | undefined, p: Pattern): boolean => x !== undefined && (p.prefix ? x.startsWith(p.value) : x === p.value)

// The reference, written from docs/language.md alone: filter the live records by every
// condition, sort by the query's order (a record lacking the field first), reverse, cut.
function reference(live: RoutingRecord[], s: Statement): RoutingRecord[] {
  const to = s.constraints.find((c) => c.kind === 'to')
  const preds: Predicate[] = [...(s.selector.kind === 'match' ? [{ kind: 'eq' as const, index: s.selector.index }] : []), ...(s.where ?? [])]
  const order: Field | undefined =
    s.selector.kind === 'from' ? (s.selector.index as Field) : to?.kind === 'to' ? (to.index as Field) : preds[0] !== undefined ? fieldOf(preds[0]) : undefined
  let out = live.filter((r) => {
    if (s.selector.kind === 'from') {
      const x = valueOf(r, s.selector.index as Field)
      if (x === undefined || x < s.selector.index.value) return false
    }
    if (to?.kind === 'to') {
      const x = valueOf(r, to.index as Field)
      if (x === undefined || !(x <= to.index.value || (to.index.prefix && x.startsWith(to.index.value)))) return false
    }
    for (const p of preds) {
      const x = valueOf(r, fieldOf(p))
      const ok = p.kind === 'eq' ? hit(x, p.index) : p.kind === 'ne' ? !hit(x, p.index) : p.values.some((v) => hit(x, v))
      if (!ok) return false
    }
    return true
  })
  out.sort((a, b) => {
    if (order !== undefined) {
      const x = valueOf(a, order)
      const y = valueOf(b, order)
      if (x !== y) return x === undefined ? -1 : y === undefined ? 1 : x < y ? -1 : 1
    }
    return a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0
  })
  if (s.reverse) out.reverse()
  let n = s.op === 'lookup' ? 1 : Infinity
  for (const c of s.constraints) if (c.kind === 'limit') n = Math.min(n, c.n)
  if (n < out.length) out = out.slice(0, n)
  return out
}

function build(ops: { r: RoutingRecord; dt: number }[], wait: number): { table: RoutingTable; live: RoutingRecord[]; now: number } {
  let now = 0
  const table = new RoutingTable({ now: () => now, sweep: false })
  for (const { r, dt } of ops) {
    now += dt
    table.upsert(r)
  }
  now += wait
  const live = PEERS.map((p) => table.get(p)).filter((r): r is RoutingRecord => r !== undefined)
  return { table, live, now }
}

describe('several conditions = filter-and-sort reference (property)', () => {
  it('random tables and random queries of the new grammar: same records, same order, with LIMIT and REVERSE, whichever plan', () => {
    let materialized = 0
    let ordered = 0
    fc.assert(
      fc.property(
        fc.array(fc.record({ r: arbRecord, dt: fc.integer({ min: 0, max: 3 }) }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(arbQuery, { minLength: 1, maxLength: 5 }),
        (ops, wait, queries) => {
          const { table, live } = build(ops, wait)
          const snap = table.snapshot()
          for (const q of queries) {
            const s = parseQuery(q)
            const want = reference(live, s)
            expect([...snap.scan(s)], q).toEqual(want)
            expect([...snap.scan(s)].length, q).toBe(want.length)
            if (s.where !== undefined) {
              // Both plans, forced, give the same answer as the planner's choice.
              const source = { tree: (ref: Parameters<typeof sourceTree>[1]) => sourceTree(snap, ref) }
              for (const prefer of ['ordered', 'materialized'] as const) {
                const c = planWhere(source, s, prefer)
                if (c.plan.kind === 'materialized') materialized++
                else ordered++
                expect([...runWhere(source, c, snap.at, (snap as unknown as { gen: number }).gen, undefined)], `${q} (${prefer})`).toEqual(want)
              }
            }
          }
          table.close()
        },
      ),
      { numRuns: 300 },
    )
    // Both plans ran.
    expect(materialized).toBeGreaterThan(100)
    expect(ordered).toBeGreaterThan(100)
  })

  it('the original form and the same condition in where give identical results', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ r: arbRecord, dt: fc.integer({ min: 0, max: 3 }) }), { maxLength: 40 }), arbField, arbPattern, fc.boolean(), (ops, f, p, reverse) => {
        const { table } = build(ops, 0)
        const snap = table.snapshot()
        const index = { ...f, ...p }
        const old: Statement = { op: 'ls', selector: { kind: 'match', index }, constraints: [], reverse }
        const neu: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse, where: [{ kind: 'eq', index }] }
        expect([...snap.scan(neu)]).toEqual([...snap.scan(old)])
        table.close()
      }),
      { numRuns: 300 },
    )
  })
})

// The snapshot's trees, for running a forced plan (tests only).
function sourceTree(snap: unknown, ref: { field: string; key?: string }): ReturnType<Parameters<typeof planWhere>[0]['tree']> {
  return (snap as { treeOf(ref: unknown): ReturnType<Parameters<typeof planWhere>[0]['tree']> }).treeOf(ref)
}

describe('examples', () => {
  const rec = (p: string, host: string, meta: Record<string, string> = {}): RoutingRecord => ({ peer: P(p), server: '000000000000000a', seq: 1, ttl: 1000, host, meta })
  const t = new RoutingTable({ now: () => 0, sweep: false })
  t.upsert(rec('A', 'web-1', { region: 'us-east-1', role: 'web' }))
  t.upsert(rec('B', 'web-2', { region: 'us-west-2', role: 'web' }))
  t.upsert(rec('C', 'db-1', { region: 'us-east-1', role: 'db' }))
  t.upsert(rec('D', 'web-1', { region: 'eu-west-1' }))
  t.upsert(rec('E', '', { role: 'cache' }))
  const run = (q: string): string[] => [...t.snapshot().scan(parseQuery(q))].map((r) => r.peer.slice(8))

  it('!= is a real negation: records lacking the field first, then the others by it', () => {
    // Before, this was the meta key "region!" and returned nothing.
    expect(run('ls WHERE region!=us-east-1')).toEqual(['E', 'D', 'B'])
    expect(run('ls WHERE region!=us-east-1 REVERSE')).toEqual(['B', 'D', 'E'])
    expect(run('ls WHERE region!=*')).toEqual(['E'])
    expect(run('ls WHERE region!=us*')).toEqual(['E', 'D'])
  })
  it('AND, IN, and FROM/TO with WHERE on another field', () => {
    expect(run('ls WHERE role=web AND region=us*')).toEqual(['A', 'B'])
    expect(run('ls WHERE role IN (db, cache, nope)')).toEqual(['E', 'C'])
    expect(run('ls WHERE host IN (web-2, db*) LIMIT 1')).toEqual(['C'])
    expect(run('ls FROM host=d TO host=web-1 WHERE region=us*')).toEqual(['C', 'A'])
    expect(run('ls WHERE role=web TO host=web-1')).toEqual(['A'])
  })
})

describe('range counts', () => {
  it('rank and countRange agree with a walk on trees built, edited and cloned at random', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 400 })), { minLength: 150, maxLength: 600, size: "max" }),
        fc.array(fc.integer({ min: 0, max: 410 }), { minLength: 1, maxLength: 20 }),
        (ops, probes) => {
          const ref = { field: 'host' as const }
          const tree = newTree(comparator(ref))
          const entries = new Map<number, Entry>()
          const clones = []
          for (const [add, n] of ops) {
            if (add && !entries.has(n)) {
              const e = new Entry({ peer: P(String(n)), server: 's', seq: 1, ttl: 1, host: `h${String(n).padStart(3, '0')}`, meta: {} }, 1)
              entries.set(n, e)
              tree.set(e, undefined)
            } else if (!add && entries.has(n)) {
              tree.delete(entries.get(n)!)
              entries.delete(n)
            }
            if (n % 97 === 0) clones.push(tree.clone())
          }
          for (const t of [tree, ...clones]) {
            const keys = [...t.keys()]
            for (const n of probes) {
              const k = probe(ref, `h${String(n).padStart(3, '0')}`, LOW)
              const cmp = comparator(ref)
              expect(rank(t, k)).toBe(keys.filter((e) => cmp(e, k) < 0).length)
              const hi = probe(ref, `h${String(n + 37).padStart(3, '0')}`, HIGH)
              expect(countRange(t, k, hi)).toBe(keys.filter((e) => cmp(e, k) >= 0 && cmp(e, hi) < 0).length)
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('planner', () => {
  // 3000 records: every host distinct, role web on most, db on a few.
  const t = new RoutingTable({ now: () => 0, sweep: false })
  for (let i = 0; i < 3000; i++) {
    t.upsert({ peer: P(`p${String(i).padStart(5, '0').replace(/0/g, 'z')}`), server: '000000000000000a', seq: 1, ttl: 1000, host: `h${String(i).padStart(5, '0')}`, meta: { role: i % 300 === 0 ? 'db' : 'web', zone: `z${i % 3}` } })
  }
  const snap = t.snapshot()
  const source = { tree: (ref: { field: string; key?: string }) => sourceTree(snap, ref) }

  it('walks the selective predicate’s index and sorts, when the first predicate is not selective', () => {
    const c = planWhere(source, parseQuery('ls WHERE host=h* AND role=db'))
    expect(c.plan).toMatchObject({ kind: 'materialized', via: { field: 'meta', key: 'role' }, estimate: 10, order: { field: 'host' } })
    expect(c.plan.orderedEstimate).toBe(3000)
  })
  it('keeps the ordered walk when the first predicate is the selective one, or LIMIT stops it early', () => {
    expect(planWhere(source, parseQuery('ls WHERE role=db AND host=h*')).plan).toMatchObject({ kind: 'ordered', via: { field: 'meta', key: 'role' } })
    expect(planWhere(source, parseQuery('ls WHERE host=h* AND zone=z1 LIMIT 3')).plan.kind).toBe('ordered')
  })
  it('IN is a merge of index ranges, in order', () => {
    const c = planWhere(source, parseQuery('ls WHERE host IN (h00002, h00001*, h0000*)'))
    expect(c.plan.ranges.length).toBe(1) // h0000* takes in the others
    const d = planWhere(source, parseQuery('ls WHERE host IN (h00009, h00002, h00005)'))
    expect(d.plan.ranges.length).toBe(3)
    expect([...snap.scan(parseQuery('ls WHERE host IN (h00009, h00002, h00005)'))].map((r) => r.host)).toEqual(['h00002', 'h00005', 'h00009'])
  })
  it(`materializes at most ${MATERIALIZE_MAX} entries`, () => {
    // zone=z1 holds 1000 entries, under the bound; a bound of 500 would refuse it.
    expect(planWhere(source, parseQuery('ls WHERE host=h* AND zone=z1')).plan.kind).toBe('materialized')
    expect(MATERIALIZE_MAX).toBeGreaterThanOrEqual(1000)
  })
})

describe('count and explain', () => {
  const t = new RoutingTable({ now: () => 0, sweep: false })
  for (let i = 0; i < 500; i++) {
    t.upsert({ peer: P(`q${String(i).padStart(4, '0').replace(/0/g, 'z')}`), server: '000000000000000a', seq: 1, ttl: 1000, host: `web-${i}`, meta: { role: i % 100 === 0 ? 'db' : 'web' } })
  }
  it('count is the number of records the query yields, LIMIT included', () => {
    for (const q of ['ls', 'ls WHERE host=web-1*', 'ls WHERE role=db', 'ls WHERE role!=db AND host=web-2*', 'ls WHERE host=web* LIMIT 7', 'lookup WHERE role=db']) {
      expect(t.count(q), q).toBe([...t.snapshot().scan(parseQuery(q))].length)
    }
    expect(t.count('ls WHERE role=db')).toBe(5)
  })
  it('explain names the index, the ranges, estimated and actual rows', () => {
    const e = t.explain('ls WHERE host=web-1*')
    expect(e).toMatchObject({ plan: 'range', index: 'host', order: 'host', ranges: ['["web-1", "web-2")'], estimatedRows: 111, actualRows: 111, visitedRows: 111 })
    expect(e.ms).toBeGreaterThanOrEqual(0)
    const m = t.explain('ls WHERE host=web* AND role=db')
    expect(m).toMatchObject({ plan: 'materialized', index: 'meta.role', order: 'host', ranges: ['["db", "db"⁺)'], estimatedRows: 5, actualRows: 5, visitedRows: 5 })
    const o = t.explain('ls WHERE role IN (db, x) AND host=web*')
    expect(o).toMatchObject({ plan: 'ordered', index: 'meta.role', ranges: ['["db", "db"⁺)', '["x", "x"⁺)'], actualRows: 5 })
    expect(t.explain('ls WHERE role!=web')).toMatchObject({ absentFirst: true, ranges: ['[-∞, "web")', '["web"⁺, +∞)'], actualRows: 5 })
  })
})
