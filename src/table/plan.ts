/**
 * The planner and executor of statements with several conditions (`where`: `a=1 AND b!=2
 * AND c IN (x, y*)`, with or without FROM/TO). Statements of the original form (one
 * selector, no `where`) keep the single range walk of engine.ts.
 *
 * **Order is the query's, not the plan's**: by the ordering field (FROM's or TO's, else the
 * first predicate's; a record lacking it first), then by peer; REVERSE and LIMIT after.
 *
 * **Two ways to run a statement**, chosen by estimated cost:
 * - *ordered*: walk the ordering field's index over the ranges the ordering condition allows
 *   (FROM/TO's range; `f=v`/`f=v*`: one range; `f IN (…)`: the union of its values' ranges,
 *   merged, walked one after the other, which is the merge of index ranges in order; `f!=v`:
 *   the two ranges around v's, after the records lacking `f`, found by a walk of the peer
 *   index), testing every other predicate on each record as it passes. Lazy: the first
 *   record comes out as soon as it is found, and LIMIT stops the walk.
 * - *materialized*: when another `=`/`IN` predicate is far more selective, walk that
 *   predicate's ranges instead, keep what meets every condition, and sort it into the
 *   query's order. Only when its index holds at most {@link MATERIALIZE_MAX} entries in
 *   those ranges, so the memory a query holds stays bounded.
 *
 * Estimates are counts of index ranges (count.ts: O(log n) each, no walk): the ordered walk
 * visits about `orderedCount` entries, or with LIMIT n about n·orderedCount/matches; the
 * materialized one visits `candidateCount` entries and sorts what passes.
 */
import type { QueryPlan } from '../api.js'
import type { Index, Pattern, Predicate, Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import { countRange } from './count.js'
import { type BTree, comparator, type Entry, fieldValue, HIGH, type IndexRef, LOW, prefixEnd, probe, refOf, sameIndex, versionAt } from './indexes.js'

/**
 * Most index entries the planner reads into memory to sort (the materialized plan): above it
 * the ordered walk is used whatever it costs, so a query holds at most this many records.
 */
export const MATERIALIZE_MAX = 10_000

/** Where a plan's indexes come from: a snapshot's frozen trees. */
export interface TreeSource {
  /** The index on `ref`, or undefined when no record ever had that field. */
  tree(ref: IndexRef): BTree<Entry, undefined> | undefined
}

/** A half-open range `[lo, hi)` of an index; undefined: open on that side. */
export interface Range {
  lo: Entry | undefined
  hi: Entry | undefined
}

/** What the planner decided, for `explain` and tests. */
export interface WherePlan {
  /** The field that orders the results (then peer). */
  order: IndexRef
  /** Records lacking `order` come first (the first predicate is `f!=…`). */
  absentFirst: boolean
  /** `ordered`: walk `order`'s index; `materialized`: walk `via`'s index, then sort. */
  kind: 'ordered' | 'materialized'
  /** The index walked. */
  via: IndexRef
  /** The ranges walked on `via`'s index, in order. */
  ranges: Range[]
  /** Entries the ordered walk would visit (index counts; expired, unswept entries included). */
  orderedEstimate: number
  /** Entries the chosen plan visits, estimated. */
  estimate: number
  /** Most records yielded. */
  limit: number
  reverse: boolean
}

const PEER: IndexRef = { field: 'peer' }

type Test = (r: RoutingRecord) => boolean

function matches(x: string | undefined, p: Pattern): boolean {
  return x !== undefined && (p.prefix ? x.startsWith(p.value) : x === p.value)
}

function refOfPredicate(p: Predicate): IndexRef {
  return p.kind === 'in' ? (p.field === 'meta' ? { field: 'meta', key: p.key } : { field: p.field }) : refOf(p.index)
}

/** The test of one predicate on a record: exactly the semantics of docs/language.md. */
export function predicateTest(p: Predicate): Test {
  const ref = refOfPredicate(p)
  if (p.kind === 'eq') return (r) => matches(fieldValue(r, ref), p.index)
  if (p.kind === 'ne') return (r) => !matches(fieldValue(r, ref), p.index)
  const values = p.values
  return (r) => {
    const x = fieldValue(r, ref)
    if (x === undefined) return false
    for (const v of values) if (matches(x, v)) return true
    return false
  }
}

// The range of one pattern on `ref`'s index.
function patternRange(ref: IndexRef, p: Pattern): Range {
  if (!p.prefix) return { lo: probe(ref, p.value, LOW), hi: probe(ref, p.value, HIGH) }
  if (p.value === '') return { lo: undefined, hi: undefined }
  const end = prefixEnd(p.value)
  return { lo: probe(ref, p.value, LOW), hi: end === undefined ? undefined : probe(ref, end, LOW) }
}

// Sorted, overlapping or touching ranges merged: disjoint and in index order.
function union(ranges: Range[], cmp: (a: Entry, b: Entry) => number): Range[] {
  const sorted = [...ranges].sort((a, b) => (a.lo === undefined ? -1 : b.lo === undefined ? 1 : cmp(a.lo, b.lo)))
  const out: Range[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && (last.hi === undefined || (r.lo !== undefined && cmp(r.lo, last.hi) <= 0) || r.lo === undefined)) {
      if (last.hi !== undefined && (r.hi === undefined || cmp(r.hi, last.hi) > 0)) last.hi = r.hi
    } else {
      out.push({ ...r })
    }
  }
  return out
}

/** The ranges of `ref`'s index holding exactly the records with the field that meet `p`. */
function predicateRanges(p: Predicate, ref: IndexRef, cmp: (a: Entry, b: Entry) => number): Range[] {
  if (p.kind === 'eq') return [patternRange(ref, p.index)]
  if (p.kind === 'in') return union(p.values.map((v) => patternRange(ref, v)), cmp)
  // ne: everything in the index around the pattern's range.
  const r = patternRange(ref, p.index)
  const out: Range[] = []
  if (r.lo !== undefined) out.push({ lo: undefined, hi: r.lo })
  if (r.hi !== undefined) out.push({ lo: r.hi, hi: undefined })
  return out
}

function rangeTest(ref: IndexRef, lo: Index | undefined, to: Index | undefined): Test {
  return (r) => {
    const x = fieldValue(r, ref)
    if (x === undefined) return false
    if (lo !== undefined && x < lo.value) return false
    if (to !== undefined && !(x <= to.value || (to.prefix && x.startsWith(to.value)))) return false
    return true
  }
}

function count(tree: BTree<Entry, undefined> | undefined, ranges: Range[]): number {
  if (tree === undefined) return 0
  let n = 0
  for (const r of ranges) n += countRange(tree, r.lo, r.hi)
  return n
}

/** A plan and the test of the conditions its walk does not enforce. */
export interface Compiled {
  plan: WherePlan
  /** What every yielded record must meet besides the walked ranges. */
  test: Test
}

/**
 * Plans a statement that has `where` (checked by `validateStatement` or from the parser).
 * `prefer` forces a plan kind where one is possible (tests, benchmarks): `materialized` takes
 * the most selective `=`/`IN` predicate off the ordering field whatever the estimates.
 */
export function planWhere(source: TreeSource, s: Statement, prefer?: 'ordered' | 'materialized'): Compiled {
  const where = s.where ?? []
  const sel = s.selector
  const to = s.constraints.find((c) => c.kind === 'to')
  const limit = s.op === 'lookup' ? 1 : Math.min(Infinity, ...s.constraints.map((c) => (c.kind === 'limit' ? c.n : Infinity)))

  // The ordering field, its ranges, and the test for the condition those ranges stand for.
  let order: IndexRef
  let orderRanges: Range[]
  let orderTest: Test
  let absentFirst = false
  let rest: Predicate[]
  if (sel.kind === 'from' || to?.kind === 'to') {
    const from = sel.kind === 'from' ? sel.index : undefined
    const cap = to?.kind === 'to' ? to.index : undefined
    order = refOf((from ?? cap)!)
    let hi: Entry | undefined
    if (cap !== undefined) {
      if (!cap.prefix) hi = probe(order, cap.value, HIGH)
      else {
        const end = prefixEnd(cap.value)
        hi = end === undefined ? undefined : probe(order, end, LOW)
      }
    }
    const lo = from !== undefined && from.value !== '' ? probe(order, from.value, LOW) : undefined
    orderRanges = [{ lo, hi }]
    orderTest = rangeTest(order, from, cap)
    rest = where
  } else {
    const first = where[0]!
    order = refOfPredicate(first)
    orderRanges = predicateRanges(first, order, comparator(order))
    orderTest = predicateTest(first)
    absentFirst = first.kind === 'ne'
    rest = where.slice(1)
  }

  const orderTree = source.tree(order)
  let orderedEstimate = count(orderTree, orderRanges)
  if (absentFirst) orderedEstimate += source.tree(PEER)!.size - (orderTree?.size ?? 0)

  // The most selective other `=`/`IN` predicate, as an alternative way in.
  let best: { i: number; ref: IndexRef; ranges: Range[]; n: number } | undefined
  rest.forEach((p, i) => {
    if (p.kind === 'ne') return
    const ref = refOfPredicate(p)
    if (sameIndex(ref, order)) return
    const ranges = predicateRanges(p, ref, comparator(ref))
    const n = count(source.tree(ref), ranges)
    if (best === undefined || n < best.n) best = { i, ref, ranges, n }
  })

  const restTests = rest.map(predicateTest)
  let orderedCost = orderedEstimate
  if (limit < Infinity && best !== undefined) orderedCost = Math.min(orderedEstimate, (limit * orderedEstimate) / Math.max(1, best.n))
  const cheaper = best !== undefined && best.n <= MATERIALIZE_MAX && 2 * best.n < orderedCost
  if (best !== undefined && prefer !== 'ordered' && (cheaper || prefer === 'materialized')) {
    const skip = best.i
    const tests = [orderTest, ...restTests.filter((_, i) => i !== skip)]
    return {
      plan: { order, absentFirst, kind: 'materialized', via: best.ref, ranges: best.ranges, orderedEstimate, estimate: best.n, limit, reverse: s.reverse },
      test: all(tests),
    }
  }
  return {
    plan: { order, absentFirst, kind: 'ordered', via: order, ranges: orderRanges, orderedEstimate, estimate: orderedCost, limit, reverse: s.reverse },
    test: all(restTests),
  }
}

function all(tests: Test[]): Test {
  if (tests.length === 0) return () => true
  if (tests.length === 1) return tests[0]!
  return (r) => {
    for (const t of tests) if (!t(r)) return false
    return true
  }
}

/** Counts of a finished run, for `explain`. */
export interface RunStats {
  /** Index entries visited. */
  visited: number
}

/**
 * Runs a planned statement over `source` at time `at` and generation `gen` (see engine.ts),
 * lazily for the ordered plan; `onEnd` runs once the walk is done or closed.
 */
export function* runWhere(
  source: TreeSource,
  c: Compiled,
  at: number,
  gen: number,
  onEnd: (() => void) | undefined,
  stats: RunStats = { visited: 0 },
): Generator<RoutingRecord, void, undefined> {
  try {
    const { plan, test } = c
    if (plan.limit < 1) return
    const tree = source.tree(plan.via)
    if (plan.kind === 'materialized') {
      const out: RoutingRecord[] = []
      if (tree !== undefined) {
        for (const r of plan.ranges) {
          for (const e of walkRange(tree, comparator(plan.via), r, false)) {
            stats.visited++
            const v = versionAt(e, gen)
            if (v !== undefined && v.exp >= at && test(v.r)) out.push(v.r)
          }
        }
      }
      out.sort(orderOf(plan.order))
      if (plan.reverse) out.reverse()
      const n = Math.min(out.length, plan.limit)
      for (let i = 0; i < n; i++) yield out[i]!
      return
    }
    let n = 0
    const order = plan.order
    const parts: Array<() => Iterable<Entry>> = []
    const absent = (): Iterable<Entry> => walkRange(source.tree(PEER)!, comparator(PEER), { lo: undefined, hi: undefined }, plan.reverse)
    if (plan.absentFirst && !plan.reverse) parts.push(absent)
    if (tree !== undefined) {
      const cmp = comparator(order)
      const ranges = plan.reverse ? [...plan.ranges].reverse() : plan.ranges
      for (const r of ranges) parts.push(() => walkRange(tree, cmp, r, plan.reverse))
    }
    if (plan.absentFirst && plan.reverse) parts.push(absent)
    for (const part of parts) {
      const isAbsent = part === absent
      for (const e of part()) {
        stats.visited++
        const v = versionAt(e, gen)
        if (v === undefined || v.exp < at) continue
        if (isAbsent && fieldValue(v.r, order) !== undefined) continue
        if (!test(v.r)) continue
        yield v.r
        if (++n >= plan.limit) return
      }
    }
  } finally {
    // Uses `source` after every yield, so the snapshot stays reachable while the walk runs.
    if (source === null) throw new Error('unreachable')
    onEnd?.()
  }
}

function* walkRange(tree: BTree<Entry, undefined>, cmp: (a: Entry, b: Entry) => number, r: Range, reverse: boolean): Generator<Entry> {
  const { lo, hi } = r
  if (!reverse) {
    for (const e of tree.keys(lo)) {
      if (hi !== undefined && cmp(e, hi) >= 0) return
      yield e
    }
    return
  }
  const pair: [Entry, undefined] = [undefined as unknown as Entry, undefined]
  for (const [e] of tree.entriesReversed(hi, pair as unknown as (Entry | undefined)[], true)) {
    if (lo !== undefined && cmp(e, lo) < 0) return
    yield e
  }
}

/** The query's order on records: by `ref`'s value (a record lacking it first), then peer. */
export function orderOf(ref: IndexRef): (a: RoutingRecord, b: RoutingRecord) => number {
  return (a, b) => {
    const x = fieldValue(a, ref)
    const y = fieldValue(b, ref)
    if (x !== y) {
      if (x === undefined) return -1
      if (y === undefined) return 1
      return x < y ? -1 : 1
    }
    return a.peer === b.peer ? 0 : a.peer < b.peer ? -1 : 1
  }
}

/** How a statement ran: `explain`'s answer (`QueryPlan` of src/api.ts). */
export type Explain = QueryPlan

/** `host`, `meta.region`: an index's name in explain output. */
export function indexName(ref: IndexRef): string {
  return ref.field === 'meta' ? `meta.${ref.key ?? ''}` : ref.field
}

/**
 * A range's value bounds for explain: `["web", "wec")`; a bound just past every entry of a
 * value is marked `⁺` (`["web", "web"⁺)` is the one value web); `-∞`/`+∞` when open.
 */
export function rangeText(ref: IndexRef, r: Range): string {
  const v = (e: Entry | undefined, open: string): string => {
    if (e === undefined) return open
    if (ref.field === 'peer') return e.t.endsWith('\0') ? `${JSON.stringify(e.t.slice(0, -1))}⁺` : JSON.stringify(e.t)
    const x = ref.field === 'server' ? e.s : ref.field === 'host' ? e.h : e.m[ref.key as string]!
    return JSON.stringify(x) + (e.t === HIGH ? '⁺' : '')
  }
  return `[${v(r.lo, '-∞')}, ${v(r.hi, '+∞')})`
}
