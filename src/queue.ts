/**
 * BoundedQueue: the one bounded FIFO between a producer that pushes and a consumer that
 * pulls, behind every buffer of ww — a connection's received frames (transport/frame-queue),
 * a pubsub subscription (cluster/pubsub-buffer), a remote stream on the client
 * (proto/client/remote-stream) — and exported from `ww/transport` for plugins.
 *
 * The queue is the mechanism; each user states its overflow policy through the options:
 *
 * - **bounds**: `maxItems` items and `maxSize` size units, where an item's size is
 *   `sizeOf(item) + itemOverhead` (the overhead bounds a flood of empty items too);
 * - **overflow**: what `push` does when an item would break a bound: `'refuse'` (push returns
 *   false and keeps nothing; the producer decides — a transport resets the connection) or
 *   `'drop-oldest'` (the oldest items make room, each reported to `onDrop` and counted in
 *   `dropped`; an item too large for `maxSize` on its own is still kept, alone);
 * - **flow control**: `pauseAt` asks the producer to stop (`onPause`) once the queue holds that
 *   many items or that much size, and `onResume` once the consumer has brought both down to
 *   `resumeAt` (half of `pauseAt` unless given). Pausing is how backpressure reaches a
 *   network peer: a paused socket stops reading and TCP stops the sender.
 *
 * The consumer's end is an async iterator. `next()` always returns a promise; `poll()` returns
 * the result itself while an item is held and a promise only when it has to wait, so a
 * consumer that accepts both (Cursor, the protocol's stream sender) drains a backlog without
 * a promise per item. An item pushed while a read waits goes straight to that reader and is
 * never held (it counts against no bound).
 *
 * Ends: `end(err?)` (the producer is done: held items are still read, then the reader gets
 * `err` once, or a clean end), `fail(err?)` (ends at once: held items are dropped) and
 * `return()` (the consumer stopped: held items are dropped and `onReturn` tells the
 * producer). After any end, pushes are ignored and every read past the error reports done.
 *
 * Not thread-safe (nothing in JavaScript is), no timers, no I/O: its accounting is tested on
 * its own (test/queue.test.ts).
 */

/** What `push` does with an item that would break `maxItems` or `maxSize`. */
export type Overflow = 'refuse' | 'drop-oldest'

/** Levels of a queue: a count of items and a size. */
export interface QueueLevels {
  /** Items held. @default Infinity */
  items?: number
  /** Size held (the sum of `sizeOf`, without `itemOverhead`). @default Infinity */
  size?: number
}

/** Bounds, overflow policy and flow-control hooks of a {@link BoundedQueue}. */
export interface BoundedQueueInit<T> {
  /**
   * The size of one item, e.g. its byte length: a whole number ≥ 0, the same every time it
   * is asked about the same item.
   * @default () => 0 (only the count bounds the queue)
   */
  sizeOf?: (item: T) => number
  /**
   * Most items held at once.
   * @default Infinity
   */
  maxItems?: number
  /**
   * Most size held at once, counted as the sum of `sizeOf(item) + itemOverhead` over the held
   * items.
   * @default Infinity
   */
  maxSize?: number
  /**
   * Size charged per held item against `maxSize` on top of `sizeOf`, so that a flood of empty
   * items is bounded too.
   * @default 0
   */
  itemOverhead?: number
  /**
   * What `push` does when an item would break `maxItems` or `maxSize`: `'refuse'` returns
   * false and keeps nothing; `'drop-oldest'` drops held items, oldest first, until it fits.
   * @default 'refuse'
   */
  overflow?: Overflow
  /** Called with each item `'drop-oldest'` dropped. @default undefined */
  onDrop?: (item: T) => void
  /**
   * Ask the producer to stop (`onPause`) once the queue holds this many items or this much
   * size (either one).
   * @default undefined (never pauses)
   */
  pauseAt?: QueueLevels
  /**
   * Tell the producer to go on (`onResume`) once the queue holds at most this many items and
   * at most this much size (both).
   * @default half of `pauseAt`, rounded down
   */
  resumeAt?: QueueLevels
  /** The producer should stop: the queue reached `pauseAt`. @default undefined */
  onPause?: () => void
  /** The producer may go on: a paused queue came down to `resumeAt`. @default undefined */
  onResume?: () => void
  /**
   * The consumer called `return()` on a queue that had not ended: it wants no more items.
   * @default undefined
   */
  onReturn?: () => void
}

interface Waiter<T> {
  resolve: (r: IteratorResult<T, undefined>) => void
  reject: (err: Error) => void
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined })

function checkLevel(name: string, v: number, min: number): number {
  if (!(v >= min) || (v !== Infinity && !Number.isSafeInteger(v))) {
    throw new RangeError(`BoundedQueue: ${name} must be a whole number ≥ ${min} (or Infinity), got ${v}`)
  }
  return v
}

/**
 * A bounded FIFO with a stated overflow policy, pause/resume hooks for the producer and an
 * async-iterator end for the consumer. See the module comment for the rules.
 */
export class BoundedQueue<T> implements AsyncIterator<T, undefined>, AsyncIterable<T> {
  readonly maxItems: number
  readonly maxSize: number
  readonly #sizeOf: (item: T) => number
  readonly #overhead: number
  readonly #overflow: Overflow
  readonly #init: BoundedQueueInit<T>
  readonly #pauseItems: number
  readonly #pauseSize: number
  readonly #resumeItems: number
  readonly #resumeSize: number
  // Items live in #items[#head…]; the consumed prefix is cut off now and then.
  #items: Array<T | undefined> = []
  #head = 0
  #size = 0
  #peak = 0
  #dropped = 0
  #paused = false
  #ended = false
  // The end error is reported once; once a read reported the end (error or done), later
  // reads report done.
  #error: Error | undefined
  #finished = false
  #waiters: Array<Waiter<T>> = []

  constructor(init: BoundedQueueInit<T> = {}) {
    this.#init = init
    this.maxItems = checkLevel('maxItems', init.maxItems ?? Infinity, 1)
    this.maxSize = checkLevel('maxSize', init.maxSize ?? Infinity, 0)
    this.#overhead = checkLevel('itemOverhead', init.itemOverhead ?? 0, 0)
    this.#sizeOf = init.sizeOf ?? (() => 0)
    this.#overflow = init.overflow ?? 'refuse'
    if (this.#overflow !== 'refuse' && this.#overflow !== 'drop-oldest') throw new RangeError(`BoundedQueue: unknown overflow policy ${String(this.#overflow)}`)
    this.#pauseItems = checkLevel('pauseAt.items', init.pauseAt?.items ?? Infinity, 1)
    this.#pauseSize = checkLevel('pauseAt.size', init.pauseAt?.size ?? Infinity, 0)
    const half = (v: number): number => (v === Infinity ? Infinity : Math.floor(v / 2))
    this.#resumeItems = checkLevel('resumeAt.items', init.resumeAt?.items ?? half(this.#pauseItems), 0)
    this.#resumeSize = checkLevel('resumeAt.size', init.resumeAt?.size ?? half(this.#pauseSize), 0)
  }

  /** Items held, waiting for the consumer. */
  get length(): number {
    return this.#items.length - this.#head
  }

  /** Sum of `sizeOf` over the held items. */
  get size(): number {
    return this.#size
  }

  /** The most items ever held at once. */
  get peak(): number {
    return this.#peak
  }

  /** Items dropped by the `'drop-oldest'` policy since the queue was made. */
  get dropped(): number {
    return this.#dropped
  }

  /** True while the producer has been asked to stop (between `onPause` and `onResume`). */
  get paused(): boolean {
    return this.#paused
  }

  /** True once `end`, `fail` or `return` was called: no more items are accepted. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * Hands one item to the consumer. Returns false only when the `'refuse'` policy refused it
   * (the queue is unchanged). After the queue ended, the item is ignored and true is returned:
   * there is nothing for the producer to do about it.
   */
  push(item: T): boolean {
    if (this.#ended) return true
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      // A reader is waiting, so nothing is held: the item goes straight to it.
      waiter.resolve({ done: false, value: item })
      return true
    }
    const s = this.#sizeOf(item)
    if (this.#overflow === 'refuse') {
      if (this.#wouldOverflow(s)) return false
    } else {
      while (this.length > 0 && this.#wouldOverflow(s)) {
        const old = this.#take()
        this.#dropped++
        this.#init.onDrop?.(old)
      }
    }
    this.#items.push(item)
    this.#size += s
    if (this.length > this.#peak) this.#peak = this.length
    if (!this.#paused && (this.length >= this.#pauseItems || this.#size >= this.#pauseSize)) {
      this.#paused = true
      this.#init.onPause?.()
    }
    return true
  }

  /** Takes the oldest held item without waiting; undefined when none is held. */
  shift(): T | undefined {
    if (this.length === 0) return undefined
    const item = this.#take()
    this.#maybeResume()
    return item
  }

  /**
   * The next item: the result itself while one is held, a promise when the reader has to wait
   * or the queue ended with an error (rejected with it, once).
   */
  poll(): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> {
    if (this.length > 0) {
      const item = this.#take()
      this.#maybeResume()
      return { done: false, value: item }
    }
    if (this.#ended) {
      const err = this.#takeError()
      return err === undefined ? DONE : Promise.reject(err)
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  /** The next item, always as a promise (the AsyncIterator method). */
  next(): Promise<IteratorResult<T, undefined>> {
    const r = this.poll()
    return r instanceof Promise ? r : Promise.resolve(r)
  }

  /**
   * The producer is done. Held items are still read; then the reader gets `err` once (a
   * rejected read), or a clean end.
   */
  end(err?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = err
    if (this.length === 0) this.#settleWaiters()
  }

  /**
   * Ends at once: held items are dropped; the reader gets `err` once, or a clean end. After an
   * `end()` whose end no read has reported yet, `err` replaces the error given there.
   */
  fail(err?: Error): void {
    if (this.#finished) return
    this.#error = err
    this.#ended = true
    this.#clear()
    this.#settleWaiters()
  }

  /**
   * The consumer stopped reading: held items are dropped, waiting reads report done and, if
   * the queue had not ended, `onReturn` tells the producer. Always resolves done.
   */
  return(): Promise<IteratorResult<T, undefined>> {
    const wasLive = !this.#ended
    this.#ended = true
    this.#finished = true
    this.#clear()
    this.#settleWaiters()
    if (wasLive) this.#init.onReturn?.()
    return Promise.resolve(DONE)
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  #wouldOverflow(s: number): boolean {
    return this.length + 1 > this.maxItems || this.#size + s + (this.length + 1) * this.#overhead > this.maxSize
  }

  #take(): T {
    const item = this.#items[this.#head] as T
    this.#items[this.#head] = undefined
    this.#head++
    this.#size -= this.#sizeOf(item)
    // Cut the consumed prefix once it dominates, so memory follows the live length.
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  #clear(): void {
    this.#items = []
    this.#head = 0
    this.#size = 0
  }

  #maybeResume(): void {
    if (!this.#paused || this.#ended) return
    if (this.length <= this.#resumeItems && this.#size <= this.#resumeSize) {
      this.#paused = false
      this.#init.onResume?.()
    }
  }

  /** The end, as a read reports it: the error the first time, then undefined (done). */
  #takeError(): Error | undefined {
    if (this.#finished) return undefined
    this.#finished = true
    return this.#error
  }

  #settleWaiters(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) {
      // Only the first pending read sees the error; the rest see the end.
      const err = this.#takeError()
      if (err !== undefined) w.reject(err)
      else w.resolve(DONE)
    }
  }
}
