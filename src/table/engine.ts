/**
 * The query engine: runs a `Statement` (docs/design.md#queries) over the indexes of one table snapshot,
 * lazily. A statement becomes a plan: one index to walk (the ordering field), an exclusive
 * lower and upper probe on it, and the few checks the index walk can't express. The walk is a
 * sync generator over the B-tree: nothing is collected, so the first record comes out after
 * one O(log n) descent whatever the table size, and a prefix or range scan costs
 * O(log n + k) for k records walked (plus expired entries not yet swept, which are skipped).
 *
 * The engine trusts its statement: it comes from `parseQuery` or was checked by
 * `validateStatement` (src/lang/validate.ts, the one set of rules, used by the wire and by
 * `RoutingTable.query`/`lookup`). So at most one TO, on the ordering field, at most one LIMIT,
 * no TO after WHERE, no LIMIT with LOOKUP.
 *
 * Semantics, as built (docs/design.md#queries states them, docs/table.md has the long form):
 * - ordering field: the selector's field for WHERE/FROM; with no selector, the field of the
 *   TO; otherwise peer. Ties by peer. REVERSE walks the same range backwards from the upper
 *   bound.
 * - `WHERE f=v` is the range [(v, low peer), (v, high peer)]; `WHERE f=v*` runs from v up to
 *   the least string above every string starting with v; `WHERE f=*` is the whole index.
 * - `FROM f=v` (with or without `*`: every value starting with v is ≥ v) has no upper bound.
 * - `TO f=v` caps the range at values ≤ v; `TO f=v*` also takes in every value starting
 *   with v.
 * - `LIMIT n` keeps the first n of the final order; LOOKUP keeps the first one.
 * - a statement with `where` (several conditions, `!=`, `IN`) is planned and run by plan.ts.
 */
import type { Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import { formatStatement } from '../lang/format.js'
import { countRange } from './count.js'
import { type Explain, indexName, planWhere, rangeText, runWhere, type RunStats } from './plan.js'
import { type BTree, comparator, Entry, HIGH, type IndexRef, LOW, prefixEnd, probe, refOf, versionAt } from './indexes.js'

/** Where a plan's index comes from: a snapshot's frozen trees. */
export interface IndexSource {
  /** The index on `ref`, or undefined when no live record ever had that field (no meta key). */
  tree(ref: IndexRef): BTree<Entry, undefined> | undefined
}

/** What the engine will walk, derived from a statement alone (no table needed). */
export interface ScanPlan {
  /** The index walked; results come in its order (or the reverse). */
  ref: IndexRef
  /** Inclusive lower probe; undefined: from the first entry. */
  lo: Entry | undefined
  /** Exclusive upper probe; undefined: to the last entry. */
  hi: Entry | undefined
  /** Most records yielded; Infinity when unbounded. */
  limit: number
  /** Walk from `hi` down to `lo`. */
  reverse: boolean
}

const PEER: IndexRef = { field: 'peer' }

/**
 * Builds the plan of `s`, a statement from `parseQuery` or `validateStatement` (src/lang/): its
 * rules are not checked again here.
 */
export function planStatement(s: Statement): ScanPlan {
  let ref: IndexRef = PEER
  let lo: string | undefined // lower bound value (inclusive), as probe (v, LOW)
  let hi: Entry | undefined
  const sel = s.selector
  if (sel.kind === 'match') {
    ref = refOf(sel.index)
    const v = sel.index.value
    if (sel.index.prefix) {
      if (v !== '') lo = v
      hi = upperProbe(ref, v, true)
    } else {
      lo = v
      hi = probe(ref, v, HIGH)
    }
  } else if (sel.kind === 'from') {
    ref = refOf(sel.index)
    if (sel.index.value !== '') lo = sel.index.value
  } else {
    const firstTo = s.constraints.find((c) => c.kind === 'to')
    if (firstTo !== undefined && firstTo.kind === 'to') ref = refOf(firstTo.index)
  }
  const cmp = comparator(ref)
  let limit = s.op === 'lookup' ? 1 : Infinity
  for (const c of s.constraints) {
    if (c.kind === 'limit') {
      limit = Math.min(limit, c.n)
    } else {
      // The validator allows a TO only alone (it then names `ref`) or after FROM on `ref`.
      const cap = upperProbe(ref, c.index.value, c.index.prefix)
      if (cap !== undefined && (hi === undefined || cmp(cap, hi) < 0)) hi = cap
    }
  }
  return { ref, lo: lo === undefined ? undefined : probe(ref, lo, LOW), hi, limit, reverse: s.reverse }
}

/** What a scan ends, once, when it finishes or is closed: its hold on a generation. */
export interface ScanEnd {
  end(): unknown
}

// Plans of the statements the parser's cache hands out, which are deep-frozen and shared:
// the plan of a statement depends on the statement alone, so a program that runs the same
// query again reuses it (its probes are never changed by a walk).
const plans = new WeakMap<Statement, ScanPlan>()
const planCounts = { hits: 0, misses: 0 }

function planOf(s: Statement): ScanPlan {
  if (!Object.isFrozen(s)) {
    planCounts.misses++
    return planStatement(s)
  }
  let p = plans.get(s)
  if (p === undefined) {
    planCounts.misses++
    p = Object.freeze(planStatement(s))
    plans.set(s, p)
  } else planCounts.hits++
  return p
}

/**
 * How often a range scan found its statement's plan cached (`hits`) and how often it had to
 * plan (`misses`: a statement seen the first time, or one not frozen, which can't be cached),
 * since the process started: for tests and benchmarks that check a repeated query is not
 * planned again.
 */
export function planCacheCounts(): { hits: number; misses: number } {
  return { ...planCounts }
}

// The LOOKUP form of each cached statement, made once: `{ ...s, op: 'lookup' }` per call
// would be a new object every time, and miss the plan cache.
const lookups = new WeakMap<Statement, Statement>()

/**
 * `s` with LOOKUP semantics (at most one record). A frozen statement (the parser's cache
 * hands those out) gets the same frozen LOOKUP form every time, so its plan is cached too.
 */
export function asLookup(s: Statement): Statement {
  if (s.op === 'lookup') return s
  if (!Object.isFrozen(s)) return { ...s, op: 'lookup' }
  let l = lookups.get(s)
  if (l === undefined) {
    l = Object.freeze({ ...s, op: 'lookup' as const })
    lookups.set(s, l)
  }
  return l
}

/**
 * Runs `s` (a checked statement, see {@link planStatement}) over `source`, skipping entries
 * expired at `at`, reading of each entry the version of generation `gen` (a snapshot's;
 * Infinity: the newest). The walk is lazy: each `next()` goes only as far as the
 * next match. The scan keeps `source` reachable for as long as it runs (the table
 * keeps the versions a reachable snapshot reads), and ends `onEnd` once: when it finishes,
 * or is closed (`return()`, `throw()`), even before its first `next()`.
 */
export function execute(source: IndexSource, s: Statement, at: number, gen = Infinity, onEnd?: ScanEnd): Generator<RoutingRecord, void, undefined> {
  // Several conditions: the planner of plan.ts (the original form keeps its one range walk).
  if (s.where !== undefined) return new Guarded(runWhere(source, planWhere(source, s), at, gen, undefined), onEnd)
  const p = planOf(s)
  return new RangeScan(source, source.tree(p.ref), p, at, gen, onEnd)
}

const DONE: IteratorReturnResult<void> = Object.freeze({ done: true, value: undefined })

/**
 * One index range walk, from the B-tree to the consumer, as an iterator object rather than a
 * generator: every record of a long stream passes through it, so it is the one layer there
 * is, and closing it before its first pull ends the hold without a wrapper.
 */
class RangeScan implements Generator<RoutingRecord, void, undefined> {
  readonly #source: IndexSource
  readonly #tree: BTree<Entry, undefined> | undefined
  readonly #p: ScanPlan
  readonly #at: number
  readonly #gen: number
  readonly #stats: RunStats | undefined
  // The index's order, made on the first step and kept: a field's comparator is a closure.
  #cmp: ((a: Entry, b: Entry) => number) | undefined
  #onEnd: ScanEnd | undefined
  #keys: Iterator<Entry> | Iterator<[Entry, undefined]> | undefined
  #ended = false
  #n = 0

  constructor(source: IndexSource, tree: BTree<Entry, undefined> | undefined, p: ScanPlan, at: number, gen: number, onEnd: ScanEnd | undefined, stats?: RunStats) {
    this.#source = source
    this.#tree = tree
    this.#p = p
    this.#at = at
    this.#gen = gen
    this.#onEnd = onEnd
    this.#stats = stats
  }

  next(): IteratorResult<RoutingRecord, void> {
    if (this.#ended) return DONE
    const p = this.#p
    const tree = this.#tree
    if (tree === undefined || p.limit < 1) return this.#end()
    const cmp = (this.#cmp ??= comparator(p.ref))
    const { lo, hi } = p
    const stats = this.#stats
    if (!p.reverse) {
      const keys = (this.#keys ??= tree.keys(lo)) as Iterator<Entry>
      for (;;) {
        const step = keys.next()
        if (step.done === true) return this.#end()
        const e = step.value
        if (hi !== undefined && cmp(e, hi) >= 0) return this.#end()
        if (stats !== undefined) stats.visited++
        const v = versionAt(e, this.#gen)
        if (v === undefined || v.exp < this.#at) continue
        if (++this.#n >= p.limit) this.#end()
        return { done: false, value: v.r }
      }
    }
    const keys = (this.#keys ??= tree.entriesReversed(hi, [undefined, undefined] as unknown as (Entry | undefined)[], true)) as Iterator<[Entry, undefined]>
    for (;;) {
      const step = keys.next()
      if (step.done === true) return this.#end()
      const e = step.value[0]
      if (lo !== undefined && cmp(e, lo) < 0) return this.#end()
      if (stats !== undefined) stats.visited++
      const v = versionAt(e, this.#gen)
      if (v === undefined || v.exp < this.#at) continue
      if (++this.#n >= p.limit) this.#end()
      return { done: false, value: v.r }
    }
  }

  return(): IteratorResult<RoutingRecord, void> {
    return this.#end()
  }

  throw(err: unknown): IteratorResult<RoutingRecord, void> {
    this.#end()
    throw err
  }

  [Symbol.iterator](): this {
    return this
  }

  [Symbol.dispose](): void {
    this.#end()
  }

  #end(): IteratorReturnResult<void> {
    if (this.#ended) return DONE
    this.#ended = true
    this.#keys = undefined
    keep(this.#source)
    const onEnd = this.#onEnd
    this.#onEnd = undefined
    onEnd?.end()
    return DONE
  }
}

/** A generator whose `onEnd` must run even when it is closed before its first pull. */
class Guarded implements Generator<RoutingRecord, void, undefined> {
  readonly #inner: Generator<RoutingRecord, void, undefined>
  #onEnd: ScanEnd | undefined

  constructor(inner: Generator<RoutingRecord, void, undefined>, onEnd: ScanEnd | undefined) {
    this.#inner = inner
    this.#onEnd = onEnd
  }

  next(): IteratorResult<RoutingRecord, void> {
    try {
      const r = this.#inner.next()
      if (r.done === true) this.#end()
      return r
    } catch (err) {
      this.#end()
      throw err
    }
  }

  return(): IteratorResult<RoutingRecord, void> {
    try {
      return this.#inner.return(undefined)
    } finally {
      this.#end()
    }
  }

  throw(err: unknown): IteratorResult<RoutingRecord, void> {
    try {
      return this.#inner.throw(err)
    } finally {
      this.#end()
    }
  }

  [Symbol.iterator](): this {
    return this
  }

  [Symbol.dispose](): void {
    this.return()
  }

  #end(): void {
    const onEnd = this.#onEnd
    this.#onEnd = undefined
    onEnd?.end()
  }
}

function keep(source: IndexSource): void {
  if (source === null) throw new Error('unreachable')
}

// Everything ≤ v (probe (v, HIGH)), or with `prefix` everything below the end of v's prefix
// range; undefined when there is no upper limit at all.
function upperProbe(ref: IndexRef, v: string, prefix: boolean): Entry | undefined {
  if (!prefix) return probe(ref, v, HIGH)
  const end = prefixEnd(v)
  return end === undefined ? undefined : probe(ref, end, LOW)
}

/**
 * Runs `s` over `source` as {@link execute} does, counting instead of yielding, and reports the
 * plan with its estimated and actual rows and the time taken (EXPLAIN ANALYZE).
 */
export function explain(source: IndexSource, s: Statement, at: number, gen = Infinity): Explain {
  const t0 = performance.now()
  const stats: RunStats = { visited: 0 }
  let actual = 0
  if (s.where !== undefined) {
    const c = planWhere(source, s)
    for (const _ of runWhere(source, c, at, gen, undefined, stats)) actual++
    const p = c.plan
    return {
      query: formatStatement(s),
      plan: p.kind,
      index: indexName(p.via),
      order: indexName(p.order),
      ranges: p.ranges.map((r) => rangeText(p.via, r)),
      absentFirst: p.absentFirst,
      estimatedRows: Math.round(p.estimate),
      visitedRows: stats.visited,
      actualRows: actual,
      ms: performance.now() - t0,
    }
  }
  const p = planStatement(s)
  const tree = source.tree(p.ref)
  const estimated = tree === undefined ? 0 : countRange(tree, p.lo, p.hi)
  for (const _ of new RangeScan(source, tree, p, at, gen, undefined, stats)) actual++
  return {
    query: formatStatement(s),
    plan: 'range',
    index: indexName(p.ref),
    order: indexName(p.ref),
    ranges: [rangeText(p.ref, { lo: p.lo, hi: p.hi })],
    absentFirst: false,
    estimatedRows: estimated,
    visitedRows: stats.visited,
    actualRows: actual,
    ms: performance.now() - t0,
  }
}
