/**
 * The bounded buffer behind one pubsub subscription on a node. Messages arrive from the mesh
 * at the mesh's pace; the subscriber takes them at its own. The buffer holds at most
 * `maxMessages` messages and `maxBytes` bytes of payload; when a new message would break
 * either bound, the OLDEST buffered messages are dropped (a subscriber that falls behind
 * wants the freshest data, and dropping at the tail would starve it forever), and the
 * number dropped is reported in the `dropped` field of the next message taken out.
 *
 * A pure class: no timers, no I/O, so its accounting is tested directly.
 */
import type { Message } from '../api.js'

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

export class MessageBuffer {
  readonly maxMessages: number
  readonly maxBytes: number
  // A ring would avoid shift()'s cost, but V8's arrays handle queue use well at these sizes
  // and a head index keeps shift O(1) anyway.
  #items: Incoming[] = []
  #head = 0
  #bytes = 0
  #pendingDropped = 0
  #totalDropped = 0
  #peak = 0

  constructor(init: MessageBufferInit = {}) {
    this.maxMessages = init.maxMessages ?? DEFAULT_BUFFER.maxMessages
    this.maxBytes = init.maxBytes ?? DEFAULT_BUFFER.maxBytes
    if (!Number.isSafeInteger(this.maxMessages) || this.maxMessages < 1) throw new RangeError('maxMessages must be a whole number ≥ 1')
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 1) throw new RangeError('maxBytes must be a whole number ≥ 1')
  }

  /** Messages currently held. */
  get length(): number {
    return this.#items.length - this.#head
  }

  /** Payload bytes currently held. */
  get bytes(): number {
    return this.#bytes
  }

  /** Highest `length` ever reached (never above `maxMessages`). */
  get peak(): number {
    return this.#peak
  }

  /** Messages dropped since the buffer was made. */
  get totalDropped(): number {
    return this.#totalDropped
  }

  /** Appends a message, dropping the oldest ones first when a bound would be exceeded. */
  push(m: Incoming): void {
    const size = m.data.byteLength
    while (this.length > 0 && (this.length + 1 > this.maxMessages || this.#bytes + size > this.maxBytes)) {
      this.#dropOldest()
    }
    this.#items.push(m)
    this.#bytes += size
    if (this.length > this.#peak) this.#peak = this.length
  }

  /** Takes the oldest message, with the count of messages lost since the previous take. */
  shift(): Message | undefined {
    if (this.length === 0) return undefined
    const m = this.#take()
    const dropped = this.#pendingDropped
    this.#pendingDropped = 0
    return { ...m, dropped }
  }

  /** Empties the buffer (the subscription ended). */
  clear(): void {
    this.#items = []
    this.#head = 0
    this.#bytes = 0
  }

  #dropOldest(): void {
    this.#take()
    this.#pendingDropped++
    this.#totalDropped++
  }

  #take(): Incoming {
    const m = this.#items[this.#head]!
    this.#items[this.#head] = undefined as unknown as Incoming
    this.#head++
    this.#bytes -= m.data.byteLength
    // Compact once the consumed prefix dominates, so memory follows the live length.
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return m
  }
}
