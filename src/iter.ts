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

export class Cursor<T> implements AsyncIterable<T> {
  #source: AsyncIterator<T> | Iterator<T>
  #done = false
  #error: Error | undefined
  #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined
  #iterating = false
  // Set while a next() waits on an async source: ending the cursor from outside (cancel,
  // abort) ends that wait too, since the source may never answer. A fresh promise per wait,
  // not a race against one long-lived "stopped" promise: every such race would leave a
  // reaction (holding the value it resolved with) on that promise for the cursor's lifetime.
  #onStop: (() => void) | undefined

  /**
   * Wraps a pull source. The source may be synchronous (a lazy generator over a snapshot)
   * or asynchronous (a network stream); either way nothing is computed before `next()`.
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
    if (this.#done) return undefined
    try {
      const step = this.#source.next()
      // A synchronous source (a snapshot scan) answers at once; only a pending promise can
      // outlive a cancel, so only that one is raced against it.
      const r = isPromise(step) ? await this.#orStop(step) : step
      if (this.#done) return undefined // cancelled while waiting
      if (r.done === true) {
        this.#finish()
        return undefined
      }
      return r.value
    } catch (err) {
      if (!this.#done) this.#fail(toError(err))
      return undefined
    }
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
    for await (const v of this) out.push(v)
    return out
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    if (this.#iterating) throw new Error('a Cursor can be iterated only once')
    this.#iterating = true
    try {
      for (;;) {
        const v = await this.next()
        if (v === undefined) break
        yield v
      }
      if (this.#error !== undefined) throw this.#error
    } finally {
      // Reached by `break`/`return` in the consumer's loop as well as by the end.
      this.cancel()
    }
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
        this.#onStop = () => resolve({ done: true, value: undefined })
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
