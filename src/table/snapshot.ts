/**
 * A snapshot of the routing table: the frozen field indexes, the time it was taken and the
 * write generation it reads. Writes after it copy the B-tree paths they touch and add newer
 * versions, so nothing it yields ever changes.
 */
import type { ValuesIndex } from '../api.js'
import type { Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import { execute, explain } from './engine.js'
import type { Explain } from './plan.js'
import type { Trees } from './fields.js'
import { type Entry, type EntryTree, fieldValue, type IndexRef, LOW, probe, versionAt } from './indexes.js'

/** A consistent, immutable view of the table at one instant. */
export interface Snapshot {
  /** now() when taken; records expired at `at` are never yielded. */
  readonly at: number
  /** Live records at `at`. */
  readonly size: number
  /**
   * Runs a statement lazily (LS semantics; `lookup` yields at most one). The statement must
   * come from `parseQuery` or `validateStatement`: it is not checked again.
   */
  scan(s: Statement): Generator<RoutingRecord>
  /**
   * Distinct values of an index in order, live at `at`, starting with `prefix`, at most
   * `limit` of them. For `meta` without a key: the meta keys in use.
   */
  values(index: ValuesIndex, prefix?: string, limit?: number): string[]
}

/** The table's snapshot: frozen trees, a time and a generation. */
export class TableSnapshot implements Snapshot {
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

  /** How many records `scan(s)` yields, without handing any out. */
  count(s: Statement): number {
    let n = 0
    for (const _ of this.scan(s)) n++
    return n
  }

  /** Runs `s` and reports its plan, estimated and actual rows and time (EXPLAIN ANALYZE). */
  explain(s: Statement): Explain {
    return explain({ tree: (ref) => this.#tree(ref) }, s, this.at, this.gen)
  }

  /** The snapshot's frozen indexes, for the planner (plan.ts): explain and tests. */
  treeOf(ref: IndexRef): EntryTree | undefined {
    return this.#tree(ref)
  }

  values(index: ValuesIndex, prefix = '', limit = Infinity): string[] {
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
