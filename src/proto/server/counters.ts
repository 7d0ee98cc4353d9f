/**
 * Totals of one protocol server for operators (the node's `/metrics` and `ww info`): bytes
 * sent to clients, flow-control waits, connections accepted, and the time each call took.
 * Kept apart from the connection and stream code so the hooks there stay one line each.
 */
import type { AbortOptions, Connection } from '../../transport/types.js'

/** Running totals since the server started. */
export interface ServerCounters {
  /** Client connections accepted (refused ones excluded). */
  connectionsAccepted: number
  /** Bytes handed to the transport for clients, every frame counted. */
  bytesSent: number
  /** Times a stream waited for its client's credit (its window was used up). */
  creditWaits: number
  /** Times a stream waited for its connection's shared budget of bytes in flight. */
  budgetWaits: number
  /** Times a stream waited for the transport to drain (its buffer past the high-water mark). */
  drainWaits: number
}

/** Told when a call ends: its method, and seconds from the call frame to its result or its stream's end. */
export type CallObserver = (method: string, seconds: number) => void

/** Fresh zeroed totals. */
export function newServerCounters(): ServerCounters {
  return { connectionsAccepted: 0, bytesSent: 0, creditWaits: 0, budgetWaits: 0, drainWaits: 0 }
}

/** A Connection that adds every frame it sends to `counters.bytesSent` and every drain wait to `drainWaits`. */
export class CountedConnection implements Connection {
  readonly #inner: Connection
  readonly #counters: ServerCounters

  constructor(inner: Connection, counters: ServerCounters) {
    this.#inner = inner
    this.#counters = counters
  }

  get remoteAddress(): string {
    return this.#inner.remoteAddress
  }

  get bufferedAmount(): number {
    return this.#inner.bufferedAmount
  }

  get closed(): Promise<Error | undefined> {
    return this.#inner.closed
  }

  send(frame: Uint8Array): boolean {
    const ok = this.#inner.send(frame)
    this.#counters.bytesSent += frame.length
    return ok
  }

  onDrain(options?: AbortOptions): Promise<void> {
    this.#counters.drainWaits++
    return this.#inner.onDrain(options)
  }

  close(options?: AbortOptions): Promise<void> {
    return this.#inner.close(options)
  }

  abort(err: Error): void {
    this.#inner.abort(err)
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.#inner[Symbol.asyncIterator]()
  }
}
