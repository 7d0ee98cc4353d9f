/**
 * The routing table (docs/design.md#routing-table): the live records of the cluster,
 * indexed for queries. This file is the write path and the public face; the parts live
 * beside it:
 *
 * - fields.ts: the field indexes (sorted-btree sets by peer, server, host, one per meta key)
 *   and their frozen copy-on-write clones;
 * - versions.ts: write generations, the snapshots that read them, and cutting versions no
 *   snapshot reads;
 * - expiry.ts: the expiry index, the sweep timer and the tombstones of recent leaves;
 * - events.ts: the 'change' events;
 * - snapshot.ts: the snapshot class (scans through engine.ts, release, `using`);
 * - values.ts: index values for completion, with work bounded by what is returned.
 *
 * Storage: one `Entry` per peer instance (its indexed fields, immutable, and a chain of record
 * versions), kept in a Map by peer, in every field index it has a value for, and in the
 * expiry index. A heartbeat that changes no indexed field (the common write) touches no field
 * index: it adds a version to the entry, and a snapshot reads the newest version not newer
 * than its generation.
 *
 * Replacement: a record replaces the stored one of its peer when `(seq, server)` is greater
 * (compareVersion). Equal is a stale duplicate, lower is stale: both are ignored.
 * Leave: a `ttl = 0` record newer than what is stored removes the peer at once ('left'); an
 * older leave is ignored, so a late leave of a previous instance can't remove a restarted one.
 * The leave's version is remembered for `leaveMemory` ms so that a heartbeat of the departed
 * instance delayed in the network doesn't bring it back. So is an expired record's version: a
 * late copy of a dead instance's last heartbeat (or of an earlier one) must not list it again.
 * A newer heartbeat of that instance does, and so does any heartbeat of another instance (a
 * restart, whose clock may be behind the dead one's) or state sync's copy from a node that
 * still lists it (`relist`).
 *
 * Expiry: live at t while t ≤ receivedAt + ttl, both on the table's clock, which by default
 * is monotonic (a wall-clock step changes nothing). Reads filter by the snapshot's time, and
 * one unref'd timer, armed at the next expiry, sweeps expired entries and emits 'expired'.
 */
import type { ValuesIndex } from '../api.js'
import { Cursor, type CursorOptions } from '../iter.js'
import type { Statement } from '../lang/ast.js'
import { parseQuery, validateStatement } from '../lang/index.js'
import { compareVersion, type RoutingRecord, validateRecord } from '../record/record.js'
import { ChangeEvents, type ChangeListener, type ListenerErrorHandler, type TableChange } from './events.js'
import { ExpiryIndex, monotonicNow, SweepTimer, Tombstones } from './expiry.js'
import { FieldIndexes, sameFields } from './fields.js'
import { Entry, Version } from './indexes.js'
import { asLookup } from './engine.js'
import type { Explain } from './plan.js'
import { scanTrees, type Snapshot, TableSnapshot } from './snapshot.js'
import { Generations, type Hold } from './versions.js'
import { indexValues } from './values.js'
import { WatchHub, Watcher } from './watch.js'
import type { WatchEvent, WatchOptions } from '../api.js'

export type { ChangeKind, ChangeListener, ListenerErrorHandler, TableChange } from './events.js'
export { ERR_LISTENER_THREW, ERR_UNKNOWN_EVENT } from './events.js'
export type { Snapshot } from './snapshot.js'
export { ERR_SNAPSHOT_RELEASED } from './snapshot.js'
export { Watcher, type WatcherStats } from './watch.js'
export { ERR_WATCH_LIMIT } from '../api.js'

/** Options of {@link RoutingTable.upsert}. */
export interface UpsertOptions {
  /**
   * How many ms before this call the record was received, by whoever hands it on (state sync
   * sends each record with the time its server has held it, a duration on the server's own
   * clock). The record expires `ttl − age` from now, so a relayed record never outlives the
   * heartbeat it came from. @default 0
   */
  age?: number
  /**
   * The record is a copy another node still lists (state sync), so it may list again a version
   * that expired here: it then lives `ttl − age`, as long as its holder lists it. Without it,
   * the instance (server) of a record that expired here is not listed again by a version up
   * to the expired one for `leaveMemory` ms: a late copy of its heartbeat (a slow relay,
   * gossip's retransmission) is no sign that it still lives.
   * @default false
   */
  relist?: boolean
}

/** Options of a routing table. */
export interface TableInit {
  /**
   * Clock in milliseconds that `receivedAt` and every read's time come from; expiry follows
   * it alone. Must not go backwards. Injectable for tests.
   * @default monotonicNow: performance.timeOrigin + performance.now(), unmoved by wall-clock steps
   */
  now?: () => number
  /** Sweep expired records with a timer armed at the next expiry. @default true */
  sweep?: boolean
  /** How long the version of a leave (ttl 0) or of an expired record is remembered, in ms. @default 60_000 */
  leaveMemory?: number
  /**
   * Told of every error a 'change' listener throws (with the change it was handling). A
   * throwing listener never reaches the writer: the write completes, the other listeners
   * run, and the error comes here. A handler that throws is ignored.
   * @default a process warning of type 'WwTableWarning', code ERR_LISTENER_THREW
   */
  onListenerError?: ListenerErrorHandler
}

/** The routing table: live records by peer, indexed for queries; see the file comment. */
export class RoutingTable {
  readonly #now: () => number
  readonly #byPeer = new Map<string, Entry>()
  readonly #fields = new FieldIndexes()
  readonly #expiry = new ExpiryIndex()
  readonly #gens = new Generations()
  readonly #tombs: Tombstones
  readonly #timer: SweepTimer
  readonly #events: ChangeEvents
  #watching = 0
  // The watchers behind one 'change' listener, indexed by what their queries pin (watch.ts).
  #hub: WatchHub | undefined

  constructor(init: TableInit = {}) {
    this.#now = init.now ?? monotonicNow
    this.#tombs = new Tombstones(init.leaveMemory ?? 60_000)
    this.#events = new ChangeEvents(init.onListenerError)
    this.#timer = new SweepTimer(
      init.sweep ?? true,
      this.#now,
      () => this.sweep(),
      () => this.#expiry.min(),
    )
  }

  /**
   * Offers a record (validated: throws RecordError naming the bad field). Returns true when
   * it was taken in: stored as new or newer than the stored one, or a leave (ttl 0) newer
   * than what is known of the peer. Stale and duplicate records return false, and so does a
   * record whose `options.age` is past its ttl.
   */
  upsert(record: RoutingRecord | unknown, options: UpsertOptions = {}): boolean {
    const r = validateRecord(record)
    Object.freeze(r.meta)
    Object.freeze(r)
    const now = this.#now()
    // A relayed record arrived `age` ms before it reached this table: its ttl runs from then.
    const age = options.age ?? 0
    if (!(age >= 0) || !Number.isFinite(age)) throw new RangeError(`upsert: age must be a finite number of ms ≥ 0, got ${String(age)}`)
    const tombs = this.#tombs
    if (tombs.size > 0) tombs.forget(now)
    let old = this.#byPeer.get(r.peer)
    // No listener, no change objects: nothing to allocate for the common write.
    const changes: TableChange[] | undefined = this.#events.active ? [] : undefined
    if (old !== undefined && old.v.exp < now) {
      // Expired but not swept yet: it is gone, whatever its version.
      this.#remove(old)
      tombs.add(old.v.r.peer, old.v.r.seq, old.v.r.server, now, false)
      changes?.push({ kind: 'expired', record: old.r })
      old = undefined
    }
    if (old !== undefined) {
      if (compareVersion(r, old.v.r) <= 0) return this.#emit(changes, false)
    } else {
      const tomb = tombs.get(r.peer)
      if (tomb !== undefined && (tomb.left ? compareVersion(r, tomb) <= 0 : options.relist !== true && r.server === tomb.server && r.seq <= tomb.seq)) return this.#emit(changes, false)
    }
    if (r.ttl === 0) {
      tombs.add(r.peer, r.seq, r.server, now, true)
      if (old !== undefined) {
        this.#remove(old)
        changes?.push({ kind: 'left', record: r, previous: old.v.r })
      }
      return this.#emit(changes, true)
    }
    const exp = now - age + r.ttl
    // Dead on arrival: its ttl ran out while it was on its way (a relay held it that long).
    if (exp < now) return this.#emit(changes, false)
    if (tombs.size > 0) tombs.delete(r.peer)
    if (old === undefined) {
      const e = new Entry(r, exp, r.peer, r.server, r.host, r.meta, this.#gens.next())
      e.since = now
      this.#insert(e)
      changes?.push({ kind: 'joined', record: r })
    } else {
      const previous = old.v.r
      if (sameFields(old, r)) this.#refresh(old, r, exp)
      else {
        const e = new Entry(r, exp, r.peer, r.server, r.host, r.meta, this.#gens.next())
        // The same instance with other fields keeps its age; a restart (new server) starts anew.
        e.since = old.s === r.server ? old.since : now
        this.#replace(old, e)
      }
      changes?.push({ kind: 'updated', record: r, previous })
    }
    this.#timer.arm(exp)
    return this.#emit(changes, true)
  }

  /** The live record of `peer` at now(), if any. */
  get(peer: string): RoutingRecord | undefined {
    const e = this.#byPeer.get(peer)
    return e !== undefined && e.v.exp >= this.#now() ? e.v.r : undefined
  }

  /**
   * How long ago, in ms on this table's clock, the live instance `server` of `peer` was first
   * taken in (`age`) and its latest record arrived (`seen`); undefined when that instance
   * isn't the live one.
   */
  times(peer: string, server: string): { age: number; seen: number } | undefined {
    const e = this.#byPeer.get(peer)
    const now = this.#now()
    if (e === undefined || e.s !== server || e.v.exp < now) return undefined
    return { age: Math.max(0, Math.round(now - e.since)), seen: Math.max(0, Math.round(now - (e.v.exp - e.v.r.ttl))) }
  }

  /** Live records at now(). */
  get size(): number {
    return this.#byPeer.size - this.#expiry.countExpired(this.#now())
  }

  /**
   * A consistent, immutable view of the table now: O(1) (plus the expired entries not yet
   * swept, for its `size`); no copying. Release it when done — `snapshot.release()`, or
   * `using snap = table.snapshot()` — so the table can drop the record versions only it
   * reads; one never released is released when the collector reclaims it.
   */
  snapshot(): Snapshot {
    const gens = this.#gens
    const hold = gens.hold(gens.current)
    const snap = this.#snapshot(hold)
    gens.watch(snap, hold) // the backstop
    return snap
  }

  #snapshot(hold: Hold | undefined): TableSnapshot {
    const at = this.#now()
    return new TableSnapshot(this.#fields.frozen(), at, this.#gens.current, this.#byPeer.size - this.#expiry.countExpired(at), this.#gens, hold)
  }

  // A scan on a snapshot nobody else sees (query, lookup, scan): the scan holds the
  // generation from its start until it ends (done, break, return(), cancel); a scan abandoned
  // without ending is released when the collector reclaims it.
  // No snapshot object: a scan reads the frozen trees at one time and generation, which is
  // all a snapshot is, and its `size` (a count of the expired entries) is never asked for.
  #privateScan(s: Statement): Generator<RoutingRecord> {
    return scanTrees(this.#fields.frozen(), this.#gens, s, this.#now(), this.#gens.current)
  }

  /**
   * Distinct values of an index in order, live now, starting with `prefix`, at most `limit`
   * of them; for `meta` without a key, the meta keys in use. Read from the kept sorted
   * indexes (no snapshot): the work is the values returned, O(log n) each, plus expired
   * entries not yet swept in the range walked, whatever the size of the table.
   */
  values(index: ValuesIndex, prefix = '', limit = Infinity): string[] {
    return indexValues(this.#fields.live, index, prefix, limit, this.#now(), Infinity)
  }

  /**
   * A lazy scan of a checked statement (from `parseQuery` or `validateStatement`: it is not
   * checked again) on a fresh snapshot (what `snapshot().scan(s)` yields),
   * whose snapshot is released the moment the scan ends — run to the end, or closed with
   * `return()` — instead of when the collector reclaims it. For servers that run one scan per
   * request while heartbeats keep arriving.
   */
  scan(s: Statement): Generator<RoutingRecord> {
    return this.#privateScan(s)
  }

  /**
   * Runs a query (text or parsed) on a fresh snapshot, with LS semantics. The cursor is lazy:
   * records are found as they are pulled. Throws QueryError at once when the text doesn't
   * parse, or when a Statement object breaks the language's rules (`validateStatement`,
   * ERR_QUERY_BAD_STATEMENT).
   */
  query(q: string | Statement, options: CursorOptions = {}): Cursor<RoutingRecord> {
    const s = typeof q === 'string' ? parseQuery(q) : validateStatement(q)
    if (options.signal?.aborted === true) return new Cursor<RoutingRecord>([], options)
    return new Cursor(this.#privateScan(s), options)
  }

  /**
   * How many records the query (text or parsed) yields, counted on a fresh snapshot without
   * handing any out (`count QUERY`). Checks its argument as `query` does.
   */
  count(q: string | Statement): number {
    const s = typeof q === 'string' ? parseQuery(q) : validateStatement(q)
    let n = 0
    for (const _ of this.#privateScan(s)) n++
    return n
  }

  /**
   * Runs the query on a fresh snapshot and reports how: the index, the ranges, estimated and
   * actual rows, the time (`explain QUERY`). Checks its argument as `query` does.
   */
  explain(q: string | Statement): Explain {
    const s = typeof q === 'string' ? parseQuery(q) : validateStatement(q)
    // Runs to the end before returning: held for that long, released at once.
    using snap = this.#snapshot(this.#gens.hold(this.#gens.current))
    return snap.explain(s)
  }

  /**
   * The first record the query yields (LOOKUP semantics), or undefined. Checks its argument
   * as `query` does (the promise rejects with QueryError).
   */
  async lookup(q: string | Statement): Promise<RoutingRecord | undefined> {
    const s = typeof q === 'string' ? parseQuery(q) : validateStatement(q)
    for (const r of this.#privateScan(asLookup(s))) return r
    return undefined
  }

  /**
   * A live query (text or parsed; docs/table.md#watch): the current matches from a fresh
   * snapshot, `synced`, then every change to the match set until the cursor is cancelled.
   * Throws QueryError as `query` does, and ERR_WATCH_LIMIT for LIMIT or LOOKUP.
   */
  watch(q: string | Statement, options: WatchOptions = {}): Cursor<WatchEvent> {
    const w = this.watcher(typeof q === 'string' ? parseQuery(q) : validateStatement(q), options)
    // The watcher answers synchronously when it can; Cursor accepts either.
    return new Cursor<WatchEvent>(w as unknown as Iterator<WatchEvent>, options)
  }

  /**
   * The watcher behind `watch`, for servers that stream it themselves: a checked statement
   * (not checked again but for LIMIT/LOOKUP), its iterator and its stats. Close it with
   * `return()`.
   */
  watcher(s: Statement, options: Pick<WatchOptions, 'heartbeats' | 'times'> = {}): Watcher {
    this.#hub ??= new WatchHub(this)
    const w = new Watcher(this, this.#hub, s, options, () => this.#watching--)
    this.#watching++
    return w
  }

  /** Watchers open on this table (each holds a 'change' listener until it is closed). */
  get watching(): number {
    return this.#watching
  }

  /**
   * Adds a listener of membership changes, called synchronously after each change. What it
   * throws goes to `onListenerError`, never to the writer.
   */
  on(event: 'change', listener: ChangeListener): this {
    this.#events.on(event, listener)
    return this
  }

  /** Removes a listener added with `on`. */
  off(event: 'change', listener: ChangeListener): this {
    this.#events.off(event, listener)
    return this
  }

  /** Drops every record expired at now(), emits 'expired' for each, returns how many. */
  sweep(): number {
    const now = this.#now()
    this.#tombs.forget(now)
    const gone = this.#expiry.expired(now)
    for (const e of gone) {
      this.#remove(e)
      this.#tombs.add(e.v.r.peer, e.v.r.seq, e.v.r.server, now, false)
    }
    this.#events.emit(gone.map((e) => ({ kind: 'expired' as const, record: e.v.r })))
    return gone.length
  }

  /** Stops the sweep timer; the table stays readable and writable (reads still filter). */
  close(): void {
    this.#timer.close()
  }

  #insert(e: Entry): void {
    this.#byPeer.set(e.t, e)
    this.#fields.insert(e)
    this.#expiry.add(e)
  }

  #remove(e: Entry): void {
    this.#byPeer.delete(e.t)
    this.#fields.remove(e)
    this.#expiry.delete(e)
  }

  // A newer record of a stored peer that changed an indexed field: a new entry.
  #replace(old: Entry, e: Entry): void {
    this.#byPeer.set(e.t, e)
    this.#fields.replace(old, e)
    this.#expiry.delete(old)
    this.#expiry.add(e)
  }

  // A newer record with the same indexed fields: a new version of the same entry. No field
  // index changes (the cached clones stay valid); only the expiry index moves the entry.
  #refresh(e: Entry, r: RoutingRecord, exp: number): void {
    const head = e.v
    e.v = new Version(r, exp, this.#gens.next(), this.#gens.trim(head))
    this.#expiry.move(e, head.exp)
  }

  #emit(changes: TableChange[] | undefined, result: boolean): boolean {
    this.#events.emit(changes)
    return result
  }
}
