/**
 * One outgoing stream on the node: pulls items from its source lazily, packs them into
 * `batch` frames, and sends only within the credit the client granted (window.ts) and only
 * while the transport isn't past its high-water mark. Frames go through the connection's
 * Outbox (outbox.ts), which writes the frames of all its streams once per turn of the event
 * loop; a stream sends at most one batch per turn.
 *
 * Nothing is pulled from the source before there is credit to send it, so a stream whose
 * consumer stops reading holds at most one encoded item beyond what is in flight. `cancel()`
 * is seen between batches: a synchronous source (a table scan) produces at most one more
 * batch after it; then the source's `return()` runs (its `finally` blocks).
 */
import type { ServerCounters } from './counters.js'
import type { Connection } from '../../transport/types.js'
import type { Outbox } from './outbox.js'
import { BatchBuilder, batchOverhead, encodeFrame, encodeItem, type ItemWriter, toWireError } from '../wire/frames.js'
import type { StreamSource } from './caps.js'
import { type Credit, SendWindow } from '../wire/window.js'

/** Batch bounds of a stream. */
export interface BatchLimits {
  /** Most items in one batch. @default 256 */
  items: number
  /** Most bytes in one batch (one item larger than this goes alone). @default 65_536 */
  bytes: number
}

/** What tests and operators can see of one stream. */
export interface StreamStats {
  /** Stream (call) id, as the client chose it. */
  id: number
  /** Batch bytes sent and not yet reported consumed. */
  inFlight: number
  /** Largest `inFlight` seen. */
  maxInFlight: number
  /** Window in force, in bytes. */
  window: number
  /** Items pulled from the source so far. */
  produced: number
  /** Batches sent so far. */
  batches: number
  /** The connection's bytes queued in the transport, not yet handed to the OS. */
  bufferedAmount: number
}

/** Bytes a stream with nothing in flight may always send, whatever the connection's budget says. */
export const MIN_STREAM_SHARE = 8 * 1024

/**
 * The bytes in flight (sent, not yet reported consumed) over all streams of one connection,
 * against one budget, checked before every batch (the first one included). A stream sends
 * only while the connection is under its budget; a stream with nothing in flight may still
 * send one small batch (MIN_STREAM_SHARE), so streams a client never reads slow the one it
 * reads but cannot stall it. Bound: budget + streams × MIN_STREAM_SHARE (+ one oversized item
 * per stream, which always goes alone).
 */
export class ConnectionBudget {
  /** The budget, in bytes. */
  readonly max: number
  #used = 0
  readonly #waiters = new Set<() => void>()

  constructor(max: number) {
    this.max = max
  }

  /** Bytes in flight over the connection's streams. */
  get used(): number {
    return this.#used
  }

  /** Bytes a stream with `inFlight` bytes of its own may add now (0: wait). */
  allowance(inFlight: number): number {
    return Math.max(this.max - this.#used, inFlight === 0 ? Math.min(MIN_STREAM_SHARE, this.max) : 0)
  }

  take(n: number): void {
    this.#used += n
  }

  give(n: number): void {
    if (n <= 0) return
    this.#used = Math.max(0, this.#used - n)
    if (this.#waiters.size === 0) return
    const ws = [...this.#waiters]
    this.#waiters.clear()
    for (const w of ws) w()
  }

  /** Calls `f` once, at the next give; returns the unsubscribe. */
  onFree(f: () => void): () => void {
    this.#waiters.add(f)
    return () => this.#waiters.delete(f)
  }
}

function isPromise<V>(v: V | Promise<V>): v is Promise<V> {
  return typeof (v as Promise<V>)?.then === 'function'
}

export class ServerStream {
  readonly id: number
  readonly #conn: Connection
  readonly #out: Outbox
  readonly #source: StreamSource
  readonly #window: SendWindow
  readonly #limits: BatchLimits
  #produced = 0
  #batches = 0
  #stopped = false
  #wake: (() => void) | undefined
  // Set while waiting on an async source: stop() ends that wait, since the source (a quiet
  // subscription) may never answer.
  #onStop: (() => void) | undefined
  // An item pulled but not sent yet (it didn't fit the credit or the batch).
  #held: Uint8Array | undefined
  // A pending step of an async source, started while a batch was being filled.
  #step: Promise<IteratorResult<unknown>> | undefined

  readonly #signal: AbortSignal

  readonly #encode: (item: unknown) => Uint8Array
  readonly #write: ItemWriter | undefined
  // Made on the first item, and dropped while the stream waits: a stream its client never
  // reads holds no batch buffer.
  #builder: BatchBuilder | undefined
  readonly #budget: ConnectionBudget
  readonly #counters: ServerCounters | undefined

  /**
   * `conn`: the transport (its buffered bytes are reported); `out`: its Outbox, which every
   * frame of the stream goes through. `signal`: aborted when the connection goes away.
   * `encode` / `write`: the item codec (CallOutcome); `write`, when given, is used.
   * `counters`: the server's totals, where credit and budget waits are counted.
   */
  constructor(
    conn: Connection,
    out: Outbox,
    id: number,
    source: StreamSource,
    window: number,
    maxWindow: number,
    limits: BatchLimits,
    signal: AbortSignal,
    budget: ConnectionBudget,
    encode: (item: never) => Uint8Array = encodeItem,
    write?: ItemWriter,
    counters?: ServerCounters,
  ) {
    this.#counters = counters
    this.#budget = budget
    this.#encode = encode as (item: unknown) => Uint8Array
    this.#write = write
    this.#conn = conn
    this.#out = out
    this.#signal = signal
    this.id = id
    this.#source = source
    this.#window = new SendWindow(window, maxWindow)
    this.#limits = limits
  }

  /** Current accounting. */
  stats(): StreamStats {
    const w = this.#window
    return { id: this.id, inFlight: w.inFlight, maxInFlight: w.maxInFlight, window: w.window, produced: this.#produced, batches: this.#batches, bufferedAmount: this.#conn.bufferedAmount + this.#out.queued }
  }

  /** Applies a `credit` frame; false when it is impossible (a protocol violation). */
  credit(c: Credit): boolean {
    const before = this.#window.inFlight
    const ok = this.#window.onCredit(c)
    this.#budget.give(before - this.#window.inFlight)
    this.#poke()
    return ok
  }

  /** Stops the stream (client cancel, or the connection went away). */
  stop(): void {
    this.#stopped = true
    this.#onStop?.()
    this.#poke()
  }

  #poke(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  // A fresh promise per wait, not a race against one long-lived "stopped" promise: each race
  // would leave a reaction (and the item it resolved with) on it for the stream's lifetime.
  async #orStop(step: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown> | undefined> {
    try {
      return await new Promise<IteratorResult<unknown> | undefined>((resolve, reject) => {
        if (this.#stopped) return resolve(undefined)
        this.#onStop = () => resolve(undefined)
        step.then(resolve, reject)
      })
    } finally {
      this.#onStop = undefined
    }
  }

  // Whether a batch grown to `next` bytes may go: the first item of a batch only has to
  // fit the credit (or go alone when nothing is in flight), later ones the budget as well.
  #fits(next: number, first: boolean, budget: number): boolean {
    return first ? this.#window.canSend(next) : next <= budget && next <= this.#window.available
  }

  #waitCredit(): Promise<void> {
    this.#builder = undefined
    if (this.#counters !== undefined) this.#counters.creditWaits++
    return new Promise<void>((resolve) => {
      this.#wake = resolve
    })
  }

  // Waits for the connection's budget to free up, or for this stream's own credit (which
  // lowers its in-flight bytes), or for stop().
  #waitBudget(): Promise<void> {
    this.#builder = undefined
    if (this.#counters !== undefined) this.#counters.budgetWaits++
    return new Promise<void>((resolve) => {
      const off = this.#budget.onFree(() => {
        this.#wake = undefined
        resolve()
      })
      this.#wake = () => {
        off()
        resolve()
      }
    })
  }

  /**
   * Runs the stream to its end and sends the `end` frame (with the error, if the source
   * failed). Resolves when done; never rejects. `onDone` runs before `end` is sent.
   */
  async run(onDone: () => void): Promise<void> {
    let error: unknown
    try {
      let done = false
      while (!done && !this.#stopped) {
        if (this.#window.available === 0 && this.#window.inFlight > 0) {
          await this.#waitCredit()
          continue
        }
        const allowance = this.#budget.allowance(this.#window.inFlight)
        if (allowance <= 0) {
          await this.#waitBudget()
          continue
        }
        const budget = Math.min(this.#limits.bytes, Math.max(1, this.#window.window >> 2), allowance)
        const items = (this.#builder ??= new BatchBuilder())
        let size = batchOverhead(this.id, this.#limits.items)
        while (!this.#stopped) {
          let enc = this.#held
          this.#held = undefined
          if (enc === undefined) {
            let step = this.#step ?? this.#source.next()
            this.#step = undefined
            if (isPromise(step)) {
              // An async source (a subscription) has nothing ready: send what is packed
              // instead of holding it back while waiting.
              if (items.count > 0) {
                this.#step = step
                break
              }
              const r = await this.#orStop(step)
              if (r === undefined || this.#stopped) {
                this.#step = step
                break
              }
              step = r
            }
            if (step.done === true) {
              done = true
              break
            }
            this.#produced++
            if (this.#write !== undefined) {
              // Encoded in place at the end of the batch; taken back out if it doesn't fit.
              const start = items.bytes
              const next = size + items.appendWith(this.#write, step.value)
              if (!this.#fits(next, items.count === 1, budget)) {
                this.#held = items.unappend(start)
                break
              }
              size = next
              if (items.count >= this.#limits.items) break
              continue
            }
            enc = this.#encode(step.value)
          }
          const next = size + enc.length
          if (!this.#fits(next, items.count === 0, budget)) {
            // `enc` may be the encoder's scratch space: keep a copy (`new Uint8Array`, since
            // a Buffer's slice() is a view).
            this.#held = new Uint8Array(enc)
            break
          }
          items.append(enc)
          size = next
          if (items.count >= this.#limits.items) break
        }
        if (this.#stopped) break
        if (items.count > 0) {
          const frame = items.frame(this.id)
          this.#window.onSend(frame.length)
          this.#budget.take(frame.length)
          this.#batches++
          // Resolves after this turn's write (and the transport's drain when it is full): one
          // batch per turn of the event loop, so a cancel (or another client's call) waiting
          // in the read queue is seen before the next batch is made.
          await this.#out.send(frame)
        } else if (this.#held !== undefined) {
          // The next item doesn't fit the credit left: wait for more.
          await this.#waitCredit()
        }
      }
    } catch (err) {
      error = err
    } finally {
      this.#stopped = true
      this.#held = undefined
      this.#builder = undefined
      // Bytes never reported consumed are no longer this connection's: the stream is gone.
      this.#budget.give(this.#window.inFlight)
      this.#step?.then(undefined, () => {})
      closeSource(this.#source)
    }
    onDone()
    if (this.#signal.aborted) return
    // Sent after a clean end, a failure, or a cancel, so the client knows the id is free
    // (the outbox drops it when the connection is gone).
    this.#out.post(encodeFrame(error === undefined ? { t: 'end', id: this.id } : { t: 'end', id: this.id, error: toWireError(error) }))
  }
}

/**
 * Closes a stream source that will not be read (any more): calls its `return()`, and neither
 * a throw nor a rejected promise from it escapes — a source failing while closing has nothing
 * more to report, and an unobserved rejection would be an unhandled rejection in the node.
 */
export function closeSource(source: StreamSource): void {
  try {
    const r = source.return?.()
    if (isPromise(r)) r.then(undefined, () => {})
  } catch {
    // as above: nothing more to report
  }
}
