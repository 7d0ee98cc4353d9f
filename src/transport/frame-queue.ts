/**
 * The bounded read buffer every built-in transport puts between the network and the reader.
 *
 * It is pure flow control (no sockets), so it is tested on its own. The transport pushes
 * each arriving frame; the queue asks the transport to stop reading (`onPause`) once it holds
 * `maxFrames` frames or `maxBytes` bytes, and to read again (`onResume`) once the reader has
 * brought it down to half of both. Pausing is how backpressure reaches the sender: a paused
 * socket stops reading, the kernel buffers fill, and the sender's writes stop completing.
 *
 * A transport cannot always stop on the spot (ws, for one, still delivers the frames of a
 * chunk it already read), so the queue accepts frames past the pause thresholds up to a hard
 * bound, `hardMaxBytes`, counted as payload bytes plus FRAME_OVERHEAD per frame (so a flood
 * of empty frames is bounded too). Past it, `push` refuses the frame and the transport resets
 * the connection with ERR_READ_BUFFER_FULL: the written overflow policy is "reset", never
 * "grow".
 */
/** Bytes charged per queued frame on top of its payload, for the hard bound. */
export const FRAME_OVERHEAD = 32

/** Limits and callbacks of a FrameQueue. */
export interface FrameQueueInit {
  /** Pause reading at this many queued frames. */
  maxFrames: number
  /** Pause reading at this many queued payload bytes. */
  maxBytes: number
  /** Refuse frames past this many accounted bytes (payload + FRAME_OVERHEAD per frame). */
  hardMaxBytes: number
  /** Called when the transport should stop reading from the network. */
  onPause?: () => void
  /** Called when the transport may read again. */
  onResume?: () => void
}

interface Waiter {
  resolve: (r: IteratorResult<Uint8Array, undefined>) => void
  reject: (err: Error) => void
}

/** A FIFO of received frames with pause/resume thresholds and a hard bound; an async iterator. */
export class FrameQueue implements AsyncIterator<Uint8Array, undefined> {
  readonly #init: FrameQueueInit
  #frames: Uint8Array[] = []
  #head = 0
  #bytes = 0
  #paused = false
  #ended = false
  #finished = false
  #error: Error | undefined
  #waiters: Waiter[] = []

  constructor(init: FrameQueueInit) {
    if (!(init.maxFrames >= 1) || !(init.maxBytes >= 0) || !(init.hardMaxBytes >= init.maxBytes)) {
      throw new RangeError('FrameQueue: need maxFrames >= 1, maxBytes >= 0, hardMaxBytes >= maxBytes')
    }
    this.#init = init
  }

  /** Frames waiting for the reader. */
  get length(): number {
    return this.#frames.length - this.#head
  }

  /** Payload bytes waiting for the reader. */
  get bytes(): number {
    return this.#bytes
  }

  /** True while the transport has been asked to stop reading. */
  get paused(): boolean {
    return this.#paused
  }

  /** True once `end` or `fail` was called: no more frames will be accepted. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * Hands one received frame to the reader. Returns false (and drops the frame) when the
   * queue is past its hard bound; the caller then resets the connection. Frames pushed after
   * `end`/`fail` are ignored (true is returned: nothing to reset).
   */
  push(frame: Uint8Array): boolean {
    if (this.#ended) return true
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      // Someone is already waiting: the frame never sits in the queue.
      waiter.resolve({ done: false, value: frame })
      return true
    }
    const accounted = this.#bytes + frame.byteLength + (this.length + 1) * FRAME_OVERHEAD
    if (accounted > this.#init.hardMaxBytes) return false
    this.#frames.push(frame)
    this.#bytes += frame.byteLength
    if (!this.#paused && (this.length >= this.#init.maxFrames || this.#bytes >= this.#init.maxBytes)) {
      this.#paused = true
      this.#init.onPause?.()
    }
    return true
  }

  /**
   * The source has ended: frames already queued are still read, then the iterator ends,
   * cleanly or by throwing `err`.
   */
  end(err?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = err
    if (this.length === 0) this.#settleWaiters()
  }

  /** Ends at once: queued frames are dropped and the reader gets `err` (or a clean end). */
  fail(err?: Error): void {
    if (this.#finished) return
    this.#ended = true
    this.#error = err
    this.#frames = []
    this.#head = 0
    this.#bytes = 0
    this.#settleWaiters()
  }

  /** The next frame; throws the end error once, then reports done. */
  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.length > 0) {
      const frame = this.#frames[this.#head] as Uint8Array
      this.#frames[this.#head] = EMPTY
      this.#head++
      this.#bytes -= frame.byteLength
      // Compact now and then so a long-lived queue does not keep a growing dead prefix.
      if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
        this.#frames = this.#frames.slice(this.#head)
        this.#head = 0
      }
      this.#maybeResume()
      return Promise.resolve({ done: false, value: frame })
    }
    if (this.#ended) return this.#finish()
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  #maybeResume(): void {
    if (!this.#paused || this.#ended) return
    if (this.length <= Math.floor(this.#init.maxFrames / 2) && this.#bytes <= Math.floor(this.#init.maxBytes / 2)) {
      this.#paused = false
      this.#init.onResume?.()
    }
  }

  #finish(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (this.#finished || this.#error === undefined) {
      this.#finished = true
      return Promise.resolve({ done: true, value: undefined })
    }
    this.#finished = true
    return Promise.reject(this.#error)
  }

  #settleWaiters(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const [i, w] of waiters.entries()) {
      // Only the first pending read sees the error; the rest see the end.
      if (i === 0 && this.#error !== undefined && !this.#finished) {
        this.#finished = true
        w.reject(this.#error)
      } else {
        this.#finished = true
        w.resolve({ done: true, value: undefined })
      }
    }
  }
}

const EMPTY = new Uint8Array(0)
