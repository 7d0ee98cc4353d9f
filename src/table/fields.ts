/**
 * The field indexes of the table: sorted-btree sets of entries by peer, server, host and one
 * per meta key, and the frozen (copy-on-write) clones of them that snapshots read.
 *
 * The entry object itself is the B-tree key in every field index (each index has its own
 * comparator), so an index costs about one pointer per record. A record lacking a field is
 * absent from its index. `BTree.clone()` is O(1) copy-on-write: later writes copy the paths
 * they touch and never change what a clone yields. The clones are cached until a write
 * changes a field index, so queries share one set across heartbeats.
 */
import { comparator, type Entry, type EntryTree, type IndexRef, newTree } from './indexes.js'

/** One set of field indexes (live, or frozen for snapshots). */
export interface Trees {
  peer: EntryTree
  server: EntryTree
  host: EntryTree
  meta: Map<string, EntryTree>
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
    meta: new Map(),
  }
  #frozen: Trees | undefined

  /**
   * The indexes as they are now, never changed later: O(number of indexes), O(1) when no
   * field index changed since the last call.
   */
  frozen(): Trees {
    if (this.#frozen === undefined) {
      const t = this.#t
      const meta = new Map<string, EntryTree>()
      for (const [k, tree] of t.meta) meta.set(k, tree.clone())
      this.#frozen = { peer: t.peer.clone(), server: t.server.clone(), host: t.host.clone(), meta }
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

  #metaTree(key: string): EntryTree {
    let tree = this.#t.meta.get(key)
    if (tree === undefined) {
      tree = newTree(comparator({ field: 'meta', key }))
      this.#t.meta.set(key, tree)
    }
    return tree
  }

  #metaDelete(key: string, e: Entry): void {
    const tree = this.#t.meta.get(key)
    if (tree === undefined) return
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
