/**
 * A snapshot of the routing table: the frozen field indexes, the time it was taken and the
 * write generation it reads. Writes after it copy the B-tree paths they touch and add newer
 * versions, so nothing it yields ever changes.
 *
 * A snapshot holds its generation (the table keeps the record versions it reads) until it is
 * released: `release()`, or the end of a `using` block (`Symbol.dispose`). A snapshot never
 * released is released when the collector reclaims it (a FinalizationRegistry), which may be
 * much later. Each scan holds the generation on its own, from its start to its end, so
 * releasing a snapshot never disturbs a scan already running on it.
 */
import type { ValuesIndex } from '../api.js'
import { WwError } from '../errors.js'
import type { Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import { execute, explain, type IndexSource } from './engine.js'
import type { Explain } from './plan.js'
import type { Trees } from './fields.js'
import type { EntryTree, IndexRef } from './indexes.js'
import { indexValues, treeIn } from './values.js'
import type { Generations, Hold } from './versions.js'

/** A snapshot was used (`scan`, `values`) after `release()`. */
export const ERR_SNAPSHOT_RELEASED = 'ERR_SNAPSHOT_RELEASED'

/**
 * A consistent, immutable view of the table at one instant. Release it when done
 * (`release()`, or `using snap = table.snapshot()`): until then the table keeps the record
 * versions it reads.
 */
export interface Snapshot extends Disposable {
  /** now() when taken; records expired at `at` are never yielded. */
  readonly at: number
  /** Live records at `at`. */
  readonly size: number
  /** True once released: `scan` and `values` then throw ERR_SNAPSHOT_RELEASED. */
  readonly released: boolean
  /**
   * Runs a statement lazily (LS semantics; `lookup` yields at most one). The statement must
   * come from `parseQuery` or `validateStatement`: it is not checked again. The scan holds
   * the snapshot's versions until it ends (done or `return()`), even past `release()`.
   */
  scan(s: Statement): Generator<RoutingRecord>
  /**
   * Distinct values of an index in order, live at `at`, starting with `prefix`, at most
   * `limit` of them. For `meta` without a key: the meta keys in use. Work: the values
   * returned (O(log n) each), not the size of the table.
   */
  values(index: ValuesIndex, prefix?: string, limit?: number): string[]
  /** Lets the table drop the versions only this snapshot reads. Idempotent. */
  release(): void
  /** `release()`, for `using`. */
  [Symbol.dispose](): void
}

/** A set of frozen trees as the engine reads them. */
class TreeSource implements IndexSource {
  readonly #t: Trees
  constructor(t: Trees) {
    this.#t = t
  }

  tree(ref: IndexRef): EntryTree | undefined {
    return treeIn(this.#t, ref)
  }
}

/**
 * A lazy scan of `s` over the frozen trees `t` at time `at` and generation `gen`, holding
 * `gen` from its start until it ends (done, or closed with `return()`, even before its first
 * pull); one dropped without either is ended when the collector reclaims it. What a
 * snapshot's `scan` runs, and the table's own queries without making a snapshot object.
 */
export function scanTrees(t: Trees, gens: Generations, s: Statement, at: number, gen: number): Generator<RoutingRecord> {
  const hold = gens.hold(gen)
  let it: Generator<RoutingRecord>
  try {
    it = execute(new TreeSource(t), s, at, gen, hold)
  } catch (err) {
    hold.end() // refused before the walk began
    throw err
  }
  // A scan dropped without being finished or closed is ended by the collector.
  gens.watch(it, hold)
  return it
}

/** The table's snapshot: frozen trees, a time and a generation. */
export class TableSnapshot implements Snapshot {
  readonly at: number
  readonly size: number
  /** The write generation it reads. */
  readonly gen: number
  readonly #t: Trees
  readonly #gens: Generations
  // Its own count on `gen`; undefined for a snapshot made only to start one scan at once.
  readonly #hold: Hold | undefined
  #released = false

  constructor(t: Trees, at: number, gen: number, size: number, gens: Generations, hold: Hold | undefined) {
    this.#t = t
    this.at = at
    this.gen = gen
    this.size = size
    this.#gens = gens
    this.#hold = hold
  }

  get released(): boolean {
    return this.#released
  }

  scan(s: Statement): Generator<RoutingRecord> {
    this.#check()
    return scanTrees(this.#t, this.#gens, s, this.at, this.gen)
  }

  /** How many records `scan(s)` yields, without handing any out. */
  count(s: Statement): number {
    let n = 0
    for (const _ of this.scan(s)) n++
    return n
  }

  /** Runs `s` and reports its plan, estimated and actual rows and time (EXPLAIN ANALYZE). */
  explain(s: Statement): Explain {
    this.#check()
    return explain(new TreeSource(this.#t), s, this.at, this.gen)
  }

  /** The snapshot's frozen indexes, for the planner (plan.ts): explain and tests. */
  treeOf(ref: IndexRef): EntryTree | undefined {
    return treeIn(this.#t, ref)
  }

  values(index: ValuesIndex, prefix = '', limit = Infinity): string[] {
    this.#check()
    return indexValues(this.#t, index, prefix, limit, this.at, this.gen)
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    if (this.#hold !== undefined) this.#gens.end(this.#hold)
  }

  [Symbol.dispose](): void {
    this.release()
  }

  #check(): void {
    if (this.#released) throw new WwError(ERR_SNAPSHOT_RELEASED, 'this snapshot was released')
  }
}
