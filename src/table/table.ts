/**
 * The routing table (docs/design.md#routing-table): the live records of the cluster, indexed for queries.
 *
 * Storage: one `Entry` per peer instance (its indexed fields, immutable, and a chain of record
 * versions), kept in a Map by peer and in sorted-btree sets: peer, server, host, one per meta
 * key. The entry object itself is the B-tree key in every field index (each index has its own
 * comparator), so an index costs about one pointer per record. A record lacking a field is
 * absent from its index. An expiry index (`ExpiryIndex`: entries in buckets of 64 ms of
 * their current expiry) serves the sweep and `size`.
 *
 * Snapshots: `BTree.clone()` is O(1) copy-on-write, so a snapshot is a clone of every field
 * index plus the write generation it was taken at; later writes copy the paths they touch and
 * never change what a snapshot yields. A heartbeat that changes no indexed field (the common
 * write) touches no field index: it adds a version to the entry, and a snapshot reads the
 * newest version not newer than its generation. Versions no live snapshot can read are cut
 * (live snapshots are tracked with a FinalizationRegistry). Clones are cached until a write
 * changes a field index, so queries share one set across heartbeats.
 *
 * Replacement: a record replaces the stored one of its peer when `(seq, server)` is greater
 * (compareVersion). Equal is a stale duplicate, lower is stale: both are ignored.
 * Leave: a `ttl = 0` record newer than what is stored removes the peer at once ('left'); an
 * older leave is ignored, so a late leave of a previous instance can't remove a restarted one.
 * The leave's version is remembered for `leaveMemory` ms so that a heartbeat of the departed
 * instance delayed in the network doesn't bring it back.
 *
 * Expiry: live at t while t ≤ receivedAt + ttl. Reads filter by the snapshot's time, and one
 * unref'd timer, armed at the next expiry, sweeps expired entries and emits 'expired'.
 */
import { WwError } from '../errors.js'
import { Cursor, type CursorOptions } from '../iter.js'
import type { Statement } from '../lang/ast.js'
import { parseQuery } from '../lang/index.js'
import { execute } from './engine.js'
import { comparator, Entry, type EntryTree, ExpiryIndex, fieldValue, type IndexRef, LOW, newCountTree, newTree, probe, Version, versionAt } from './indexes.js'
import { compareVersion, type RoutingRecord, validateRecord } from '../record/record.js'

/** Options of a routing table. */
export interface TableInit {
  /** Clock in milliseconds (injectable for tests). @default Date.now */
  now?: () => number
  /** Sweep expired records with a timer armed at the next expiry. @default true */
  sweep?: boolean
  /** How long the version of a leave (ttl 0) is remembered, in ms. @default 60_000 */
  leaveMemory?: number
}

/** What happened to a peer: see `TableChange`. */
export type ChangeKind = 'joined' | 'updated' | 'left' | 'expired'

/** One membership change, emitted as the 'change' event after the table has changed. */
export interface TableChange {
  /** 'joined': new peer; 'updated': newer record of a live peer; 'left': ttl 0; 'expired': swept. */
  kind: ChangeKind
  /** The record now stored ('joined', 'updated'), the leave ('left') or the expired record. */
  record: RoutingRecord
  /** The record replaced ('updated') or removed ('left'). */
  previous?: RoutingRecord
}

/** A consistent, immutable view of the table at one instant. */
export interface Snapshot {
  /** now() when taken; records expired at `at` are never yielded. */
  readonly at: number
  /** Live records at `at`. */
  readonly size: number
  /** Runs a statement lazily (LS semantics; `lookup` yields at most one). */
  scan(s: Statement): Generator<RoutingRecord>
  /**
   * Distinct values of an index in order, live at `at`, starting with `prefix`, at most
   * `limit` of them. For `meta` without a key: the meta keys in use.
   */
  values(index: { field: 'host' | 'peer' | 'server' | 'meta'; key?: string }, prefix?: string, limit?: number): string[]
}

/** Listener of the 'change' event. */
export type ChangeListener = (c: TableChange) => void

interface Trees {
  peer: EntryTree
  server: EntryTree
  host: EntryTree
  meta: Map<string, EntryTree>
}

const PEER: IndexRef = { field: 'peer' }
const SERVER: IndexRef = { field: 'server' }
const HOST: IndexRef = { field: 'host' }

export class RoutingTable {
  readonly #now: () => number
  readonly #timerOn: boolean
  readonly #leaveMemory: number
  readonly #byPeer = new Map<string, Entry>()
  readonly #t: Trees = {
    peer: newTree(comparator(PEER)),
    server: newTree(comparator(SERVER)),
    host: newTree(comparator(HOST)),
    meta: new Map(),
  }
  readonly #expiry = new ExpiryIndex()
  // Write generation: bumped by every version made. A snapshot reads generation ≤ its own.
  #gen = 0
  // Generations of the snapshots not yet collected (count per generation), sorted.
  readonly #live = newCountTree()
  readonly #registry = new FinalizationRegistry<number>((gen) => this.#release(gen))
  // Versions of recent leaves, in the order they were taken (so oldest first).
  readonly #tombs = new Map<string, { seq: number; server: string; until: number }>()
  #frozen: Trees | undefined
  #listeners: ChangeListener[] = []
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  #closed = false

  constructor(init: TableInit = {}) {
    this.#now = init.now ?? Date.now
    this.#timerOn = init.sweep ?? true
    this.#leaveMemory = init.leaveMemory ?? 60_000
  }

  /**
   * Offers a record (validated: throws RecordError naming the bad field). Returns true when
   * it was taken in: stored as new or newer than the stored one, or a leave (ttl 0) newer
   * than what is known of the peer. Stale and duplicate records return false.
   */
  upsert(record: RoutingRecord | unknown): boolean {
    const r = validateRecord(record)
    Object.freeze(r.meta)
    Object.freeze(r)
    const now = this.#now()
    if (this.#tombs.size > 0) this.#forgetTombs(now)
    let old = this.#byPeer.get(r.peer)
    // No listener, no change objects: nothing to allocate for the common write.
    const changes: TableChange[] | undefined = this.#listeners.length > 0 ? [] : undefined
    if (old !== undefined && old.v.exp < now) {
      // Expired but not swept yet: it is gone, whatever its version.
      this.#remove(old)
      changes?.push({ kind: 'expired', record: old.r })
      old = undefined
    }
    if (old !== undefined) {
      if (compareVersion(r, old.v.r) <= 0) return this.#emitAll(changes, false)
    } else {
      const tomb = this.#tombs.get(r.peer)
      if (tomb !== undefined && compareVersion(r, tomb) <= 0) return this.#emitAll(changes, false)
    }
    if (r.ttl === 0) {
      this.#tombs.delete(r.peer)
      this.#tombs.set(r.peer, { seq: r.seq, server: r.server, until: now + this.#leaveMemory })
      if (old !== undefined) {
        this.#remove(old)
        changes?.push({ kind: 'left', record: r, previous: old.v.r })
      }
      return this.#emitAll(changes, true)
    }
    if (this.#tombs.size > 0) this.#tombs.delete(r.peer)
    const exp = now + r.ttl
    if (old === undefined) {
      this.#insert(new Entry(r, exp, r.peer, r.server, r.host, r.meta, ++this.#gen))
      changes?.push({ kind: 'joined', record: r })
    } else {
      const previous = old.v.r
      if (sameFields(old, r)) this.#refresh(old, r, exp)
      else this.#replace(old, new Entry(r, exp, r.peer, r.server, r.host, r.meta, ++this.#gen))
      changes?.push({ kind: 'updated', record: r, previous })
    }
    this.#arm(exp)
    return this.#emitAll(changes, true)
  }

  /** The live record of `peer` at now(), if any. */
  get(peer: string): RoutingRecord | undefined {
    const e = this.#byPeer.get(peer)
    return e !== undefined && e.v.exp >= this.#now() ? e.v.r : undefined
  }

  /** Live records at now(). */
  get size(): number {
    return this.#byPeer.size - this.#expiry.countExpired(this.#now())
  }

  /**
   * A consistent, immutable view of the table now: O(number of indexes) (O(1) when no field
   * index changed since the last one) plus the expired entries not yet swept; no copying.
   */
  snapshot(): Snapshot {
    const snap = this.#snapshot()
    // Its versions are kept until the collector has reclaimed it.
    this.#registry.register(snap, snap.gen)
    return snap
  }

  // A snapshot whose generation is counted live; the caller arranges its release.
  #snapshot(): TableSnapshot {
    if (this.#frozen === undefined) {
      const t = this.#t
      const meta = new Map<string, EntryTree>()
      for (const [k, tree] of t.meta) meta.set(k, tree.clone())
      this.#frozen = { peer: t.peer.clone(), server: t.server.clone(), host: t.host.clone(), meta }
    }
    const at = this.#now()
    const gen = this.#gen
    const snap = new TableSnapshot(this.#frozen, at, gen, this.#byPeer.size - this.#expiry.countExpired(at))
    this.#live.set(gen, (this.#live.get(gen) ?? 0) + 1)
    return snap
  }

  #release(gen: number): void {
    const c = (this.#live.get(gen) ?? 1) - 1
    if (c <= 0) this.#live.delete(gen)
    else this.#live.set(gen, c)
  }

  // A scan on a snapshot nobody else sees (query, lookup): its generation is released as
  // soon as the scan ends (done, break, cancel), not when the collector gets to it; a scan
  // abandoned without ending is released when the collector reclaims it.
  #privateScan(s: Statement): Generator<RoutingRecord> {
    const snap = this.#snapshot()
    const token = {}
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#registry.unregister(token)
      this.#release(snap.gen)
    }
    let scan: Generator<RoutingRecord>
    try {
      scan = snap.scan(s, release)
    } catch (err) {
      release() // the statement was refused before the walk began
      throw err
    }
    this.#registry.register(scan, snap.gen, token)
    return scan
  }

  /**
   * A lazy scan of a parsed statement on a fresh snapshot (what `snapshot().scan(s)` yields),
   * whose snapshot is released the moment the scan ends — run to the end, or closed with
   * `return()` — instead of when the collector reclaims it. For servers that run one scan per
   * request while heartbeats keep arriving.
   */
  scan(s: Statement): Generator<RoutingRecord> {
    return this.#privateScan(s)
  }

  /**
   * Runs a query (text or parsed) on a fresh snapshot, with LS semantics. The cursor is lazy:
   * records are found as they are pulled. A text query that doesn't parse throws QueryError.
   */
  query(q: string | Statement, options: CursorOptions = {}): Cursor<RoutingRecord> {
    const s = typeof q === 'string' ? parseQuery(q) : q
    if (options.signal?.aborted === true) return new Cursor<RoutingRecord>([], options)
    return new Cursor(this.#privateScan(s), options)
  }

  /** The first record the query yields (LOOKUP semantics), or undefined. */
  async lookup(q: string | Statement): Promise<RoutingRecord | undefined> {
    const s = typeof q === 'string' ? parseQuery(q) : q
    for (const r of this.#privateScan({ ...s, op: 'lookup' })) return r
    return undefined
  }

  /** Adds a listener of membership changes, called synchronously after each change. */
  on(event: 'change', listener: ChangeListener): this {
    if (event !== 'change') throw new WwError(ERR_UNKNOWN_EVENT, `unknown event: ${String(event)}`)
    this.#listeners = [...this.#listeners, listener]
    return this
  }

  /** Removes a listener added with `on`. */
  off(event: 'change', listener: ChangeListener): this {
    if (event !== 'change') throw new WwError(ERR_UNKNOWN_EVENT, `unknown event: ${String(event)}`)
    const i = this.#listeners.indexOf(listener)
    if (i >= 0) this.#listeners = this.#listeners.filter((_, j) => j !== i)
    return this
  }

  /** Drops every record expired at now(), emits 'expired' for each, returns how many. */
  sweep(): number {
    const now = this.#now()
    this.#forgetTombs(now)
    const gone = this.#expiry.expired(now)
    for (const e of gone) this.#remove(e)
    this.#emitAll(
      gone.map((e) => ({ kind: 'expired' as const, record: e.v.r })),
      true,
    )
    return gone.length
  }

  /** Stops the sweep timer; the table stays readable and writable (reads still filter). */
  close(): void {
    this.#closed = true
    this.#disarm()
  }

  #insert(e: Entry): void {
    const r = e.r
    this.#frozen = undefined
    this.#byPeer.set(r.peer, e)
    this.#t.peer.set(e, undefined)
    this.#t.server.set(e, undefined)
    if (r.host !== '') this.#t.host.set(e, undefined)
    for (const k of Object.keys(r.meta)) this.#metaTree(k).set(e, undefined)
    this.#expiry.add(e)
  }

  #remove(e: Entry): void {
    const r = e.r
    this.#frozen = undefined
    this.#byPeer.delete(r.peer)
    this.#t.peer.delete(e)
    this.#t.server.delete(e)
    if (r.host !== '') this.#t.host.delete(e)
    for (const k of Object.keys(r.meta)) {
      const tree = this.#t.meta.get(k)
      if (tree === undefined) continue
      tree.delete(e)
      if (tree.size === 0) this.#t.meta.delete(k)
    }
    this.#expiry.delete(e)
  }

  // A newer record with the same indexed fields: a new version of the same entry. No field
  // index changes (the cached clones stay valid); only the expiry index moves the entry.
  #refresh(e: Entry, r: RoutingRecord, exp: number): void {
    const head = e.v
    e.v = new Version(r, exp, ++this.#gen, this.#older(head))
    this.#expiry.move(e, head.exp)
  }

  // The chain a new version keeps behind it when it replaces `head`: only the versions a live
  // snapshot reads. A snapshot at generation G reads the newest version with gen ≤ G, so a
  // version is kept when some live G lies between its gen and the next newer version's;
  // the others are unlinked. Unlinking a version nobody reads never changes what a reader
  // finds: its walk skips versions newer than its generation and stops at the one it needs,
  // which is kept. Cost: O(chain · log L), L = live generations; the chain holds at most one
  // version per live generation.
  #older(head: Version): Version | undefined {
    const live = this.#live
    const oldest = live.minKey()
    if (oldest === undefined) return undefined
    let newest: Version | undefined
    let last: Version | undefined
    let upper = Infinity // gen of the next newer version (the new one is newer than every G)
    for (let v: Version | undefined = head; v !== undefined; ) {
      const older: Version | undefined = v.prev
      // read by some live G with v.gen ≤ G < upper?
      const g = live.nextHigherKey(v.gen - 1)
      if (g !== undefined && g < upper) {
        if (last === undefined) newest = v
        else last.prev = v
        last = v
      }
      // every live G is ≥ oldest ≥ v.gen: nobody reads past v
      if (v.gen <= oldest) break
      upper = v.gen
      v = older
    }
    if (last !== undefined) last.prev = undefined
    return newest
  }

  // A newer record of a stored peer. Where a field kept its value the new entry takes the old
  // one's place in one step (sorted-btree overwrites the key); elsewhere delete + insert.
  #replace(old: Entry, e: Entry): void {
    const a = old.v.r
    const b = e.v.r
    const t = this.#t
    this.#frozen = undefined
    this.#byPeer.set(b.peer, e)
    t.peer.set(e, undefined)
    if (a.server === b.server) t.server.set(e, undefined)
    else {
      t.server.delete(old)
      t.server.set(e, undefined)
    }
    if (a.host === b.host) {
      if (b.host !== '') t.host.set(e, undefined)
    } else {
      if (a.host !== '') t.host.delete(old)
      if (b.host !== '') t.host.set(e, undefined)
    }
    for (const k of Object.keys(a.meta)) {
      if (Object.hasOwn(b.meta, k) && b.meta[k] === a.meta[k]) continue
      const tree = t.meta.get(k)
      if (tree === undefined) continue
      tree.delete(old)
      if (tree.size === 0) t.meta.delete(k)
    }
    for (const k of Object.keys(b.meta)) this.#metaTree(k).set(e, undefined)
    this.#expiry.delete(old)
    this.#expiry.add(e)
  }

  #metaTree(key: string): EntryTree {
    let tree = this.#t.meta.get(key)
    if (tree === undefined) {
      tree = newTree(comparator({ field: 'meta', key }))
      this.#t.meta.set(key, tree)
    }
    return tree
  }

  #forgetTombs(now: number): void {
    for (const [peer, tomb] of this.#tombs) {
      if (tomb.until >= now) break
      this.#tombs.delete(peer)
    }
  }

  // Keeps one timer armed at the earliest expiry: an entry is swept the first millisecond
  // after its last live one.
  #arm(exp: number): void {
    if (!this.#timerOn || this.#closed || exp >= this.#timerAt) return
    this.#disarm()
    this.#timerAt = exp
    const delay = Math.min(Math.max(exp + 1 - this.#now(), 0), 2 ** 31 - 1)
    this.#timer = setTimeout(() => this.#onTimer(), delay)
    this.#timer.unref()
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #onTimer(): void {
    this.#timer = undefined
    this.#timerAt = Infinity
    try {
      this.sweep()
    } finally {
      const next = this.#expiry.min()
      if (next !== undefined) this.#arm(next)
    }
  }

  // Listeners run after the table is consistent. A listener that throws doesn't stop the
  // others nor undo the change; its error is rethrown on its own, like EventTarget does.
  #emitAll(changes: TableChange[] | undefined, result: boolean): boolean {
    if (changes === undefined || changes.length === 0) return result
    const ls = this.#listeners
    for (const c of changes) {
      for (const l of ls) {
        try {
          l(c)
        } catch (err) {
          queueMicrotask(() => {
            throw err
          })
        }
      }
    }
    return result
  }
}

/** `on`/`off` was given an event other than 'change'. */
export const ERR_UNKNOWN_EVENT = 'ERR_UNKNOWN_EVENT'

// True when `r` has exactly the indexed fields of `e` (peer aside): then it can be a new
// version of `e` without touching any field index.
function sameFields(e: Entry, r: RoutingRecord): boolean {
  if (e.s !== r.server || e.h !== r.host) return false
  const a = e.m
  const b = r.meta
  let n = 0
  for (const k in a) {
    if (!Object.hasOwn(a, k)) continue
    if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false
    n++
  }
  for (const k in b) if (Object.hasOwn(b, k) && --n < 0) return false
  return n === 0
}

class TableSnapshot implements Snapshot {
  readonly at: number
  readonly size: number
  /** The write generation it reads. */
  readonly gen: number
  readonly #t: Trees

  constructor(t: Trees, at: number, gen: number, size: number) {
    this.#t = t
    this.at = at
    this.gen = gen
    this.size = size
  }

  /** A lazy scan of `s`; `onEnd` (internal) runs once the scan is done or closed. */
  scan(s: Statement, onEnd?: () => void): Generator<RoutingRecord> {
    // The source holds `this`: the snapshot stays reachable, so its versions are kept.
    return execute({ tree: (ref) => this.#tree(ref) }, s, this.at, this.gen, onEnd)
  }

  values(index: { field: 'host' | 'peer' | 'server' | 'meta'; key?: string }, prefix = '', limit = Infinity): string[] {
    const out: string[] = []
    if (limit < 1) return out
    if (index.field === 'meta' && index.key === undefined) {
      for (const k of [...this.#t.meta.keys()].sort()) {
        if (!k.startsWith(prefix)) continue
        const tree = this.#t.meta.get(k) as EntryTree
        if (firstLive(tree, undefined, this.at, this.gen, () => true) === undefined) continue
        out.push(k)
        if (out.length >= limit) break
      }
      return out
    }
    const ref: IndexRef = index.field === 'meta' ? { field: 'meta', key: index.key } : { field: index.field }
    const tree = this.#tree(ref)
    if (tree === undefined) return out
    let from: Entry | undefined = probe(ref, prefix, LOW)
    for (;;) {
      const e = firstLive(tree, from, this.at, this.gen, (x) => (fieldValue(x.r, ref) as string).startsWith(prefix))
      if (e === undefined) break
      const v = fieldValue(e.r, ref) as string
      out.push(v)
      if (out.length >= limit) break
      // Jump over the rest of this value's entries: O(log n) per distinct value.
      from = probe(ref, v, '\uffff')
    }
    return out
  }

  #tree(ref: IndexRef): EntryTree | undefined {
    switch (ref.field) {
      case 'peer':
        return this.#t.peer
      case 'server':
        return this.#t.server
      case 'host':
        return this.#t.host
      case 'meta':
        return this.#t.meta.get(ref.key as string)
    }
  }
}

// The first entry from `from` that is live at `at` in generation `gen`, as long as `ok`
// holds. (`ok` reads only indexed fields, which every version of an entry shares.)
function firstLive(tree: EntryTree, from: Entry | undefined, at: number, gen: number, ok: (e: Entry) => boolean): Entry | undefined {
  for (const e of tree.keys(from)) {
    if (!ok(e)) return undefined
    const v = versionAt(e, gen)
    if (v !== undefined && v.exp >= at) return e
  }
  return undefined
}
