/**
 * The bounded buffer behind one pubsub subscription on a node. Messages arrive from the mesh
 * at the mesh's pace; the subscriber takes them at its own. The buffer holds at most
 * `maxMessages` messages and `maxBytes` bytes of payload; when a new message would break
 * either bound, the OLDEST buffered messages are dropped (a subscriber that falls behind
 * wants the freshest data, and dropping at the tail would starve it forever), and the
 * number dropped is reported in the `dropped` field of the next message taken out.
 *
 * It is the shared {@link BoundedQueue} (src/queue.ts) with that policy (`'drop-oldest'`,
 * never pausing: the mesh cannot be paused), plus the `dropped` count. A pure class: no
 * timers, no I/O, so its accounting is tested directly.
 */
import type { Message } from '../api.js'
import { BoundedQueue } from '../queue.js'

/** Bounds of one subscription buffer. */
export interface MessageBufferInit {
  /** Most messages held. @default 1024 */
  maxMessages?: number
  /** Most payload bytes held (a single message larger than this is still held alone). @default 4194304 */
  maxBytes?: number
}

/** Default bounds, also documented in docs/pubsub.md. */
export const DEFAULT_BUFFER = { maxMessages: 1024, maxBytes: 4 * 1024 * 1024 } as const

/** A received message before the dropped count is attached. */
export type Incoming = Omit<Message, 'dropped'>

/** One subscription's buffer: drop-oldest past its bounds, the losses reported on the next message. */
export class MessageBuffer {
  readonly maxMessages: number
  readonly maxBytes: number
  readonly #q: BoundedQueue<Incoming>
  // Messages dropped since the last one taken out: the next one taken carries the count.
  #pendingDropped = 0

  constructor(init: MessageBufferInit = {}) {
    this.maxMessages = init.maxMessages ?? DEFAULT_BUFFER.maxMessages
    this.maxBytes = init.maxBytes ?? DEFAULT_BUFFER.maxBytes
    if (!Number.isSafeInteger(this.maxMessages) || this.maxMessages < 1) throw new RangeError('maxMessages must be a whole number ≥ 1')
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 1) throw new RangeError('maxBytes must be a whole number ≥ 1')
    this.#q = new BoundedQueue<Incoming>({
      sizeOf: (m) => m.data.byteLength,
      maxItems: this.maxMessages,
      maxSize: this.maxBytes,
      overflow: 'drop-oldest',
      onDrop: () => this.#pendingDropped++,
    })
  }

  /** Messages currently held. */
  get length(): number {
    return this.#q.length
  }

  /** Payload bytes currently held. */
  get bytes(): number {
    return this.#q.size
  }

  /** Highest `length` ever reached (never above `maxMessages`). */
  get peak(): number {
    return this.#q.peak
  }

  /** Messages dropped since the buffer was made. */
  get totalDropped(): number {
    return this.#q.dropped
  }

  /** True once `end()` was called. */
  get ended(): boolean {
    return this.#q.ended
  }

  /**
   * Appends a message, dropping the oldest ones first when a bound would be exceeded; a
   * waiting reader takes it at once. Ignored after `end()`.
   */
  push(m: Incoming): void {
    this.#q.push(m)
  }

  /** Takes the oldest message, with the count of messages lost since the previous take. */
  shift(): Message | undefined {
    const m = this.#q.shift()
    return m === undefined ? undefined : this.#stamp(m)
  }

  /**
   * The next message: at once while one is held, a promise when the reader has to wait; done
   * after `end()`.
   */
  poll(): IteratorResult<Message> | Promise<IteratorResult<Message>> {
    const r = this.#q.poll()
    return r instanceof Promise ? r.then((x) => this.#result(x)) : this.#result(r)
  }

  /** Ends the buffer: held messages are freed, pending and later reads see the end. */
  end(): void {
    this.#q.fail()
  }

  #result(r: IteratorResult<Incoming, undefined>): IteratorResult<Message> {
    return r.done === true ? { done: true, value: undefined } : { done: false, value: this.#stamp(r.value) }
  }

  #stamp(m: Incoming): Message {
    const dropped = this.#pendingDropped
    this.#pendingDropped = 0
    return { ...m, dropped }
  }
}
