/**
 * The field indexes of the table: sorted-btree sets of entries by peer, server, host and one
 * per meta key (the meta key indexes themselves kept in a sorted map by key), and the frozen
 * copy-on-write clones of them that snapshots read.
 *
 * The entry object itself is the B-tree key in every field index (each index has its own
 * comparator), so an index costs about one pointer per record. A record lacking a field is
 * absent from its index. `BTree.clone()` is O(1) copy-on-write: later writes copy the paths
 * they touch and never change what a clone yields.
 *
 * Freezing is O(1) whatever the number of meta keys: it clones the three field trees and the
 * map of meta keys, and starts a new epoch. A meta key index made in an earlier epoch may be
 * shared with a frozen map, so the first write to it in the new epoch clones it (O(1)) and
 * puts the clone in the live map; later writes in the epoch go to that clone directly.
 * Frozen clones are cached until a write changes a field index, so queries share one set
 * across heartbeats.
 */
import { type BTree, comparator, type Entry, type EntryTree, type IndexRef, newStringTree, newTree } from './indexes.js'

/** A meta key's index, and the epoch it was made or cloned in (see the file comment). */
export interface MetaIndex {
  readonly tree: EntryTree
  readonly epoch: number
}

/** One set of field indexes (live, or frozen for snapshots). */
export interface Trees {
  readonly peer: EntryTree
  readonly server: EntryTree
  readonly host: EntryTree
  /** Meta key → its index, in key order; a key is present while some entry has it. */
  readonly meta: BTree<string, MetaIndex>
}

const PEER: IndexRef = { field: 'peer' }
const SERVER: IndexRef = { field: 'server' }
const HOST: IndexRef = { field: 'host' }

/** The table's field indexes. */
export class FieldIndexes {
  readonly #t: Trees = {
    peer: newTree(comparator(PEER)),
    server: newTree(comparator(SERVER)),
    host: newTree(comparator(HOST)),
    meta: newStringTree<MetaIndex>(),
  }
  #frozen: Trees | undefined
  // Meta indexes of this epoch belong to the live map alone; older ones may be shared.
  #epoch = 0

  /** The indexes as they are now, for reads that end before the next write (`values`). */
  get live(): Trees {
    return this.#t
  }

  /**
   * The indexes as they are now, never changed later: O(1), and the same object until a
   * write changes a field index.
   */
  frozen(): Trees {
    if (this.#frozen === undefined) {
      const t = this.#t
      this.#frozen = { peer: t.peer.clone(), server: t.server.clone(), host: t.host.clone(), meta: t.meta.clone() }
      this.#epoch++
    }
    return this.#frozen
  }

  /** Puts a new entry in the index of each field it has. */
  insert(e: Entry): void {
    const r = e.r
    const t = this.#t
    this.#frozen = undefined
    t.peer.set(e, undefined)
    t.server.set(e, undefined)
    if (r.host !== '') t.host.set(e, undefined)
    for (const k of Object.keys(r.meta)) this.#metaTree(k).set(e, undefined)
  }

  /** Takes an entry out of every index. */
  remove(e: Entry): void {
    const r = e.r
    const t = this.#t
    this.#frozen = undefined
    t.peer.delete(e)
    t.server.delete(e)
    if (r.host !== '') t.host.delete(e)
    for (const k of Object.keys(r.meta)) this.#metaDelete(k, e)
  }

  /**
   * A newer entry of the same peer takes `old`'s place. Where a field kept its value the new
   * entry takes the old one's place in one step (sorted-btree overwrites the key); elsewhere
   * delete + insert.
   */
  replace(old: Entry, e: Entry): void {
    const a = old.v.r
    const b = e.v.r
    const t = this.#t
    this.#frozen = undefined
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
      this.#metaDelete(k, old)
    }
    for (const k of Object.keys(b.meta)) this.#metaTree(k).set(e, undefined)
  }

  // The live index of `key`, made or unshared (cloned) as needed: safe to write.
  #metaTree(key: string): EntryTree {
    const meta = this.#t.meta
    const m = meta.get(key)
    if (m !== undefined && m.epoch === this.#epoch) return m.tree
    const tree = m === undefined ? newTree(comparator({ field: 'meta', key })) : m.tree.clone()
    meta.set(key, { tree, epoch: this.#epoch })
    return tree
  }

  #metaDelete(key: string, e: Entry): void {
    if (!this.#t.meta.has(key)) return
    const tree = this.#metaTree(key)
    tree.delete(e)
    if (tree.size === 0) this.#t.meta.delete(key)
  }
}

/** True when `r` has exactly the indexed fields of `e` (peer aside): then it can be a new
 * version of `e` without touching any field index. */
export function sameFields(e: Entry, r: { server: string; host: string; meta: Record<string, string> }): boolean {
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
