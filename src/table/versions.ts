/**
 * Write generations and the snapshots that read them.
 *
 * Every version the table makes gets the next write generation. A snapshot reads, of each
 * entry, the newest version whose generation is not newer than its own, so the table must
 * keep a version for as long as some live snapshot reads it. `Generations` counts the live
 * snapshots per generation (a sorted tree) and, when a heartbeat adds a version, cuts the
 * versions behind it that no live generation reads (`trim`).
 */
import { type BTree, newNumberTree, type Version } from './indexes.js'

/**
 * One reader's count on a generation (a snapshot's, or a running scan's). Ended once: by an
 * explicit release (`end()`), or by the collector when the object it watches is reclaimed.
 */
export class Hold {
  /** True once ended; ending again does nothing. */
  ended = false
  /** True while a FinalizationRegistry watches an object for it. */
  watched = false
  /** The generation held. */
  readonly gen: number
  readonly #gens: Generations

  constructor(gens: Generations, gen: number) {
    this.#gens = gens
    this.gen = gen
  }

  /** Ends this hold (`Generations.end`). Idempotent; true when this call ended it. */
  end(): boolean {
    return this.#gens.end(this)
  }
}

/** The write generation counter and the generations live snapshots read. */
export class Generations {
  // Write generation: bumped by every version made. A snapshot reads generation ≤ its own.
  #gen = 0
  // Generations of the holds not yet ended (count per generation), sorted; the holds of the
  // current generation are only counted (#current) until a write makes the next one. The
  // common read (a query between two heartbeats) then costs no tree insert and delete, and
  // `trim`, which runs right after `next()`, still sees every live generation.
  readonly #live: BTree<number, number> = newNumberTree<number>()
  #current = 0
  // True once the current generation's holds went into the tree (`trim` without `next`).
  #flushed = false
  // The backstop for holds nobody ends: the hold is both the held value and the token.
  readonly #registry = new FinalizationRegistry<Hold>((h) => this.end(h))

  /** The newest generation made. */
  get current(): number {
    return this.#gen
  }

  /** Makes the next generation (for a new version) and returns it. */
  next(): number {
    this.#flush()
    this.#flushed = false
    return ++this.#gen
  }

  /** Counts one more reader of `gen` (a generation already held, or the current one). */
  hold(gen: number): Hold {
    if (gen === this.#gen && !this.#flushed) this.#current++
    else this.#live.set(gen, (this.#live.get(gen) ?? 0) + 1)
    return new Hold(this, gen)
  }

  // The holds counted on the current generation enter the tree.
  #flush(): void {
    if (this.#current === 0) return
    this.#live.set(this.#gen, (this.#live.get(this.#gen) ?? 0) + this.#current)
    this.#current = 0
    this.#flushed = true
  }

  /**
   * Ends `h` once the collector reclaims `target`, unless it is ended before. `target` must
   * not be reachable from `h`.
   */
  watch(target: object, h: Hold): void {
    if (h.ended) return
    h.watched = true
    this.#registry.register(target, h, h)
  }

  /** Ends a hold: its reader is done. Idempotent; returns true when this call ended it. */
  end(h: Hold): boolean {
    if (h.ended) return false
    h.ended = true
    if (h.watched) this.#registry.unregister(h)
    // Held on the current generation: only counted (see #current); older: in the tree.
    if (h.gen === this.#gen && !this.#flushed) {
      this.#current--
      return true
    }
    const c = (this.#live.get(h.gen) ?? 1) - 1
    if (c <= 0) this.#live.delete(h.gen)
    else this.#live.set(h.gen, c)
    return true
  }

  /** How many holds are not ended (for tests and stats). */
  get holds(): number {
    let n = this.#current
    for (const c of this.#live.values()) n += c
    return n
  }

  /**
   * The chain a new version keeps behind it when it replaces `head`: only the versions a live
   * snapshot reads. A snapshot at generation G reads the newest version with gen ≤ G, so a
   * version is kept when some live G lies between its gen and the next newer version's;
   * the others are unlinked. Unlinking a version nobody reads never changes what a reader
   * finds: its walk skips versions newer than its generation and stops at the one it needs,
   * which is kept. Cost: O(chain · log L), L = live generations; the chain holds at most one
   * version per live generation.
   */
  trim(head: Version): Version | undefined {
    this.#flush()
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
}
