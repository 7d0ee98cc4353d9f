/**
 * The pieces the routing table and the query engine share: the stored `Entry`, the ordering
 * of every index, and the probe keys that bound a range scan.
 *
 * Every index is a `sorted-btree` used as a sorted set of `Entry` objects (no tuple keys are
 * allocated: the entry is the key and each index has its own comparator). An index orders by
 * the value of its field in JavaScript string order, ties by peer. Probes are fake entries
 * whose tie-breaker is `''` (below every peer) or `'\uffff'` (above every peer, peers being
 * base58 text) that bound a range walk.
 */
import BTreeModule from 'sorted-btree'
import type { FieldName, Index } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'

// sorted-btree ships CommonJS with `exports.default`; under NodeNext the default import is the
// module object in some loaders and the class in others.
const BTreeCtor = ((BTreeModule as unknown as { default?: unknown }).default ?? BTreeModule) as typeof BTreeModule.default

/** sorted-btree's BTree class type. */
export type BTree<K, V> = BTreeModule.default<K, V>

/**
 * One version of a peer's record: what a snapshot taken at generation ≥ `gen` (and before the
 * next version) yields for its entry. Immutable except `prev`, which the table cuts once no
 * live snapshot can need the older versions.
 */
export class Version {
  /** The record as stored (frozen; yielded to readers as is). */
  readonly r: RoutingRecord
  /** Last millisecond at which the record is live: receivedAt + ttl. */
  readonly exp: number
  /** The table's write generation that made this version (0 for a stand-alone entry). */
  readonly gen: number
  /** The version before this one, kept while a live snapshot may still read it. */
  prev: Version | undefined
  constructor(r: RoutingRecord, exp: number, gen: number, prev: Version | undefined) {
    this.r = r
    this.exp = exp
    this.gen = gen
    this.prev = prev
  }
}

/**
 * One peer instance's place in the indexes: the indexed fields (peer, server, host, meta),
 * which never change, and the chain of record versions that share those fields. A heartbeat
 * that changes no indexed field adds a version here and touches no field index, so the
 * B-trees (and the snapshot clones of them) stay as they are; a snapshot reads the newest
 * version not newer than its own generation (`versionAt`). The indexed fields are copied up
 * from the record (same string objects) because every B-tree comparison reads them: one
 * pointer hop less per comparison.
 */
export class Entry {
  /** The peer, the tie-breaker of every index (for probes: see `probe`). */
  readonly t: string
  /** `r.server`. */
  readonly s: string
  /** `r.host`. */
  readonly h: string
  /** `r.meta`. */
  readonly m: Record<string, string>
  /** `t`'s code units 0–3, 4–7 and 8–11 as small integers in `t`'s order (see `peerKey`). */
  readonly k0: number
  /** See `k0`. */
  readonly k1: number
  /** See `k0`. */
  readonly k2: number
  /** The newest version (the table's current record of this entry). */
  v: Version
  /** When this instance (peer and server) was first taken in, on the table's clock (ms). */
  since = 0
  constructor(r: RoutingRecord, exp: number, t: string = r.peer, s: string = r.server, h: string = r.host, m: Record<string, string> = r.meta, gen = 0) {
    this.t = t
    this.k0 = peerKey(t, 0)
    this.k1 = peerKey(t, 4)
    this.k2 = peerKey(t, 8)
    this.s = s
    this.h = h
    this.m = m
    this.v = new Version(r, exp, gen, undefined)
  }

  /** The newest record. */
  get r(): RoutingRecord {
    return this.v.r
  }

  /** The newest record's expiry. */
  get exp(): number {
    return this.v.exp
  }
}

/**
 * The version of `e` a snapshot at generation `gen` reads: the newest one made at or before
 * `gen`. Undefined only if the table cut a version a live snapshot needed (never, by design).
 */
export function versionAt(e: Entry, gen: number): Version | undefined {
  let v: Version | undefined = e.v
  while (v !== undefined && v.gen > gen) v = v.prev
  return v
}

/** A sorted set of entries (values unused: sorted-btree shares one array for them). */
export type EntryTree = BTree<Entry, undefined>

/** Names one index: a fixed field, or a meta key. */
export interface IndexRef {
  field: FieldName
  /** The meta key; present exactly when `field` is `meta`. */
  key?: string
}

/** Below every peer. */
export const LOW = ''
/** Above every peer (peers are base58, plain ASCII). */
export const HIGH = '\uffff'

/** The value of `ref`'s field in `r`, or undefined when the record is absent from that index. */
export function fieldValue(r: RoutingRecord, ref: IndexRef): string | undefined {
  switch (ref.field) {
    case 'peer':
      return r.peer
    case 'server':
      return r.server
    case 'host':
      return r.host === '' ? undefined : r.host
    case 'meta': {
      // Own properties only: `meta.constructor` must not read Object.prototype.
      const m = r.meta
      return ref.key !== undefined && Object.hasOwn(m, ref.key) ? m[ref.key] : undefined
    }
  }
}

/**
 * Code units i…i+3 of `t`, each clipped to 127 (peers are base58, plain ASCII below 127; the
 * probe tie-breaker U+FFFF becomes 127), missing ones as 0, packed in 28 bits (a small
 * integer, stored in the entry itself). Comparing (k0, k1, k2) orders entries as their
 * strings do, except that equal keys may still be different strings: the tie-breaker then
 * compares the strings. It settles nearly every peer comparison without reading the peer
 * string, a cache miss per comparison in a large index.
 */
function peerKey(t: string, i: number): number {
  let k = 0
  for (let j = i; j < i + 4; j++) {
    const c = j < t.length ? t.charCodeAt(j) : 0
    k = (k << 7) | (c > 127 ? 127 : c)
  }
  return k
}

// The peer tie-breaker: the packed code units first, the strings only when those are equal.
function cmpPeer(a: Entry, b: Entry): number {
  return a.k0 - b.k0 || a.k1 - b.k1 || a.k2 - b.k2 || cmpStr(a.t, b.t)
}

// `===` first: equal values (the common case within one index: one region, one role) are
// settled without an ordering comparison, and unequal ones take a single `<`.
function cmpStr(x: string, y: string): number {
  return x === y ? 0 : x < y ? -1 : 1
}

/**
 * The comparator of an index on `ref`: field value, then peer. The peer index is unique by
 * peer, so it compares the peer alone (see `probe` for its bounds).
 */
export function comparator(ref: IndexRef): (a: Entry, b: Entry) => number {
  switch (ref.field) {
    case 'peer':
      return cmpPeer
    case 'server':
      return (a, b) => cmpStr(a.s, b.s) || cmpPeer(a, b)
    case 'host':
      return (a, b) => cmpStr(a.h, b.h) || cmpPeer(a, b)
    case 'meta': {
      const key = ref.key as string
      return (a, b) => cmpStr(a.m[key] as string, b.m[key] as string) || cmpPeer(a, b)
    }
  }
}

/** Orders entries by their current expiry, soonest first, ties by peer. */
export function compareExpiry(a: Entry, b: Entry): number {
  return a.v.exp - b.v.exp || cmpPeer(a, b)
}

/** A new empty index ordered by `compare`. */
export function newTree(compare: (a: Entry, b: Entry) => number): EntryTree {
  return new BTreeCtor<Entry, undefined>(undefined, compare)
}

/** A new empty sorted map of numbers to `V` (write generations, expiry buckets). */
export function newNumberTree<V>(): BTree<number, V> {
  return new BTreeCtor<number, V>()
}

/** A new empty sorted map of strings (JavaScript string order) to `V` (the meta keys). */
export function newStringTree<V>(): BTree<string, V> {
  return new BTreeCtor<string, V>(undefined, cmpStr)
}

const NO_META: Record<string, string> = Object.freeze({}) as Record<string, string>
const NO_RECORD: RoutingRecord = Object.freeze({ peer: '', server: '', seq: 0, ttl: 0, host: '', meta: NO_META })

/**
 * A probe key for `ref`: sorts like value `value` with tie-breaker `tie` (LOW: before every
 * entry with that value; HIGH: after every one). A range walk treats its lower probe as
 * inclusive and its upper probe as exclusive. In the peer index, which compares the peer
 * alone, (v, LOW) is `v` itself (an entry equal to it is the first one in range) and
 * (v, HIGH) is `v + '\0'`, which sorts after v and before every longer or greater peer
 * (base58 has no NUL).
 */
export function probe(ref: IndexRef, value: string, tie: string): Entry {
  switch (ref.field) {
    case 'peer':
      return new Entry(NO_RECORD, 0, tie === LOW ? value : value + '\0', '', '', NO_META)
    case 'server':
      return new Entry(NO_RECORD, 0, tie, value, '', NO_META)
    case 'host':
      return new Entry(NO_RECORD, 0, tie, '', value, NO_META)
    case 'meta':
      return new Entry(NO_RECORD, 0, tie, '', '', { [ref.key as string]: value })
  }
}

/**
 * The least string greater than every string that starts with `v`, or undefined when there
 * is none (v empty or made only of U+FFFF code units). Strings compare by UTF-16 code unit.
 */
export function prefixEnd(v: string): string | undefined {
  let i = v.length - 1
  while (i >= 0 && v.charCodeAt(i) === 0xffff) i--
  if (i < 0) return undefined
  return v.slice(0, i) + String.fromCharCode(v.charCodeAt(i) + 1)
}

/** True when two index references name the same index. */
export function sameIndex(a: IndexRef, b: IndexRef): boolean {
  return a.field === b.field && (a.field !== 'meta' || a.key === b.key)
}

/** The IndexRef part of an AST `Index`. */
export function refOf(i: Index): IndexRef {
  return i.field === 'meta' ? { field: 'meta', key: i.key } : { field: i.field }
}
