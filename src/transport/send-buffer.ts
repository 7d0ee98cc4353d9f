/**
 * Outgoing-side flow control shared by the built-in transports: a byte count of frames handed
 * to `send()` and not yet handed to the OS (or, in memory, not yet accepted by the peer), a
 * high-water mark, and the `onDrain()` waiters. Pure (no sockets), tested on its own.
 */
import { abortError } from '../errors.js'
import type { AbortOptions } from './types.js'

/** Counts queued outgoing bytes against a high-water mark and wakes `waitDrain` callers. */
export class SendBuffer {
  readonly #highWaterMark: number
  #amount = 0
  #error: Error | undefined
  #waiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>()

  /** `highWaterMark`: bytes at or past which the buffer counts as full. */
  constructor(highWaterMark: number) {
    if (!(highWaterMark >= 1)) throw new RangeError('SendBuffer: highWaterMark must be >= 1')
    this.#highWaterMark = highWaterMark
  }

  /** Bytes queued and not yet released. */
  get amount(): number {
    return this.#amount
  }

  /** True when the queued bytes are at or past the high-water mark. */
  get full(): boolean {
    return this.#amount >= this.#highWaterMark
  }

  /** Counts `n` more queued bytes; returns false when the buffer is now full. */
  add(n: number): boolean {
    this.#amount += n
    return !this.full
  }

  /** `n` queued bytes left the buffer; wakes drain waiters when it falls below the mark. */
  release(n: number): void {
    this.#amount = Math.max(0, this.#amount - n)
    if (!this.full && this.#waiters.size > 0) {
      const waiters = [...this.#waiters]
      this.#waiters.clear()
      for (const w of waiters) w.resolve()
    }
  }

  /**
   * Resolves once the buffer is below the mark (at once if it is). Rejects with the failure
   * error once the buffer failed, or with ERR_ABORTED through `options.signal`.
   */
  waitDrain(options: AbortOptions = {}): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    const { signal } = options
    if (signal?.aborted === true) return Promise.reject(abortError(signal))
    if (!this.full) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter)
        reject(abortError(signal))
      }
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (err: Error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      this.#waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The connection is gone: pending and future `waitDrain` calls reject with `err`. */
  fail(err: Error): void {
    if (this.#error !== undefined) return
    this.#error = err
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const w of waiters) w.reject(err)
  }
}
