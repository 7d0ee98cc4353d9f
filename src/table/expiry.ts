/**
 * Expiry: which entries expire when (the expiry index), the sweep timer armed at the next
 * expiry, and the tombstones that remember recent leaves and expiries.
 *
 * A record is live at t while t ≤ receivedAt + ttl (`Version.exp`). Reads filter by their own
 * time; the sweep only reclaims memory and emits 'expired', so its timing never changes a
 * result.
 */
import { compareExpiry, type Entry, newNumberTree } from './indexes.js'

/**
 * The table's default clock, in ms: `performance.timeOrigin + performance.now()`. It reads
 * like `Date.now()` when the process starts but is monotonic: it never steps when the wall
 * clock is set (NTP, an operator, a VM resumed), so a clock step neither expires live records
 * nor revives dead ones. Like the OS monotonic clock it stands still while the machine is
 * suspended.
 */
export function monotonicNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * The expiry index: entries in buckets of `width` ms of their current expiry (`e.v.exp`),
 * bucket numbers kept sorted. A heartbeat moves its entry between two buckets (two Set
 * operations) instead of a delete and an insert in a sorted tree; exactness comes from
 * reading `e.v.exp` of the entries in the first buckets, which hold only what expires
 * within `width` ms of the earliest expiry. The caller tells it the old expiry when an
 * entry's current version changes (`move`).
 */
export class ExpiryIndex {
  readonly #width: number
  readonly #buckets = new Map<number, Set<Entry>>()
  readonly #order = newNumberTree<undefined>()

  /** @param width Bucket width in ms. @default 64 */
  constructor(width = 64) {
    this.#width = width
  }

  /** Adds `e` under its current expiry. */
  add(e: Entry): void {
    const b = Math.floor(e.v.exp / this.#width)
    let set = this.#buckets.get(b)
    if (set === undefined) {
      set = new Set()
      this.#buckets.set(b, set)
      this.#order.set(b, undefined)
    }
    set.add(e)
  }

  /** Removes `e`, filed under `exp` (its current expiry unless told otherwise). */
  delete(e: Entry, exp: number = e.v.exp): void {
    const b = Math.floor(exp / this.#width)
    const set = this.#buckets.get(b)
    if (set === undefined || !set.delete(e) || set.size > 0) return
    this.#buckets.delete(b)
    this.#order.delete(b)
  }

  /** `e`'s current version replaced one that expired at `oldExp`: refile it. */
  move(e: Entry, oldExp: number): void {
    if (Math.floor(oldExp / this.#width) === Math.floor(e.v.exp / this.#width)) return
    this.delete(e, oldExp)
    this.add(e)
  }

  /** Entries whose current expiry is before `at`, soonest first (ties by peer). */
  expired(at: number): Entry[] {
    const out: Entry[] = []
    for (const b of this.#order.keys()) {
      if (b * this.#width >= at) break
      for (const e of this.#buckets.get(b) as Set<Entry>) if (e.v.exp < at) out.push(e)
    }
    return out.sort(compareExpiry)
  }

  /** How many entries expire before `at`: O(1 + buckets starting before `at` + the last one's size). */
  countExpired(at: number): number {
    let n = 0
    for (const b of this.#order.keys()) {
      if (b * this.#width >= at) break
      const set = this.#buckets.get(b) as Set<Entry>
      if ((b + 1) * this.#width <= at) n += set.size
      else for (const e of set) if (e.v.exp < at) n++
    }
    return n
  }

  /** The earliest current expiry, or undefined when empty. */
  min(): number | undefined {
    const b = this.#order.minKey()
    if (b === undefined) return undefined
    let m = Infinity
    for (const e of this.#buckets.get(b) as Set<Entry>) if (e.v.exp < m) m = e.v.exp
    return m
  }
}

/** Most tombstones a table keeps (~10 MiB of them): the oldest goes first. */
export const MAX_TOMBS = 65_536

/** The version of a leave (ttl 0) or of an expired record, remembered until `until`. */
export interface Tomb {
  seq: number
  server: string
  /** Last ms (table clock) at which it is remembered. */
  until: number
  /** A leave (true) or an expiry (false). */
  left: boolean
}

/**
 * Versions of recent leaves and expiries, so that a heartbeat of a departed or dead instance
 * delayed in the network doesn't bring it back. Kept in the order they were taken, so oldest
 * first (every tomb lives equally long).
 */
export class Tombstones {
  readonly #tombs = new Map<string, Tomb>()
  readonly #memory: number
  readonly #max: number

  /**
   * @param memory How long a leave or an expiry is remembered, in ms.
   * @param max Most tombs kept; past it the oldest is forgotten first. Signed leaves of
   *   made-up peers, or short-lived peers churning, cost their sender a key and a signature
   *   each but must not grow this map without bound. @default {@link MAX_TOMBS}
   */
  constructor(memory: number, max = MAX_TOMBS) {
    this.#memory = memory
    this.#max = max
  }

  /** How many leaves and expiries are remembered. */
  get size(): number {
    return this.#tombs.size
  }

  /** The remembered leave or expiry of `peer`, if any. */
  get(peer: string): Tomb | undefined {
    return this.#tombs.get(peer)
  }

  /** Remembers the leave (`left`) or the expiry of version `(seq, server)` of `peer`, at `now`. */
  add(peer: string, seq: number, server: string, now: number, left: boolean): void {
    this.#tombs.delete(peer) // re-inserted last: the map stays in order of time taken
    this.#tombs.set(peer, { seq, server, until: now + this.#memory, left })
    if (this.#tombs.size > this.#max) this.#tombs.delete(this.#tombs.keys().next().value!)
  }

  /** Forgets the tomb of `peer` (a newer record arrived). */
  delete(peer: string): void {
    this.#tombs.delete(peer)
  }

  /** Forgets every tomb remembered until before `now`. */
  forget(now: number): void {
    for (const [peer, tomb] of this.#tombs) {
      if (tomb.until >= now) break
      this.#tombs.delete(peer)
    }
  }
}

/**
 * One unref'd timer armed at the earliest expiry: an entry is swept the first millisecond
 * after its last live one. `arm` with every new expiry; the timer calls `sweep`, then re-arms
 * at what `next` says is the earliest expiry left.
 */
export class SweepTimer {
  readonly #now: () => number
  readonly #sweep: () => void
  readonly #next: () => number | undefined
  readonly #on: boolean
  #timer: NodeJS.Timeout | undefined
  #at = Infinity
  #closed = false

  /**
   * @param on false: never arm (sweeps happen only on demand).
   * @param now The table's clock.
   * @param sweep Sweeps what is expired now.
   * @param next The earliest expiry left, if any.
   */
  constructor(on: boolean, now: () => number, sweep: () => void, next: () => number | undefined) {
    this.#on = on
    this.#now = now
    this.#sweep = sweep
    this.#next = next
  }

  /** Makes sure the timer fires by `exp + 1` (table clock). */
  arm(exp: number): void {
    if (!this.#on || this.#closed || exp >= this.#at) return
    this.#disarm()
    this.#at = exp
    const delay = Math.min(Math.max(exp + 1 - this.#now(), 0), 2 ** 31 - 1)
    this.#timer = setTimeout(() => this.#fire(), delay)
    this.#timer.unref()
  }

  /** Stops the timer for good. */
  close(): void {
    this.#closed = true
    this.#disarm()
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#at = Infinity
  }

  #fire(): void {
    this.#timer = undefined
    this.#at = Infinity
    try {
      this.#sweep()
    } finally {
      const next = this.#next()
      if (next !== undefined) this.arm(next)
    }
  }
}
