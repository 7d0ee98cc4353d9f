/**
 * The client's end of one stream: a bounded buffer of received batches, drained by the
 * consumer through a Cursor, with credit returned as items are consumed (window.ts).
 *
 * It is an AsyncIterator object rather than an async generator on purpose: a generator
 * waiting inside `await` can't run its `finally` until that await settles, so a consumer
 * that cancels while the node is silent (a quiet subscription) would not reach the node.
 * Here `return()` sends `cancel` at once and settles any pending `next()`.
 *
 * The buffer is the shared {@link BoundedQueue} (src/queue.ts); its bound is the credit
 * window, checked before anything is queued: it holds at most one window of bytes, because
 * the node may not send past the credit it was given, and a node that does ends the session
 * with ERR_FLOW_CONTROL (nothing of that batch is queued).
 */
import { BoundedQueue } from '../../queue.js'
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

/** One received item and its share of its batch's bytes (credit returned when it is taken). */
interface Entry {
  item: unknown
  bytes: number
}

/**
 * `next()` answers synchronously when an item is buffered and with a promise only when it
 * must wait: the Cursor takes a plain result as is (no promise, no race against its cancel
 * per item), which keeps a long stream cheap.
 */
export class RemoteStream<T> {
  readonly #link: StreamLink
  readonly #decode: (item: unknown) => T
  readonly #window: CreditWindow
  readonly #queue: BoundedQueue<Entry>
  readonly #mapError: ((e: Error) => Error) | undefined

  /** `mapError` may replace the error the stream ends with. */
  constructor(link: StreamLink, decode: (item: unknown) => T, window: CreditWindowInit = {}, mapError?: (e: Error) => Error) {
    this.#mapError = mapError
    this.#link = link
    this.#decode = decode
    this.#window = new CreditWindow(window)
    // Bounded by the window check in push(); the consumer's return() cancels the stream.
    this.#queue = new BoundedQueue<Entry>({ sizeOf: (e) => e.bytes, onReturn: () => this.#link.cancel() })
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
    if (this.#queue.ended) return
    if (!this.#window.onReceive(bytes)) {
      this.#link.overrun()
      return
    }
    if (items.length === 0) {
      // An empty batch carries no item to hang its bytes on: count it consumed now.
      this.#consumed(bytes)
      return
    }
    // The batch's bytes, spread over its items; the last one carries the remainder.
    const share = Math.floor(bytes / items.length)
    const last = items.length - 1
    for (let i = 0; i < items.length; i++) {
      this.#queue.push({ item: items[i], bytes: i === last ? bytes - share * last : share })
    }
  }

  /** The stream ended (an `end` frame, a failed call, or the connection went away). */
  end(error?: Error): void {
    if (this.#queue.ended) return
    // Items already received are still delivered, then the error once.
    this.#queue.end(error !== undefined && this.#mapError !== undefined ? this.#mapError(error) : error)
  }

  #consumed(bytes: number): void {
    const c = this.#window.onConsume(bytes)
    if (c !== undefined && !this.#queue.ended) this.#link.credit(c)
  }

  #result(r: IteratorResult<Entry, undefined>): IteratorResult<T> {
    if (r.done === true) return { done: true, value: undefined }
    this.#consumed(r.value.bytes)
    return { done: false, value: this.#decode(r.value.item) }
  }

  next(): IteratorResult<T> | Promise<IteratorResult<T>> {
    const r = this.#queue.poll()
    return r instanceof Promise ? r.then((x) => this.#result(x)) : this.#result(r)
  }

  /** The consumer stopped (break, cancel, abort): tell the node, drop the buffer. */
  return(): Promise<IteratorResult<T>> {
    return this.#queue.return().then(() => ({ done: true, value: undefined }))
  }
}
