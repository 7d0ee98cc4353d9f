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

/**
 * Reads the `count` items of a batch frame from its bytes, starting at `pos` and going no
 * further than the end of `bytes` (a message may hold more frames after it), each as the
 * stream's `decode` would give it: the items and the byte where the last one ends. Undefined
 * when it can't (the frame then takes the generic path: decodeNodeFrame, then `decode` per
 * item). Never throws.
 */
export type ItemsReader<T> = (bytes: Uint8Array, pos: number, count: number) => { items: T[]; end: number } | undefined

/**
 * One received batch: its items, its bytes (credit returned as its items are taken), and
 * whether the items are decoded already (read by an ItemsReader) or still raw.
 */
interface Batch {
  items: unknown[]
  bytes: number
  decoded: boolean
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined })

/**
 * `next()` answers synchronously when an item is buffered and with a promise only when it
 * must wait: the Cursor takes a plain result as is (no promise, no race against its cancel
 * per item), which keeps a long stream cheap, and `Cursor.nextBatch()` drains everything
 * buffered in one call. The buffer holds whole batches as they arrived (one queue entry per
 * frame, not per item); the batch being read is taken item by item, each carrying its share
 * of the batch's bytes back as credit.
 */
export class RemoteStream<T> {
  readonly #link: StreamLink
  readonly #decode: (item: unknown) => T
  readonly #window: CreditWindow
  readonly #queue: BoundedQueue<Batch>
  readonly #mapError: ((e: Error) => Error) | undefined
  readonly #readItems: ItemsReader<T> | undefined
  // The batch being read: its items, the next one's index, each item's share of its bytes
  // and the last item's (which carries the remainder).
  #cur: unknown[] | undefined
  #curDecoded = false
  #i = 0
  #share = 0
  #lastShare = 0

  /** `mapError` may replace the error the stream ends with; `readItems` see ItemsReader. */
  constructor(link: StreamLink, decode: (item: unknown) => T, window: CreditWindowInit = {}, mapError?: (e: Error) => Error, readItems?: ItemsReader<T>) {
    this.#mapError = mapError
    this.#readItems = readItems
    this.#link = link
    this.#decode = decode
    this.#window = new CreditWindow(window)
    // Bounded by the window check in push(); the consumer's return() cancels the stream.
    this.#queue = new BoundedQueue<Batch>({ sizeOf: (b) => b.bytes, onReturn: () => this.#link.cancel() })
  }

  /** The window the stream opens with (sent in the call frame). */
  get initialWindow(): number {
    return this.#window.initial.window
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#window.buffered
  }

  /**
   * A `batch` frame starts at byte `start` of `msg`, its `count` items at byte `pos`: when the
   * stream's ItemsReader reads them all, the frame is at most `maxFrame` bytes and (when given)
   * ends exactly at `end`, they are queued, decoded, as `push` would queue them, and the
   * frame's end is returned; -1 when the stream has no reader or it could not, and the frame
   * must be decoded the generic way. Nothing is queued unless the frame is taken whole.
   */
  pushFrame(msg: Uint8Array, start: number, pos: number, count: number, maxFrame: number, end?: number): number {
    const read = this.#readItems
    if (read === undefined || (end !== undefined && end - start > maxFrame)) return -1
    const r = read(msg, pos, count)
    if (r === undefined || r.end - start > maxFrame || (end !== undefined && r.end !== end)) return -1
    this.push(r.items, r.end - start, true)
    return r.end
  }

  /** A `batch` frame of `bytes` arrived; `decoded`: its items are decoded already. */
  push(items: unknown[], bytes: number, decoded = false): void {
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
    this.#queue.push({ items, bytes, decoded })
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

  #open(r: IteratorResult<Batch, undefined>): IteratorResult<T> {
    if (r.done === true) return DONE
    this.#begin(r.value)
    return this.#take(r.value.items)
  }

  #begin(b: Batch): void {
    const { items, bytes } = b
    this.#cur = items
    this.#curDecoded = b.decoded
    this.#i = 0
    this.#share = Math.floor(bytes / items.length)
    this.#lastShare = bytes - this.#share * (items.length - 1)
  }

  /**
   * Appends the items ready now to `out`, without waiting, until `out` holds `max` (what
   * `Cursor.nextBatch` takes in one go instead of a `next()` per item): the items of a batch
   * read from its bytes are copied over as they are, with their credit returned at once.
   * Throws what `decode` throws for a raw item, having taken the items before it.
   */
  takeReady(out: T[], max: number): void {
    while (out.length < max) {
      let cur = this.#cur
      if (cur === undefined) {
        const b = this.#queue.shift()
        if (b === undefined) return
        this.#begin(b)
        cur = b.items
      }
      if (!this.#curDecoded) {
        out.push(this.#take(cur).value as T)
        continue
      }
      const i0 = this.#i
      const k = Math.min(max - out.length, cur.length - i0)
      for (let j = i0; j < i0 + k; j++) out.push(cur[j] as T)
      this.#i = i0 + k
      let bytes = k * this.#share
      if (this.#i === cur.length) {
        bytes += this.#lastShare - this.#share
        this.#cur = undefined
      }
      this.#consumed(bytes)
    }
  }

  #take(items: unknown[]): IteratorResult<T> {
    const i = this.#i++
    const last = i === items.length - 1
    if (last) this.#cur = undefined
    this.#consumed(last ? this.#lastShare : this.#share)
    return { done: false, value: this.#curDecoded ? (items[i] as T) : this.#decode(items[i]) }
  }

  next(): IteratorResult<T> | Promise<IteratorResult<T>> {
    const cur = this.#cur
    if (cur !== undefined) return this.#take(cur)
    const r = this.#queue.poll()
    return r instanceof Promise ? r.then((x) => this.#open(x)) : this.#open(r)
  }

  /** The consumer stopped (break, cancel, abort): tell the node, drop the buffer. */
  return(): Promise<IteratorResult<T>> {
    this.#cur = undefined
    return this.#queue.return().then(() => DONE)
  }
}
