/**
 * Live queries (docs/table.md#watch): a watcher streams a query's current matches from one
 * snapshot, then `synced`, then every change to the match set, fed by the table's 'change'
 * events.
 *
 * Consistency: the listener is added in the same synchronous step that takes the snapshot,
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
  on(event: 'change', listener: ChangeListener): unknown
  off(event: 'change', listener: ChangeListener): unknown
  /** `age`/`seen` of the live instance `server` of `peer` (for `times: true`); undefined when it isn't live. */
  times?(peer: string, server: string): { age: number; seen: number } | undefined
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
  /** Table changes seen that concern this query. */
  changes: number
  /** Events delivered after `synced`. */
  delivered: number
}

/**
 * One live query over a table: an AsyncIterator of events (a Cursor's source). `next()`
 * answers synchronously while events are ready and with a promise only when it must wait;
 * `return()` removes the listener at once, also while a `next()` waits.
 */
export class Watcher {
  readonly #table: WatchedTable
  readonly #test: Test
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
  readonly #listener: ChangeListener = (c) => this.#onChange(c)

  /** `s` is a checked statement (parseQuery / validateStatement); LIMIT and LOOKUP are refused. */
  constructor(table: WatchedTable, s: Statement, options: Pick<WatchOptions, 'heartbeats' | 'times'> = {}, onClose?: () => void) {
    checkWatchable(s)
    this.#table = table
    this.#test = statementTest(s)
    this.#heartbeats = options.heartbeats ?? false
    this.#times = options.times === true ? table.times?.bind(table) : undefined
    this.#onClose = onClose
    table.sweep()
    // Snapshot and listener in one synchronous step: no change falls between them.
    this.#scan = table.scan(s)
    table.on('change', this.#listener)
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

  #onChange(c: TableChange): void {
    const test = this.#test
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
    const peer = c.record.peer
    let p = this.#pending.get(peer)
    if (was === undefined && now === undefined) return
    this.#changes++
    if (p === undefined) {
      p = { before: was, after: was, removal: undefined, n: 0 }
      this.#pending.set(peer, p)
      if (this.#pending.size > this.#maxPending) this.#maxPending = this.#pending.size
    }
    p.n++
    if (now === undefined && p.before !== undefined) {
      p.removal = { kind: gone as 'left' | 'expired' | 'unmatched', record: c.record }
    }
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
        w({ done: false, value: this.#stamp(e) })
      }
    }
  }

  return(): IteratorResult<WatchEvent> {
    if (!this.#closed) {
      this.#closed = true
      this.#table.off('change', this.#listener)
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
