/**
 * Live queries (docs/table.md#watch): a watcher streams a query's current matches from one
 * snapshot, then `synced`, then every change to the match set, fed by the table's 'change'
 * events through one `WatchHub` per table, which groups the watchers of the same query (one
 * test per change for all) and files the groups by the value their query pins (`WHERE
 * role=db`), so that a change visits only the watchers it can concern.
 *
 * Consistency: the watcher joins the hub in the same synchronous step that takes the snapshot,
 * so every change after the snapshot reaches the watcher and none before it does; each
 * change carries the record it replaced, which is exactly what the watcher's consumer holds
 * for that peer when nothing is pending for it.
 *
 * Bounded and lossless however slowly the consumer reads: changes not yet delivered are kept
 * per peer, one entry each (a Map in order of first pending change), holding what the
 * consumer last saw of the peer (`before`), its matching state now (`after`), the last
 * removal since `before` and how many changes the entry stands for. A new change to a peer
 * with an entry updates that entry in place; a peer that joins and leaves again before
 * delivery is forgotten (its consumer never knew it). So the pending entries are at most the
 * peers that match now plus those the consumer holds and that have since gone: bounded by
 * the matching peers, never by the number of changes. A removal of a peer the consumer holds
 * is always delivered, also when the peer came back meanwhile (the removal, then `joined`).
 */
import { checkWatchable, type WatchEvent, type WatchEventKind, type WatchOptions } from '../api.js'
import type { Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import type { ChangeListener, TableChange } from './events.js'
import { fieldValue, type IndexRef, refOf } from './indexes.js'
import { predicateTest } from './plan.js'


/** What a watcher needs of a table (RoutingTable has this shape). */
export interface WatchedTable {
  /** Drops the expired records, so that the snapshot and the change events agree on them. */
  sweep(): number
  /** A lazy scan on a fresh snapshot, released when it ends or is closed. */
  scan(s: Statement): Generator<RoutingRecord>
  /** `age`/`seen` of the live instance `server` of `peer` (for `times: true`); undefined when it isn't live. */
  times?(peer: string, server: string): { age: number; seen: number } | undefined
}

/** Where a table's 'change' events come from (RoutingTable has this shape). */
export interface ChangeSource {
  on(event: 'change', listener: ChangeListener): unknown
  off(event: 'change', listener: ChangeListener): unknown
}

type Test = (r: RoutingRecord) => boolean

/**
 * Whether a record is among a statement's matches (LS semantics, docs/design.md#queries),
 * ignoring order, REVERSE and LIMIT: the selector, every TO and every WHERE predicate.
 */
export function statementTest(s: Statement): Test {
  const tests: Test[] = []
  const sel = s.selector
  let ordering: IndexRef | undefined
  if (sel.kind === 'match') {
    const ref = refOf(sel.index)
    const { value, prefix } = sel.index
    tests.push((r) => {
      const x = fieldValue(r, ref)
      return x !== undefined && (prefix ? x.startsWith(value) : x === value)
    })
  } else if (sel.kind === 'from') {
    const ref = (ordering = refOf(sel.index))
    const lo = sel.index.value
    tests.push((r) => {
      const x = fieldValue(r, ref)
      return x !== undefined && x >= lo
    })
  }
  for (const c of s.constraints) {
    if (c.kind !== 'to') continue
    // A TO bounds the ordering field: FROM's, or its own when it stands alone.
    const ref = sel.kind === 'match' ? refOf(sel.index) : (ordering ?? refOf(c.index))
    const { value, prefix } = c.index
    tests.push((r) => {
      const x = fieldValue(r, ref)
      return x !== undefined && (x <= value || (prefix && x.startsWith(value)))
    })
  }
  for (const p of s.where ?? []) tests.push(predicateTest(p))
  if (tests.length === 0) return () => true
  return (r) => {
    for (const t of tests) if (!t(r)) return false
    return true
  }
}

/** True when two records of one peer differ in an indexed field (server, host, meta). */
export function indexedChange(a: RoutingRecord, b: RoutingRecord): boolean {
  if (a.server !== b.server || a.host !== b.host) return true
  let n = 0
  for (const k in a.meta) {
    if (!Object.hasOwn(a.meta, k)) continue
    if (!Object.hasOwn(b.meta, k) || a.meta[k] !== b.meta[k]) return true
    n++
  }
  for (const k in b.meta) if (Object.hasOwn(b.meta, k) && --n < 0) return true
  return n !== 0
}

// The changes not yet delivered for one peer (see the file comment).
interface Pending {
  /** The matching record the consumer holds, or undefined when it holds none. */
  before: RoutingRecord | undefined
  /** The matching record now, or undefined when the peer doesn't match (or is gone). */
  after: RoutingRecord | undefined
  /** The last removal since `before` (only when `before` is set). */
  removal: { kind: 'left' | 'expired' | 'unmatched'; record: RoutingRecord } | undefined
  /** Table changes this entry stands for. */
  n: number
}

/** What a watcher reports about itself (for tests and operators). */
export interface WatcherStats {
  /** Peers with changes not yet delivered: the watcher's memory, bounded by the matching peers. */
  pending: number
  /** Most `pending` ever held. */
  maxPending: number
  /**
   * Table changes handed to this watcher that concern its query (a plain heartbeat that
   * arrives while the consumer waits with nothing pending is not handed to it: it would be
   * no event).
   */
  changes: number
  /** Events delivered after `synced`. */
  delivered: number
}

/**
 * A value every match of `s` has in one field, when the query says so: a `WHERE f=v` selector,
 * or the first `f=v` / `f IN (v1, v2)` predicate without prefix patterns. A watcher with such
 * a key need only see the changes whose record (or the record it replaced) has one of these
 * values; any other change can neither start nor end a match of it.
 */
export function watchKey(s: Statement): { ref: IndexRef; values: string[] } | undefined {
  const sel = s.selector
  if (sel.kind === 'match' && !sel.index.prefix) return { ref: refOf(sel.index), values: [sel.index.value] }
  for (const p of s.where ?? []) {
    if (p.kind === 'eq' && !p.index.prefix) return { ref: refOf(p.index), values: [p.index.value] }
    if (p.kind === 'in' && p.values.every((v) => !v.prefix)) {
      return { ref: p.field === 'meta' ? { field: 'meta', key: p.key } : { field: p.field }, values: [...new Set(p.values.map((v) => v.value))] }
    }
  }
  return undefined
}

// The watchers of one query (same matching statement): its test runs once per change for all.
class Group {
  readonly key: string
  readonly test: Test
  readonly index: { ref: IndexRef; values: string[] } | undefined
  readonly members = new Set<Watcher>()
  /**
   * The members a quiet change (a plain heartbeat of a peer that matches before and after)
   * must reach: those not waiting in `next()` (a pending entry of theirs may need the newer
   * record) and those that asked for heartbeats. A waiting watcher without `heartbeats`
   * would turn such a change into no event, so it is left out of this set while it waits,
   * and a heartbeat costs nothing per waiting watcher.
   */
  readonly awake = new Set<Watcher>()
  /** The dispatch round that last visited this group (a change visits it once). */
  round = 0
  /** Watchers a change was handed to (`_apply` calls), for tests and benchmarks. */
  applied = 0

  constructor(key: string, s: Statement) {
    this.key = key
    this.test = statementTest(s)
    this.index = watchKey(s)
  }

  // One change: whether the peer matched before and matches now, for every member at once.
  dispatch(c: TableChange): unknown {
    const test = this.test
    let was: RoutingRecord | undefined
    let now: RoutingRecord | undefined
    let gone: WatchEventKind = 'unmatched'
    switch (c.kind) {
      case 'joined':
        now = test(c.record) ? c.record : undefined
        break
      case 'updated':
        was = c.previous !== undefined && test(c.previous) ? c.previous : undefined
        now = test(c.record) ? c.record : undefined
        break
      case 'left':
        was = c.previous !== undefined && test(c.previous) ? c.previous : undefined
        gone = 'left'
        break
      case 'expired':
        was = test(c.record) ? c.record : undefined
        gone = 'expired'
        break
    }
    if (was === undefined && now === undefined) return undefined
    // A newer record that changed no indexed field of a peer that matched and still does (a
    // plain heartbeat, most changes): decided once here for all the members.
    const quiet = was !== undefined && now !== undefined && !indexedChange(was, now)
    let failure: unknown
    const targets = quiet ? this.awake : this.members
    this.applied += targets.size
    for (const w of targets) {
      try {
        w._apply(c.record, was, now, gone as 'left' | 'expired' | 'unmatched')
      } catch (err) {
        failure ??= err
      }
    }
    return failure
  }
}

/**
 * The watchers of one table behind one 'change' listener, indexed so that a change visits
 * only the watchers it can concern:
 *
 * - watchers of the same matching statement form a group whose test runs once per change;
 * - a group whose query pins a field to values (`watchKey`: `WHERE role=db`, `host IN (a,
 *   b)`) is filed under those values, and a change visits it only when its record or the
 *   record it replaced has one of them; the other groups see every change.
 *
 * A watcher the index skips is one whose test fails on both records, for which the change
 * was nothing (neither a match nor a removal of one): what every watcher receives is exactly
 * what it would receive from its own listener. The listener is on the table only while some
 * watcher is open, so a table nobody watches builds no change objects.
 */
export class WatchHub {
  readonly #source: ChangeSource
  readonly #groups = new Map<string, Group>()
  // Groups with no key: they see every change.
  readonly #broad = new Set<Group>()
  // field ("host", "meta.role") → its ref and value → the groups filed under it.
  readonly #fields = new Map<string, { ref: IndexRef; byValue: Map<string, Set<Group>> }>()
  #round = 0
  #visits = 0
  #appliedGone = 0
  readonly #listener: ChangeListener = (c) => this.#dispatch(c)

  constructor(source: ChangeSource) {
    this.#source = source
  }

  /** Groups visited by changes so far (for tests and benchmarks: what the index saves). */
  get visits(): number {
    return this.#visits
  }

  /** Watchers a change was handed to so far, over all groups (per-watcher work of the table's writes). */
  get applied(): number {
    let n = this.#appliedGone
    for (const g of this.#groups.values()) n += g.applied
    return n
  }

  /** Adds a watcher of statement `s`; synchronous, so no change falls between this and a snapshot taken with it. */
  add(w: Watcher, s: Statement): void {
    const key = groupKey(s)
    let g = this.#groups.get(key)
    if (g === undefined) {
      g = new Group(key, s)
      if (this.#groups.size === 0) this.#source.on('change', this.#listener)
      this.#groups.set(key, g)
      if (g.index === undefined) this.#broad.add(g)
      else {
        const fk = fieldKey(g.index.ref)
        let f = this.#fields.get(fk)
        if (f === undefined) this.#fields.set(fk, (f = { ref: g.index.ref, byValue: new Map() }))
        for (const v of g.index.values) {
          let set = f.byValue.get(v)
          if (set === undefined) f.byValue.set(v, (set = new Set()))
          set.add(g)
        }
      }
    }
    g.members.add(w)
    g.awake.add(w)
    w._group = g
  }

  /** Removes a watcher (its group and index entries go with the last member). */
  delete(w: Watcher): void {
    const g = w._group
    if (g === undefined || !g.members.delete(w)) return
    g.awake.delete(w)
    w._group = undefined
    if (g.members.size > 0) return
    this.#appliedGone += g.applied
    this.#groups.delete(g.key)
    if (g.index === undefined) this.#broad.delete(g)
    else {
      const fk = fieldKey(g.index.ref)
      const f = this.#fields.get(fk)!
      for (const v of g.index.values) {
        const set = f.byValue.get(v)!
        set.delete(g)
        if (set.size === 0) f.byValue.delete(v)
      }
      if (f.byValue.size === 0) this.#fields.delete(fk)
    }
    if (this.#groups.size === 0) this.#source.off('change', this.#listener)
  }

  #dispatch(c: TableChange): void {
    const round = ++this.#round
    let failure: unknown
    const visit = (g: Group): void => {
      if (g.round === round) return // filed under both values of a changed field
      g.round = round
      this.#visits++
      failure ??= g.dispatch(c)
    }
    for (const g of this.#broad) visit(g)
    for (const f of this.#fields.values()) {
      const a = fieldValue(c.record, f.ref)
      if (a !== undefined) {
        const set = f.byValue.get(a)
        if (set !== undefined) for (const g of set) visit(g)
      }
      if (c.previous !== undefined) {
        const b = fieldValue(c.previous, f.ref)
        if (b !== undefined && b !== a) {
          const set = f.byValue.get(b)
          if (set !== undefined) for (const g of set) visit(g)
        }
      }
    }
    // Every watcher got the change; the table's listener list reports the first failure.
    if (failure !== undefined) throw failure
  }
}

function fieldKey(ref: IndexRef): string {
  return ref.field === 'meta' ? `meta.${ref.key ?? ''}` : ref.field
}

// Statements with equal keys match the same records (order, REVERSE and LIMIT aside).
function groupKey(s: Statement): string {
  return JSON.stringify([s.selector, s.constraints.filter((c) => c.kind === 'to'), s.where ?? []])
}

/**
 * One live query over a table: an AsyncIterator of events (a Cursor's source). `next()`
 * answers synchronously while events are ready and with a promise only when it must wait;
 * `return()` removes it from the hub at once, also while a `next()` waits.
 */
export class Watcher {
  readonly #hub: WatchHub
  readonly #heartbeats: boolean
  readonly #times: WatchedTable['times']
  #scan: Generator<RoutingRecord> | undefined
  #synced = false
  #closed = false
  readonly #pending = new Map<string, Pending>()
  // At most two events of one entry (a removal, then `joined`) ready to hand out.
  readonly #ready: WatchEvent[] = []
  #wake: ((r: IteratorResult<WatchEvent>) => void) | undefined
  readonly #onClose: (() => void) | undefined
  #maxPending = 0
  #changes = 0
  #delivered = 0
  /** @internal The hub's group this watcher belongs to. */
  _group: Group | undefined

  /**
   * `s` is a checked statement (parseQuery / validateStatement); LIMIT and LOOKUP are refused.
   * The changes come from `hub`, which must be fed by `table`'s change events.
   */
  constructor(table: WatchedTable, hub: WatchHub, s: Statement, options: Pick<WatchOptions, 'heartbeats' | 'times'> = {}, onClose?: () => void) {
    checkWatchable(s)
    this.#hub = hub
    this.#heartbeats = options.heartbeats ?? false
    this.#times = options.times === true ? table.times?.bind(table) : undefined
    this.#onClose = onClose
    table.sweep()
    // Snapshot and subscription in one synchronous step: no change falls between them.
    this.#scan = table.scan(s)
    hub.add(this, s)
  }

  /** Current accounting. */
  stats(): WatcherStats {
    return { pending: this.#pending.size, maxPending: this.#maxPending, changes: this.#changes, delivered: this.#delivered }
  }

  next(): IteratorResult<WatchEvent> | Promise<IteratorResult<WatchEvent>> {
    if (this.#closed) return { done: true, value: undefined }
    if (this.#scan !== undefined) {
      const r = this.#scan.next()
      if (r.done !== true) return { done: false, value: this.#stamp({ kind: 'record', record: r.value }) }
      this.#scan = undefined
    }
    if (!this.#synced) {
      this.#synced = true
      return { done: false, value: { kind: 'synced' } }
    }
    const e = this.#take()
    if (e !== undefined) return { done: false, value: this.#stamp(e) }
    // Waiting, with nothing pending: quiet changes need not reach it (Group.awake).
    if (!this.#heartbeats) this._group?.awake.delete(this)
    return new Promise((resolve) => {
      this.#wake = resolve
    })
  }

  // With `times`: the age and seen of the event's instance as they are now, as the event is
  // handed out. A removal's instance is gone from the table (left, expired), so it gets none.
  #stamp(e: WatchEvent): WatchEvent {
    const times = this.#times
    if (times === undefined || e.kind === 'synced') return e
    const t = times(e.record.peer, e.record.server)
    return t === undefined ? e : { ...e, age: t.age, seen: t.seen }
  }

  // The next ready event, turning pending entries into events (some yield none: heartbeats).
  #take(): WatchEvent | undefined {
    for (;;) {
      const e = this.#ready.shift()
      if (e !== undefined) {
        this.#delivered++
        return e
      }
      const first = this.#pending.entries().next()
      if (first.done === true) return undefined
      const [peer, p] = first.value
      this.#pending.delete(peer)
      this.#settle(p)
    }
  }

  // The events of one pending entry, into #ready.
  #settle(p: Pending): void {
    const { before, after, removal } = p
    if (before === undefined) {
      if (after !== undefined) this.#ready.push({ kind: 'joined', record: after, coalesced: p.n })
      return
    }
    if (removal !== undefined) {
      const n = after === undefined ? p.n : 1
      this.#ready.push({ kind: removal.kind, record: removal.record, previous: before, coalesced: n })
      if (after !== undefined) this.#ready.push({ kind: 'joined', record: after, coalesced: p.n - 1 })
      return
    }
    if (after !== undefined && (this.#heartbeats || indexedChange(before, after))) {
      this.#ready.push({ kind: 'updated', record: after, previous: before, coalesced: p.n })
    }
  }

  /**
   * @internal One table change that concerns this query (from its hub's group): the change's
   * record, the peer's matching record before (`was`) and now (`now`), and what a removal is.
   * A quiet change (a plain heartbeat) reaches only the watchers in `Group.awake`.
   */
  _apply(record: RoutingRecord, was: RoutingRecord | undefined, now: RoutingRecord | undefined, gone: 'left' | 'expired' | 'unmatched'): void {
    this.#changes++
    const peer = record.peer
    let p = this.#pending.get(peer)
    if (p === undefined) {
      p = { before: was, after: was, removal: undefined, n: 0 }
      this.#pending.set(peer, p)
      if (this.#pending.size > this.#maxPending) this.#maxPending = this.#pending.size
    }
    p.n++
    if (now === undefined && p.before !== undefined) p.removal = { kind: gone, record }
    p.after = now
    if (p.before === undefined && p.after === undefined) {
      // Joined and gone again before delivery: the consumer never knew it.
      this.#pending.delete(peer)
      return
    }
    const w = this.#wake
    if (w !== undefined && this.#synced && this.#scan === undefined) {
      const e = this.#take()
      if (e !== undefined) {
        this.#wake = undefined
        this._group?.awake.add(this)
        w({ done: false, value: this.#stamp(e) })
      }
    }
  }

  return(): IteratorResult<WatchEvent> {
    if (!this.#closed) {
      this.#closed = true
      this.#hub.delete(this)
      this.#scan?.return(undefined)
      this.#scan = undefined
      this.#pending.clear()
      this.#ready.length = 0
      const w = this.#wake
      this.#wake = undefined
      w?.({ done: true, value: undefined })
      this.#onClose?.()
    }
    return { done: true, value: undefined }
  }
}
