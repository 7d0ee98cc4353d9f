import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ValuesIndex } from '../../src/api.js'
import type { Constraint, Index, Selector, Statement } from '../../src/lang/ast.js'
import { validateStatement } from '../../src/lang/index.js'
import { execute, planStatement } from '../../src/table/engine.js'
import { type BTree, comparator, Entry, newTree, prefixEnd } from '../../src/table/indexes.js'
import { compareVersion, type RoutingRecord } from '../../src/record/record.js'
import { RoutingTable } from '../../src/table/table.js'

const P = (s: string): string => `12D3KooW${s}`
const S1 = '0000000000000001'

function rec(p: string, host: string, meta: Record<string, string> = {}, server = S1): RoutingRecord {
  return { peer: P(p), server, seq: 1, ttl: 1000, host, meta }
}

function st(selector: Selector, constraints: Constraint[] = [], reverse = false, op: Statement['op'] = 'ls'): Statement {
  return { op, selector, constraints, reverse }
}
const idx = (field: Index['field'], value: string, prefix = false, key?: string): Index => (field === 'meta' ? { field, key, value, prefix } : { field, value, prefix })
const where = (i: Index): Selector => ({ kind: 'match', index: i })
const from = (i: Index): Selector => ({ kind: 'from', index: i })
const to = (i: Index): Constraint => ({ kind: 'to', index: i })
const limit = (n: number): Constraint => ({ kind: 'limit', n })
const ALL: Selector = { kind: 'all' }

// A small fixed table: hosts share prefixes, one record has no host, meta keys are partial.
function fixture(): RoutingTable {
  const t = new RoutingTable({ now: () => 0, sweep: false })
  t.upsert(rec('A', 'web-1', { region: 'us-east-1', role: 'web' }))
  t.upsert(rec('B', 'web-2', { region: 'us-west-2', role: 'web' }))
  t.upsert(rec('C', 'db-1', { region: 'us-east-1', role: 'db' }))
  t.upsert(rec('D', 'web-1', { region: 'eu-west-1' }))
  t.upsert(rec('E', '', { role: 'cache' }))
  t.upsert(rec('F', 'web-10', {}))
  return t
}
const run = (t: RoutingTable, s: Statement): string[] => [...t.snapshot().scan(s)].map((r) => r.peer.slice(8))

describe('query forms', () => {
  const t = fixture()
  it('all: every record by peer; REVERSE flips it', () => {
    expect(run(t, st(ALL))).toEqual(['A', 'B', 'C', 'D', 'E', 'F'])
    expect(run(t, st(ALL, [], true))).toEqual(['F', 'E', 'D', 'C', 'B', 'A'])
  })
  it('WHERE exact, ties by peer; meta by key; missing field never matches', () => {
    expect(run(t, st(where(idx('host', 'web-1'))))).toEqual(['A', 'D'])
    expect(run(t, st(where(idx('host', 'web-1')), [], true))).toEqual(['D', 'A'])
    expect(run(t, st(where(idx('meta', 'us-east-1', false, 'region'))))).toEqual(['A', 'C'])
    expect(run(t, st(where(idx('host', ''))))).toEqual([]) // empty host is absent, not a value
    expect(run(t, st(where(idx('meta', 'x', false, 'nokey'))))).toEqual([])
  })
  it('WHERE prefix orders by value then peer; f=* is "present"', () => {
    expect(run(t, st(where(idx('host', 'web', true))))).toEqual(['A', 'D', 'F', 'B'])
    expect(run(t, st(where(idx('host', 'web', true)), [], true))).toEqual(['B', 'F', 'D', 'A'])
    expect(run(t, st(where(idx('host', '', true))))).toEqual(['C', 'A', 'D', 'F', 'B'])
    expect(run(t, st(where(idx('meta', '', true, 'role'))))).toEqual(['E', 'C', 'A', 'B'])
    expect(run(t, st(where(idx('peer', P('A'), true))))).toEqual(['A'])
    expect(run(t, st(where(idx('peer', P(''), true)), [limit(3)], true))).toEqual(['F', 'E', 'D'])
  })
  it('FROM runs to the end of the index; TO stops after the last value ≤ v', () => {
    expect(run(t, st(from(idx('host', 'web-1'))))).toEqual(['A', 'D', 'F', 'B'])
    expect(run(t, st(from(idx('host', 'web-1')), [to(idx('host', 'web-1'))]))).toEqual(['A', 'D'])
    expect(run(t, st(from(idx('host', 'web-1')), [to(idx('host', 'web-1', true))]))).toEqual(['A', 'D', 'F'])
    expect(run(t, st(from(idx('host', 'a')), [to(idx('host', 'web-1', true))], true))).toEqual(['F', 'D', 'A', 'C'])
    expect(run(t, st(ALL, [to(idx('host', 'web-1'))]))).toEqual(['C', 'A', 'D'])
    expect(run(t, st(ALL, [to(idx('meta', 'us-east-1', false, 'region'))], true))).toEqual(['C', 'A', 'D'])
    expect(run(t, st(from(idx('host', 'x'))))).toEqual([])
    expect(run(t, st(from(idx('host', 'z')), [to(idx('host', 'a'))]))).toEqual([])
  })
  it('LIMIT takes the first n of the final order; LOOKUP the first one', () => {
    expect(run(t, st(where(idx('host', 'web', true)), [limit(2)]))).toEqual(['A', 'D'])
    expect(run(t, st(where(idx('host', 'web', true)), [limit(2)], true))).toEqual(['B', 'F'])
    expect(run(t, st(ALL, [], true, 'lookup'))).toEqual(['F'])
    expect(run(t, st(where(idx('host', 'nope')), [], false, 'lookup'))).toEqual([])
  })
  it('each record at most once, even when its values repeat across indexes', () => {
    const all = run(t, st(where(idx('host', '', true))))
    expect(new Set(all).size).toBe(all.length)
  })
})

describe('meta keys named like Object.prototype members', () => {
  it('are plain keys: indexed, matched and listed as such; absent ones match nothing', () => {
    const t = new RoutingTable({ now: () => 0, sweep: false })
    for (const [p, v] of [['A', 'x'], ['B', 'y'], ['C', 'x']] as const) {
      t.upsert(JSON.parse(`{"peer":"${P(p)}","server":"${S1}","seq":1,"ttl":1000,"host":"","meta":{"hasOwnProperty":"${v}","constructor":"c"}}`))
    }
    expect(run(t, st(where(idx('meta', 'x', false, 'hasOwnProperty'))))).toEqual(['A', 'C'])
    expect(run(t, st(where(idx('meta', '', true, 'constructor'))))).toEqual(['A', 'B', 'C'])
    expect(run(t, st(where(idx('meta', '', true, 'toString'))))).toEqual([])
    const s = t.snapshot()
    expect(s.values({ field: 'meta' })).toEqual(['constructor', 'hasOwnProperty'])
    expect(s.values({ field: 'meta', key: 'hasOwnProperty' })).toEqual(['x', 'y'])
    expect(s.values({ field: 'meta', key: 'valueOf' })).toEqual([])
    expect(run(t, st(where(idx('meta', '', true, '__proto__'))))).toEqual([])
  })
})

describe('plan', () => {
  it('prefix bound: TO f=v* ends before the least string above every v… (U+FFFF carries)', () => {
    expect(prefixEnd('ab')).toBe('ac')
    expect(prefixEnd('a\uffff')).toBe('b')
    expect(prefixEnd('\uffff\uffff')).toBeUndefined()
    expect(prefixEnd('')).toBeUndefined()
    const p = planStatement(st(ALL, [to(idx('host', 'a\uffff', true))]))
    expect(p.ref).toEqual({ field: 'host' })
    expect(p.hi?.h).toBe('b')
  })
  it('FROM f=v* is FROM f=v (every value starting with v is ≥ v)', () => {
    expect(planStatement(st(from(idx('host', 'w', true))))).toEqual(planStatement(st(from(idx('host', 'w')))))
  })
})

describe('laziness', () => {
  // Counts index entries pulled, so the test sees how far the walk went.
  function counting(tree: BTree<Entry, undefined>): { source: { tree: () => BTree<Entry, undefined> }; pulled: () => number } {
    let n = 0
    const wrap = <T>(it: IterableIterator<T>): IterableIterator<T> => {
      const w: IterableIterator<T> = {
        next: () => {
          n++
          return it.next()
        },
        [Symbol.iterator]: () => w,
      }
      return w
    }
    const proxy = new Proxy(tree, {
      get(target, prop) {
        if (prop === 'keys') return (k?: Entry) => wrap(target.keys(k))
        if (prop === 'entriesReversed') return (k?: Entry, a?: unknown[], s?: boolean) => wrap(target.entriesReversed(k, a as (Entry | undefined)[], s))
        return Reflect.get(target, prop, target) as unknown
      },
    })
    return { source: { tree: () => proxy }, pulled: () => n }
  }

  // A host index built the way the table builds it: one entry per record, the entry as key.
  function hostTree(count: number): BTree<Entry, undefined> {
    const tree = newTree(comparator({ field: 'host' }))
    for (let i = 0; i < count; i++) tree.set(new Entry(rec(`p${i}`.replace(/0/g, 'z'), `h${String(i).padStart(5, '9')}`), 1000), undefined)
    return tree
  }
  it('the first record comes after O(1) pulls, forward and reverse, whatever the size', () => {
    for (const size of [100, 5000]) {
      const c = counting(hostTree(size))
      const g = execute(c.source, st(where(idx('host', 'h9', true))), 0)
      expect(g.next().done).toBe(false)
      expect(c.pulled()).toBe(1)
      const r = counting(hostTree(size))
      const gr = execute(r.source, st(where(idx('host', 'h9', true)), [], true), 0)
      expect(gr.next().done).toBe(false)
      expect(r.pulled()).toBe(1)
    }
  })
})

// ---------------------------------------------------------------------------------------
// Property: the engine (indexes, probes, lazy walks) gives exactly what a plain
// filter-and-sort over the live records gives.

const PEERS = ['A', 'B', 'AB', 'BA', 'C', 'CA'].map(P)
const SERVERS = ['000000000000000a', '000000000000000b', '00000000000000a0']
const VALUES = ['', 'a', 'ab', 'abc', 'b', 'ba', 'a\uffff', 'a\uffffb']
const KEYS = ['region', 'role', 'az']

const arbRecord = fc.record({
  peer: fc.constantFrom(...PEERS),
  server: fc.constantFrom(...SERVERS),
  seq: fc.integer({ min: 1, max: 4 }),
  ttl: fc.constantFrom(0, 5, 50, 1000),
  host: fc.constantFrom(...VALUES),
  meta: fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES.filter((v) => v !== '')), { maxKeys: 3 }),
})
const arbOp = fc.record({ r: arbRecord, dt: fc.integer({ min: 0, max: 20 }) })

const arbIndex: fc.Arbitrary<Index> = fc.oneof(
  fc.record({ field: fc.constantFrom<'host'>('host'), value: fc.constantFrom(...VALUES), prefix: fc.boolean() }),
  fc.record({ field: fc.constantFrom<'meta'>('meta'), key: fc.constantFrom(...KEYS, 'nokey'), value: fc.constantFrom(...VALUES), prefix: fc.boolean() }),
  fc.record({ field: fc.constantFrom<'peer'>('peer'), value: fc.constantFrom('', P(''), P('A'), P('B'), P('BA'), P('Z')), prefix: fc.boolean() }),
  fc.record({ field: fc.constantFrom<'server'>('server'), value: fc.constantFrom('', '0', '000000000000000a', '00000000000000a'), prefix: fc.boolean() }),
)

// Statements the language allows (the engine runs nothing else): each one goes through the
// validator, so a generator that drifted outside the rules fails here, not silently.
const arbStatement: fc.Arbitrary<Statement> = fc
  .record({
    op: fc.constantFrom<Statement['op'][]>('ls', 'ls', 'lookup'),
    sel: fc.constantFrom('all', 'match', 'from', 'from+to', 'to'),
    a: arbIndex,
    b: arbIndex,
    limit: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    reverse: fc.boolean(),
  })
  .map(({ op, sel, a, b, limit: n, reverse }) => {
    const constraints: Constraint[] = []
    let selector: Selector = ALL
    if (sel === 'match') selector = where(a)
    if (sel === 'from' || sel === 'from+to') selector = from(a)
    if (sel === 'from+to') constraints.push(to(idx(a.field, b.value, b.prefix, a.key)))
    if (sel === 'to') constraints.push(to(a))
    if (n !== undefined && op === 'ls') constraints.push(limit(n))
    return validateStatement({ op, selector, constraints, reverse })
  })

function valueOf(r: RoutingRecord, i: { field: Index['field']; key?: string }): string | undefined {
  if (i.field === 'meta') return Object.hasOwn(r.meta, i.key as string) ? r.meta[i.key as string] : undefined
  const v = r[i.field]
  return i.field === 'host' && v === '' ? undefined : v
}

// The reference: filter the live records by every predicate, sort, reverse, cut.
function reference(live: RoutingRecord[], s: Statement): RoutingRecord[] {
  const firstTo = s.constraints.find((c): c is Extract<Constraint, { kind: 'to' }> => c.kind === 'to')
  const order = s.selector.kind !== 'all' ? s.selector.index : firstTo !== undefined ? firstTo.index : { field: 'peer' as const }
  let out = live.filter((r) => {
    const v = valueOf(r, order)
    if (v === undefined) return false
    const sel = s.selector
    if (sel.kind === 'match' && !(sel.index.prefix ? v.startsWith(sel.index.value) : v === sel.index.value)) return false
    if (sel.kind === 'from' && !(v >= sel.index.value)) return false
    for (const c of s.constraints) {
      if (c.kind !== 'to') continue
      const w = valueOf(r, c.index)
      if (w === undefined || !(w <= c.index.value || (c.index.prefix && w.startsWith(c.index.value)))) return false
    }
    return true
  })
  out.sort((x, y) => {
    const a = valueOf(x, order) as string
    const b = valueOf(y, order) as string
    return a < b ? -1 : a > b ? 1 : x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0
  })
  if (s.reverse) out.reverse()
  let n = s.op === 'lookup' ? 1 : Infinity
  for (const c of s.constraints) if (c.kind === 'limit') n = Math.min(n, c.n)
  if (n < out.length) out = out.slice(0, n)
  return out
}

// The replacement/expiry/leave rules as a plain map, to know which records are live.
class Model {
  recs = new Map<string, { r: RoutingRecord; exp: number }>()
  // A leave's version, or an expired record's (`left` false: it bars only its own instance).
  tombs = new Map<string, { seq: number; server: string; until: number; left: boolean }>()
  upsert(r: RoutingRecord, now: number, leaveMemory: number): boolean {
    for (const [p, t] of this.tombs) if (t.until < now) this.tombs.delete(p)
    const old = this.recs.get(r.peer)
    if (old !== undefined && old.exp < now) {
      this.recs.delete(r.peer)
      this.tombs.delete(r.peer)
      this.tombs.set(r.peer, { seq: old.r.seq, server: old.r.server, until: now + leaveMemory, left: false })
    }
    if (old !== undefined && old.exp >= now) {
      if (compareVersion(r, old.r) <= 0) return false
    } else {
      const t = this.tombs.get(r.peer)
      if (t !== undefined && (t.left ? compareVersion(r, t) <= 0 : r.server === t.server && r.seq <= t.seq)) return false
    }
    if (r.ttl === 0) {
      this.recs.delete(r.peer)
      this.tombs.delete(r.peer)
      this.tombs.set(r.peer, { seq: r.seq, server: r.server, until: now + leaveMemory, left: true })
      return true
    }
    this.tombs.delete(r.peer)
    this.recs.set(r.peer, { r, exp: now + r.ttl })
    return true
  }
  live(at: number): RoutingRecord[] {
    return [...this.recs.values()].filter((e) => e.exp >= at).map((e) => e.r)
  }
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

// Distinct values (and meta keys) of the live records, every prefix and limit, against `get`.
function checkValues(live: RoutingRecord[], get: (f: ValuesIndex, prefix?: string, limit?: number) => string[]): void {
  for (const f of [{ field: 'host' as const }, { field: 'meta' as const, key: 'role' }]) {
    const want = [...new Set(live.map((r) => valueOf(r, f)).filter((v): v is string => v !== undefined))].sort(byCodeUnit)
    expect(get(f)).toEqual(want)
    expect(get(f, 'a', 2)).toEqual(want.filter((v) => v.startsWith('a')).slice(0, 2))
  }
  const keys = [...new Set(live.flatMap((r) => Object.keys(r.meta)))].sort(byCodeUnit)
  expect(get({ field: 'meta' })).toEqual(keys)
  for (const prefix of ['r', 're', 'z', '']) {
    expect(get({ field: 'meta' }, prefix, 1)).toEqual(keys.filter((k) => k.startsWith(prefix)).slice(0, 1))
  }
}

describe('engine = filter-and-sort reference (property)', () => {
  it('same ordered results for random tables and statements, snapshots isolated', () => {
    fc.assert(
      fc.property(
        fc.array(arbOp, { maxLength: 30 }),
        fc.array(arbOp, { maxLength: 10 }),
        fc.array(arbStatement, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        (ops, later, statements, wait, sweepFirst) => {
          let now = 0
          const leaveMemory = 100
          const table = new RoutingTable({ now: () => now, sweep: false, leaveMemory })
          const model = new Model()
          for (const { r, dt } of ops) {
            now += dt
            expect(table.upsert(r)).toBe(model.upsert(r, now, leaveMemory))
          }
          now += wait
          if (sweepFirst) table.sweep()
          const live = model.live(now)
          const snap = table.snapshot()
          expect(snap.size).toBe(live.length)
          expect(table.size).toBe(live.length)
          const expected = statements.map((s) => reference(live, s))
          for (let i = 0; i < statements.length; i++) expect([...snap.scan(statements[i] as Statement)]).toEqual(expected[i])
          // the table's own values (read from its live indexes, no snapshot) agree at `now`
          checkValues(live, (f, prefix, limit) => table.values(f, prefix, limit))
          // writes and sweeps after the snapshot change nothing it yields
          for (const { r, dt } of later) {
            now += dt
            table.upsert(r)
          }
          table.sweep()
          for (let i = 0; i < statements.length; i++) expect([...snap.scan(statements[i] as Statement)]).toEqual(expected[i])
          expect(snap.size).toBe(live.length)
          // distinct values agree with the reference too, after the later writes
          checkValues(live, (f, prefix, limit) => snap.values(f, prefix, limit))
          table.close()
        },
      ),
      { numRuns: 400 },
    )
  })
})
