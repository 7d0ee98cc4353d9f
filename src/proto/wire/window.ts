/**
 * Credit-based flow control for streams, as two pure classes (no sockets, no timers: the
 * clock is injected), after capnweb's flow controller, so both are tested with a
 * deterministic simulator of RTT, bandwidth and consumer speed (test/proto/window.test.ts).
 *
 * The receiver owns the window. It tells the sender, in `credit` frames, how many batch bytes
 * it has consumed in total (`consumed`) and how many may be in flight beyond that (`window`).
 * The sender never sends a batch that would take `sent − consumed` past `window`, so at most
 * one window of bytes is ever in flight or buffered at the receiver, whatever the consumer's
 * speed: a slow consumer throttles the sender and both ends' memory per stream stays bounded.
 *
 * The window adapts on the receiver, after QUIC's receive-window auto-tuning: credit is
 * returned each time half a window has been consumed; if that half window was consumed in
 * less than two round trips, credit (not the consumer) limits the rate, so the window doubles,
 * up to a cap. A consumer that lags takes longer than that, and the window stays where it is.
 * Credit also goes back whenever the consumer has drained everything received, since the
 * sender may honour less than our window (a node clamps it to its `maxWindow`).
 * The round trip is measured by the receiver itself: the time from a credit frame to the
 * first byte that could only have been sent thanks to it (minimum over the stream).
 */

/** Options of a receiver's window. */
export interface CreditWindowInit {
  /** First window, in bytes. @default 65_536 */
  initial?: number
  /** Largest window, in bytes. @default 1_048_576 */
  max?: number
  /** Clock in milliseconds. @default performance.now */
  now?: () => number
}

/** What a receiver sends back to the sender (the fields of a `credit` frame). */
export interface Credit {
  consumed: number
  window: number
}

/** Default first window: 64 KiB. */
export const DEFAULT_INITIAL_WINDOW = 64 * 1024
/** Default window cap: 1 MiB. */
export const DEFAULT_MAX_WINDOW = 1024 * 1024

/** Receiver side: counts bytes received and consumed, decides when to return credit and how much. */
export class CreditWindow {
  #window: number
  readonly #max: number
  readonly #now: () => number
  #received = 0
  #consumed = 0
  // consumed + window as of the last credit sent: the sender may send up to here.
  #limit: number
  #lastGrantConsumed = 0
  // Consumed as of the last half-window credit, and when it left: the pace of the consumer.
  #halfMark = 0
  #lastGrantAt: number
  #minRtt = Infinity
  // Credit frames whose round trip is still being timed: the sender's limit before that
  // credit, and when the credit left. Bounded: at most one pending per half window.
  #timing: { before: number; at: number }[] = []

  constructor(init: CreditWindowInit = {}) {
    this.#max = Math.max(1, init.max ?? DEFAULT_MAX_WINDOW)
    this.#window = Math.min(this.#max, Math.max(1, init.initial ?? DEFAULT_INITIAL_WINDOW))
    this.#now = init.now ?? (() => performance.now())
    this.#limit = this.#window
    this.#lastGrantAt = this.#now()
    this.#timing.push({ before: 0, at: this.#lastGrantAt })
  }

  /** The credit sent when the stream is opened (`consumed` 0, the first window). */
  get initial(): Credit {
    return { consumed: 0, window: this.#window }
  }

  /** The current window, in bytes. */
  get window(): number {
    return this.#window
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.#received - this.#consumed
  }

  /** Smallest round trip measured so far, in ms (Infinity before the first sample). */
  get minRtt(): number {
    return this.#minRtt
  }

  /**
   * Records a batch of `bytes` that arrived. Returns false when the sender overran its credit
   * (a protocol violation: the caller ends the stream or connection).
   */
  onReceive(bytes: number): boolean {
    const before = this.#received
    this.#received += bytes
    const now = this.#now()
    while (this.#timing.length > 0 && this.#received > this.#timing[0]!.before) {
      const t = this.#timing.shift()!
      this.#minRtt = Math.min(this.#minRtt, now - t.at)
    }
    // The sender may send one batch larger than the whole window when it has nothing in
    // flight (SendWindow.canSend: a single large item, e.g. a 64 KiB pubsub message). That is
    // legitimate only if everything received before it had been consumed and granted back.
    return this.#received <= this.#limit || before <= this.#lastGrantConsumed
  }

  /**
   * Records that the consumer took `bytes` out of the buffer. Returns the credit to send when
   * one is due, else undefined: each time half a window has been consumed, and whenever the
   * consumer has taken everything received. The second rule keeps a stream going when the
   * sender honours less than half our window (a node clamps every window to its own cap,
   * `maxWindow`): such a sender stops before half a window is consumed and waits for credit.
   */
  onConsume(bytes: number): Credit | undefined {
    this.#consumed += bytes
    if (this.#consumed - this.#halfMark < this.#window / 2) {
      if (this.#consumed < this.#received || this.#consumed === this.#lastGrantConsumed) return undefined
      return this.#grant(this.#now())
    }
    const now = this.#now()
    // Half a window went through the consumer in under two round trips: the window, not the
    // consumer, is what limits the rate.
    if (now - this.#lastGrantAt < 2 * this.#minRtt && this.#window < this.#max) {
      this.#window = Math.min(this.#max, this.#window * 2)
    }
    this.#halfMark = this.#consumed
    this.#lastGrantAt = now
    return this.#grant(now)
  }

  #grant(now: number): Credit {
    const before = this.#limit
    this.#limit = this.#consumed + this.#window
    this.#lastGrantConsumed = this.#consumed
    if (this.#timing.length < 8) this.#timing.push({ before, at: now })
    return { consumed: this.#consumed, window: this.#window }
  }
}

/** Sender side: how many bytes may go out now, given the receiver's last credit. */
export class SendWindow {
  #sent = 0
  #consumed = 0
  #window: number
  readonly #max: number
  #maxInFlight = 0

  /**
   * @param initial the window the receiver opened the stream with
   * @param max the largest window this sender honours; larger credits are clamped to it
   */
  constructor(initial: number, max: number = DEFAULT_MAX_WINDOW) {
    this.#max = max
    this.#window = Math.min(max, initial)
  }

  /** Bytes sent and not yet reported consumed. */
  get inFlight(): number {
    return this.#sent - this.#consumed
  }

  /** Largest `inFlight` seen on this stream. */
  get maxInFlight(): number {
    return this.#maxInFlight
  }

  /** The window in force (after clamping). */
  get window(): number {
    return this.#window
  }

  /** Total bytes sent. */
  get sent(): number {
    return this.#sent
  }

  /** Bytes that may be sent now without passing the window (0 when none). */
  get available(): number {
    return Math.max(0, this.#window - this.inFlight)
  }

  /**
   * True when a batch of `bytes` may be sent now. A single item larger than the whole window
   * would never fit; it may go alone once nothing is in flight (the only case where
   * `inFlight` can pass the window, by less than one item).
   */
  canSend(bytes: number): boolean {
    return bytes <= this.available || this.inFlight === 0
  }

  /** Records a batch sent. */
  onSend(bytes: number): void {
    this.#sent += bytes
    if (this.inFlight > this.#maxInFlight) this.#maxInFlight = this.inFlight
  }

  /**
   * Applies a credit from the receiver. Returns false when it is impossible (consumed going
   * backwards or past what was sent): a protocol violation.
   */
  onCredit(credit: Credit): boolean {
    if (credit.consumed < this.#consumed || credit.consumed > this.#sent) return false
    this.#consumed = credit.consumed
    this.#window = Math.min(this.#max, credit.window)
    return true
  }
}
