/**
 * The node's outgoing frames of one connection, written once per turn of the event loop.
 *
 * Every frame after `welcome` (stream batches and ends, results, the closing error) is queued
 * here in order; the first frame of a turn schedules a flush (setImmediate, so every stream
 * woken by the same table change has queued its frame by then), and the flush hands the
 * turn's frames to the transport together: for a client that asked for packing (hello
 * `pack`), several frames per transport message (`packFrames`: one WebSocket send and one
 * socket write instead of one per frame); for any other client, one message per frame as
 * before, only later in the turn. A heartbeat that moves a peer watched by 50 watches of one
 * connection so costs one write, not 50.
 *
 * Backpressure: while the transport is past its high-water mark the outbox holds its frames
 * and flushes them once it drains; `send()` resolves only after its frame's flush and that
 * drain, so a stream awaiting it sends at most one batch per turn and none while the
 * transport is full. What the outbox holds is bounded by what its streams may have in flight
 * (their credit and the connection's budget) plus one `end` or `result` per call.
 */
import type { Connection } from '../../transport/types.js'
import { packFrames } from '../wire/frames.js'

interface Turn {
  frames: Uint8Array[]
  bytes: number
  done: Promise<void> | undefined
  resolve: () => void
  reject: (err: unknown) => void
}

function newTurn(): Turn {
  const t: Turn = { frames: [], bytes: 0, done: undefined, resolve: () => {}, reject: () => {} }
  return t
}

/** Queues a connection's outgoing frames and writes them once per turn (see the file comment). */
export class Outbox {
  readonly #conn: Connection
  readonly #pack: boolean
  readonly #signal: AbortSignal
  #turn: Turn = newTurn()
  #scheduled = false
  // Set while the transport is past its high-water mark: flushes wait for its drain.
  #draining = false
  #error: unknown

  /**
   * `pack`: the client accepts several frames per message. `signal`: aborted when the
   * connection goes away (ends a wait for the transport's drain).
   */
  constructor(conn: Connection, pack: boolean, signal: AbortSignal) {
    this.#conn = conn
    this.#pack = pack
    this.#signal = signal
  }

  /** Bytes queued here, not yet handed to the transport. */
  get queued(): number {
    return this.#turn.bytes
  }

  /** Queues `frame` to go out with this turn's others; nothing to wait for (an `end`, a `result`). */
  post(frame: Uint8Array): void {
    if (this.#error !== undefined) return
    const t = this.#turn
    t.frames.push(frame)
    t.bytes += frame.length
    if (!this.#scheduled && !this.#draining) {
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        this.flush()
      })
    }
  }

  /**
   * Queues `frame`; resolves once it has been handed to the transport and the transport is
   * below its high-water mark again. Rejects when the connection is gone.
   */
  send(frame: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    this.post(frame)
    const t = this.#turn
    t.done ??= new Promise<void>((resolve, reject) => {
      t.resolve = resolve
      t.reject = reject
    })
    return t.done
  }

  /**
   * Hands every queued frame to the transport now (also while it is past its high-water
   * mark: `fail()` flushes its error frame before closing). Never throws.
   */
  flush(): void {
    const t = this.#turn
    if (t.frames.length === 0 || this.#error !== undefined) return
    this.#turn = newTurn()
    let below = true
    try {
      const messages = this.#pack ? packFrames(t.frames) : t.frames
      for (const m of messages) below = this.#conn.send(m)
    } catch (err) {
      this.#fail(err, t)
      return
    }
    if (below) {
      t.resolve()
      return
    }
    this.#draining = true
    this.#conn.onDrain({ signal: this.#signal }).then(
      () => {
        this.#draining = false
        t.resolve()
        if (this.#turn.frames.length > 0) this.flush()
      },
      (err: unknown) => this.#fail(err, t),
    )
  }

  #fail(err: unknown, t: Turn): void {
    this.#error ??= err
    t.reject(err)
    const rest = this.#turn
    this.#turn = newTurn()
    rest.reject(err)
    t.done?.catch(() => {})
    rest.done?.catch(() => {})
  }
}
