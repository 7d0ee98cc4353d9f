/**
 * The one iterator shape of ww. Local table scans, remote query streams and pubsub
 * subscriptions all hand out a `Cursor<T>`, so a consumer writes the same loop for each:
 *
 *   for await (const r of cursor) { … }          // throws the stream's error, if any
 *
 * or the explicit form, which never throws:
 *
 *   let r
 *   while ((r = await cursor.next()) !== undefined) { … }
 *   if (cursor.err()) …                           // the error that ended the stream
 *
 * A cursor is cancelled by its AbortSignal, by `cancel()`, or by breaking out of `for await`;
 * cancelling runs the source's `return()` (its `finally` blocks), which is how a remote
 * stream tells the node to stop. A cancelled cursor ends with an ERR_ABORTED error when
 * cancelled by signal, and ends cleanly (no error) when the consumer itself stopped it.
 */
import { abortError } from './errors.js'

/** Options accepted by every operation that produces a cursor. */
export interface CursorOptions {
  /** Cancels the stream: the cursor ends with an ERR_ABORTED error and the source is closed. */
  signal?: AbortSignal
}

/** Most records `Cursor.nextBatch()` and `Cursor.batches()` hand out at once, by default. */
export const DEFAULT_BATCH = 1024

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

// Marks a prefetched step's rejection as handled: it is reported when the step is consumed.
function ignore(): void {}

// Cursor's one read (its private #step), for CursorIterator: set by Cursor's static block.
let stepOf: <T>(c: Cursor<T>) => IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>>

/**
 * What a source may offer besides `next()`: `takeReady(out, max)` appends the values it has
 * ready now, without waiting, until `out` holds `max` — the same values, in the same order,
 * that `next()` would answer synchronously — and throws what such a `next()` would throw
 * (after appending the values before it). `Cursor.nextBatch` uses it to take a buffered
 * batch in one call.
 */
export interface BulkSource<T> {
  takeReady(out: T[], max: number): void
}

/**
 * A stream of values from a pull source (see the file comment). Three ways to read it, which
 * yield the same values in the same order and end the same way:
 * `for await` (throws the stream's error), `next()` with `err()` (never throws), and
 * `nextBatch()` / `batches()`, which hand out every value the source has ready at once: no
 * promise per value, one per batch.
 */
export class Cursor<T> implements AsyncIterable<T> {
  #source: AsyncIterator<T> | Iterator<T>
  #done = false
  #error: Error | undefined
  #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined
  #iterating = false
  // A step `nextBatch` asked the source for and found not ready (a promise): the next read
  // starts with it, so no value is lost or reordered.
  #ahead: Promise<IteratorResult<T>> | undefined
  // Set while a read waits on an async source: ending the cursor from outside (cancel,
  // abort) ends that wait too, since the source may never answer. A fresh promise per wait,
  // not a race against one long-lived "stopped" promise: every such race would leave a
  // reaction (holding the value it resolved with) on that promise for the cursor's lifetime.
  #onStop: (() => void) | undefined

  /**
   * Wraps a pull source. The source may be synchronous (a lazy generator over a snapshot)
   * or asynchronous (a network stream); either way nothing is computed before the first
   * read. An asynchronous source may answer `next()` with a plain result when it has a value
   * ready (as a remote stream does from its buffer): the cursor takes it without waiting.
   */
  constructor(source: AsyncIterable<T> | Iterable<T> | AsyncIterator<T> | Iterator<T>, options: CursorOptions = {}) {
    this.#source = toIterator(source)
    this.#signal = options.signal
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) {
        this.#fail(abortError(this.#signal))
      } else {
        this.#onAbort = () => this.#fail(abortError(this.#signal))
        this.#signal.addEventListener('abort', this.#onAbort, { once: true })
      }
    }
  }

  /** An already exhausted cursor (what the null capability hands out). */
  static empty<T>(): Cursor<T> {
    return new Cursor<T>([])
  }

  /** A cursor that ends at once with `error`. */
  static failed<T>(error: Error): Cursor<T> {
    const c = new Cursor<T>([])
    c.#fail(error)
    return c
  }

  /** The next value, or `undefined` once the stream has ended (cleanly or with an error). */
  async next(): Promise<T | undefined> {
    const r = this.#step()
    return (isPromise(r) ? await r : r).value
  }

  /**
   * The values ready now, at least one: waits only when none is ready, then takes every
   * value the source hands over without waiting, up to `max`. An empty array once the stream
   * has ended (cleanly or with an error: see `err()`); values read before an error are
   * handed out first, as `next()` does. When the source has nothing ready after the first
   * value, the cursor keeps the source's pending answer and the next read starts with it.
   * @param max most values returned; a whole number ≥ 1. @default DEFAULT_BATCH (1024)
   */
  async nextBatch(max: number = DEFAULT_BATCH): Promise<T[]> {
    if (!(Number.isSafeInteger(max) && max >= 1)) throw new RangeError(`nextBatch: max must be a whole number ≥ 1, got ${String(max)}`)
    const first = this.#step()
    const r = isPromise(first) ? await first : first
    if (r.done === true) return []
    const out: T[] = [r.value]
    // A source that can hand over what it has ready in bulk (a remote stream's buffered
    // batches) does so; the loop below then finds it waiting, or ended.
    const takeReady = (this.#source as Partial<BulkSource<T>>).takeReady
    if (takeReady !== undefined && !this.#done) {
      try {
        takeReady.call(this.#source, out, max)
      } catch (err) {
        this.#fail(toError(err))
        return out
      }
    }
    while (out.length < max && !this.#done) {
      let step: IteratorResult<T> | Promise<IteratorResult<T>>
      try {
        step = this.#source.next()
      } catch (err) {
        this.#fail(toError(err))
        break
      }
      if (isPromise(step)) {
        step.then(undefined, ignore)
        this.#ahead = step
        break
      }
      if (step.done === true) {
        this.#finish()
        break
      }
      out.push(step.value)
    }
    return out
  }

  /**
   * The stream in batches (see `nextBatch`) for `for await`: throws the stream's error after
   * the last batch, and breaking out of the loop cancels the stream, as `for await` over the
   * cursor itself does. Like that loop, it can be started only once per cursor.
   * @param max most values per batch; a whole number ≥ 1. @default DEFAULT_BATCH (1024)
   */
  batches(max: number = DEFAULT_BATCH): AsyncIterableIterator<T[]> {
    if (!(Number.isSafeInteger(max) && max >= 1)) throw new RangeError(`batches: max must be a whole number ≥ 1, got ${String(max)}`)
    return this.#iterate<T[]>(max)
  }

  /** The error that ended the stream, or `undefined` while it runs or after a clean end. */
  err(): Error | undefined {
    return this.#error
  }

  /** True once the stream has ended, for whatever reason. */
  get done(): boolean {
    return this.#done
  }

  /** Stops the stream from the consumer side: a clean end, and the source is closed. */
  cancel(): void {
    if (this.#done) return
    this.#finish()
    closeSource(this.#source)
  }

  /** Reads everything left into an array; throws the stream's error, if any. */
  async toArray(): Promise<T[]> {
    const out: T[] = []
    for await (const b of this.batches()) for (const v of b) out.push(v)
    return out
  }

  /**
   * `for await` over the cursor. A plain iterator object rather than an async generator: a
   * value the source has ready costs one resolved promise, not a generator's own promises
   * on top of `next()`'s.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this.#iterate<T>(0)
  }

  // The iterator behind `for await` and `batches()` (see CursorIterator).
  #iterate<V>(batch: number): AsyncIterableIterator<V> {
    const started = this.#iterating
    this.#iterating = true
    return new CursorIterator<V>(this, started, batch)
  }

  static {
    stepOf = (c) => c.#step()
  }

  // One read: the source's result as is when it answered at once, a promise only when it
  // has to wait; after the end, DONE.
  #step(): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> {
    if (this.#done) return DONE
    let step: IteratorResult<T> | Promise<IteratorResult<T>>
    try {
      const ahead = this.#ahead
      this.#ahead = undefined
      step = ahead ?? this.#source.next()
    } catch (err) {
      this.#fail(toError(err))
      return DONE
    }
    // A synchronous answer (a snapshot scan, a buffered remote item) is taken as is; only a
    // pending promise can outlive a cancel, so only that one is raced against it.
    if (!isPromise(step)) return this.#settle(step)
    return this.#orStop(step).then(
      (r) => this.#settle(r),
      (err: unknown) => {
        if (!this.#done) this.#fail(toError(err))
        return DONE
      },
    )
  }

  #settle(r: IteratorResult<T>): IteratorResult<T, undefined> {
    if (this.#done) return DONE // cancelled while waiting
    if (r.done === true) {
      this.#finish()
      return DONE
    }
    return r
  }

  #finish(): void {
    this.#done = true
    this.#onStop?.()
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#onAbort = undefined
  }

  async #orStop(step: Promise<IteratorResult<T>>): Promise<IteratorResult<T>> {
    try {
      return await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.#onStop = () => resolve(DONE)
        step.then(resolve, reject)
      })
    } finally {
      this.#onStop = undefined
    }
  }

  #fail(error: Error): void {
    if (this.#done) return
    this.#error = error
    this.#finish()
    closeSource(this.#source)
  }
}

function batchResult<T>(b: T[]): IteratorResult<T[], undefined> {
  return b.length === 0 ? DONE : { done: false, value: b }
}

/**
 * The iterator behind `for await` over a cursor (`batch` 0: one value per step) and behind
 * `batches(max)` (`batch` = max). A class rather than closures: a query read by `for await`
 * makes one of these, and its methods are shared. A value the source has ready costs one
 * resolved promise; the end throws the stream's error once; `return()` (break) cancels.
 */
class CursorIterator<V> implements AsyncIterableIterator<V> {
  readonly #cursor: Cursor<unknown>
  readonly #started: boolean
  readonly #batch: number
  #thrown = false

  constructor(cursor: Cursor<unknown>, started: boolean, batch: number) {
    this.#cursor = cursor
    this.#started = started
    this.#batch = batch
  }

  next(): Promise<IteratorResult<V, undefined>> {
    if (this.#started) return Promise.reject(new Error('a Cursor can be iterated only once'))
    if (this.#batch > 0) return this.#cursor.nextBatch(this.#batch).then((b) => this.#end(batchResult(b) as IteratorResult<V, undefined>))
    const r = stepOf(this.#cursor) as IteratorResult<V, undefined> | Promise<IteratorResult<V, undefined>>
    if (isPromise(r)) return r.then((x) => this.#end(x))
    if (r.done !== true) return Promise.resolve(r)
    try {
      return Promise.resolve(this.#end(r))
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }

  // At the end, the stream's error is thrown, once.
  #end(r: IteratorResult<V, undefined>): IteratorResult<V, undefined> {
    if (r.done === true && !this.#thrown) {
      const error = this.#cursor.err()
      if (error !== undefined) {
        this.#thrown = true
        throw error
      }
    }
    return r
  }

  return(): Promise<IteratorResult<V, undefined>> {
    this.#cursor.cancel()
    return Promise.resolve(DONE)
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}

function toIterator<T>(s: AsyncIterable<T> | Iterable<T> | AsyncIterator<T> | Iterator<T>): AsyncIterator<T> | Iterator<T> {
  if (typeof (s as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') return (s as AsyncIterable<T>)[Symbol.asyncIterator]()
  if (typeof (s as Iterable<T>)[Symbol.iterator] === 'function') return (s as Iterable<T>)[Symbol.iterator]()
  return s as AsyncIterator<T> | Iterator<T>
}

function isPromise<V>(v: V | Promise<V>): v is Promise<V> {
  return typeof (v as Promise<V>)?.then === 'function'
}

function closeSource<T>(it: AsyncIterator<T> | Iterator<T>): void {
  try {
    const r = it.return?.()
    if (r !== undefined && typeof (r as Promise<unknown>).then === 'function') {
      ;(r as Promise<unknown>).then(undefined, () => {})
    }
  } catch {
    // a source that fails while closing has nothing more to tell the consumer
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
