/**
 * The client's end of one stream: a bounded buffer of received batches, drained by the
 * consumer through a Cursor, with credit returned as items are consumed (window.ts).
 *
 * It is an AsyncIterator object rather than an async generator on purpose: a generator
 * waiting inside `await` can't run its `finally` until that await settles, so a consumer
 * that cancels while the node is silent (a quiet subscription) would not reach the node.
 * Here `return()` sends `cancel` at once and settles any pending `next()`.
 *
 * The buffer holds at most one window of bytes: the node may not send past the credit it
 * was given, and a node that does ends the session with ERR_FLOW_CONTROL.
 */
import { CreditWindow, type Credit, type CreditWindowInit } from '../wire/window.js'

/** What a stream needs from its connection. */
export interface StreamLink {
  /** Sends a `credit` frame for this stream. */
  credit(c: Credit): void
  /** Sends a `cancel` frame for this stream. */
  cancel(): void
  /** The node overran its credit: a protocol violation that ends the session. */
  overrun(): void
}

interface Batch {
  items: unknown[]
  /** Bytes of the batch frame; spread over its items as they are consumed. */
  bytes: number
  next: number
}

/**
 * `next()` answers synchronously when an item is buffered and with a promise only when it
 * must wait: the Cursor takes a plain result as is (no promise, no race against its cancel
 * per item), which keeps a long stream cheap and keeps nothing per item alive.
 */
export class RemoteStream<T> {
  readonly #link: StreamLink
  readonly #decode: (item: unknown) => T
  readonly #window: CreditWindow
  readonly #queue: Batch[] = []
  #ended = false
  #error: Error | undefined
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined

  readonly #mapError: ((e: Error) => Error) | undefined

  /** `mapError` may replace the error the stream ends with. */
  constructor(link: StreamLink, decode: (item: unknown) => T, window: CreditWindowInit = {}, mapError?: (e: Error) => Error) {
    this.#mapError = mapError
    this.#link = link
    this.#decode = decode
    this.#window = new CreditWindow(window)
  }

  /** The window the stream opens with (sent in the call frame). */
  get initialWindow(): number {
    return this.#window.initial.window
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#window.buffered
  }

  /** A `batch` frame of `bytes` arrived. */
  push(items: unknown[], bytes: number): void {
    if (this.#ended) return
    if (!this.#window.onReceive(bytes)) {
      this.#link.overrun()
      return
    }
    if (items.length === 0) {
      // An empty batch carries no item to hang its bytes on: count it consumed now.
      this.#consumed(bytes)
      return
    }
    this.#queue.push({ items, bytes, next: 0 })
    if (this.#waiter !== undefined) {
      const w = this.#waiter
      this.#waiter = undefined
      try {
        w.resolve(this.#take())
      } catch (err) {
        w.reject(err as Error)
      }
    }
  }

  /** The stream ended (an `end` frame, a failed call, or the connection went away). */
  end(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error !== undefined && this.#mapError !== undefined ? this.#mapError(error) : error
    const w = this.#waiter
    this.#waiter = undefined
    if (w === undefined) return
    // Items already received are still delivered; the waiter only exists when none are.
    if (this.#error !== undefined) {
      w.reject(this.#error)
      this.#error = undefined
    } else w.resolve({ done: true, value: undefined })
  }

  #consumed(bytes: number): void {
    const c = this.#window.onConsume(bytes)
    if (c !== undefined && !this.#ended) this.#link.credit(c)
  }

  #take(): IteratorResult<T> {
    const b = this.#queue[0]!
    const i = b.next++
    const item = b.items[i]
    // The batch's bytes, spread over its items; the last one carries the remainder.
    const share = Math.floor(b.bytes / b.items.length)
    this.#consumed(b.next === b.items.length ? b.bytes - share * (b.items.length - 1) : share)
    if (b.next === b.items.length) this.#queue.shift()
    return { done: false, value: this.#decode(item) }
  }

  next(): IteratorResult<T> | Promise<IteratorResult<T>> {
    if (this.#queue.length > 0) return this.#take()
    if (this.#ended) {
      if (this.#error !== undefined) {
        const e = this.#error
        this.#error = undefined
        return Promise.reject(e)
      }
      return Promise.resolve({ done: true, value: undefined })
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject }
    })
  }

  /** The consumer stopped (break, cancel, abort): tell the node, drop the buffer. */
  return(): Promise<IteratorResult<T>> {
    if (!this.#ended) {
      this.#ended = true
      this.#link.cancel()
    }
    this.#queue.length = 0
    const w = this.#waiter
    this.#waiter = undefined
    w?.resolve({ done: true, value: undefined })
    return Promise.resolve({ done: true, value: undefined })
  }
}
