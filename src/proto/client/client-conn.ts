/**
 * The client's end of one connection: handshake, calls and streams, generic over
 * capabilities (remote-view.ts builds the View on it; PubSub/Topic, docs/pubsub.md, use the same
 * `call` / `stream` / `newCapId`).
 *
 * Ids: call ids (streams are calls) and capability ids for promise pipelining are chosen
 * here, counting up from 1 and 2 (0 and 1 are the welcome's), never reused on a connection.
 * A frame the node sends that breaks the protocol ends the session with that error; so does
 * an `error` frame (with the node's code) and the connection dropping (ERR_CONNECTION_LOST).
 * Whatever ends the session ends every call and stream with its error: nothing hangs.
 */
import { abortError, WwError } from '../../errors.js'
import type { Connection } from '../../transport/types.js'
import { ERR_CONNECTION_CLOSED } from '../../transport/errors.js'
import { Cursor, type CursorOptions } from '../../iter.js'
import {
  type CallFrame,
  decodeNodeFrame,
  decodeNodeFrameAt,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  ERR_BAD_FRAME,
  ERR_PROTOCOL_VERSION,
  fromWireError,
  MAX_ID,
  type NodeFrame,
  PROTOCOL_VERSION,
  readBatchHead,
  LANG_VERSION,
  type WelcomeFrame,
} from '../wire/frames.js'
import { type ItemsReader, RemoteStream } from './remote-stream.js'
import type { CreditWindowInit } from '../wire/window.js'

/** The connection ended without a close() from this side (node gone, network down). */
export const ERR_CONNECTION_LOST = 'ERR_CONNECTION_LOST'
/** The session was closed by this client; later calls fail with this code. */
export const ERR_SESSION_CLOSED = 'ERR_SESSION_CLOSED'
/** The node sent more stream bytes than the credit it was given. */
export const ERR_FLOW_CONTROL = 'ERR_FLOW_CONTROL'

/** Options of a client connection. */
export interface ClientConnInit {
  /** Window settings of every stream (initial, cap). */
  window?: Omit<CreditWindowInit, 'now'>
  /** Largest frame accepted from the node. @default 1_048_576 */
  maxFrameBytes?: number
  /**
   * Ask the node to pack several frames into one transport message (hello `pack`,
   * docs/protocol.md#1-transport-and-encoding): fewer messages and socket writes when many
   * streams of the connection have something at once (watches). False speaks the original
   * one-frame-per-message protocol.
   * @default true
   */
  pack?: boolean
}

interface PendingCall {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
}

/** One open connection to a node, after the handshake. */
export class ClientConn {
  readonly #conn: Connection
  readonly #init: ClientConnInit
  readonly #calls = new Map<number, PendingCall>()
  readonly #streams = new Map<number, RemoteStream<unknown>>()
  #nextId = 1
  #nextCap = 2
  #error: Error | undefined
  /** Settles when the connection is gone: undefined after close(), else the error. */
  readonly closed: Promise<Error | undefined>
  #settle!: (e: Error | undefined) => void
  /** The node's welcome. */
  readonly welcome: WelcomeFrame

  /** The query language of this connection (welcome.lang; 1 for a node that did not say). */
  get lang(): number {
    return this.welcome.lang ?? 1
  }

  private constructor(conn: Connection, welcome: WelcomeFrame, init: ClientConnInit) {
    this.#conn = conn
    this.welcome = welcome
    this.#init = init
    this.closed = new Promise((resolve) => {
      this.#settle = resolve
    })
  }

  /**
   * Runs the handshake on `conn` and starts reading. Rejects with the node's error
   * (e.g. ERR_PROTOCOL_VERSION), ERR_CONNECTION_LOST, or ERR_ABORTED; the connection is
   * closed on failure.
   */
  static async open(conn: Connection, options: { token?: string; signal?: AbortSignal } & ClientConnInit = {}): Promise<ClientConn> {
    const it = conn[Symbol.asyncIterator]()
    const signal = options.signal
    let onAbort: (() => void) | undefined
    try {
      signal?.throwIfAborted()
      // A node that refuses us at once (ERR_TOO_MANY_CONNECTIONS) may have closed before our
      // hello goes out: its error frame, already received, is still the answer to read.
      let sendError: unknown
      try {
        const pack = options.pack ?? true
        conn.send(
          encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, ...(options.token === undefined ? {} : { token: options.token }), lang: LANG_VERSION, ...(pack ? { pack: true } : {}) }),
        )
      } catch (err) {
        sendError = err
      }
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortError(signal))
        signal?.addEventListener('abort', onAbort, { once: true })
      })
      aborted.catch(() => {})
      const r = await Promise.race([it.next(), aborted])
      if (r.done === true) throw sendError ?? new WwError(ERR_CONNECTION_LOST, 'the node closed the connection during the handshake')
      const f = decodeNodeFrame(r.value, { maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES })
      if (f.t === 'error') throw fromWireError(f)
      if (f.t !== 'welcome') throw new WwError(ERR_BAD_FRAME, `expected welcome, got ${f.t}`)
      if (f.v !== PROTOCOL_VERSION) {
        throw new WwError(ERR_PROTOCOL_VERSION, `protocol version mismatch: client speaks ${PROTOCOL_VERSION}, node speaks ${f.v}`)
      }
      const c = new ClientConn(conn, f, options)
      void c.#read(it)
      return c
    } catch (err) {
      conn.abort(err instanceof Error ? err : new Error(String(err)))
      if (err instanceof WwError) throw err
      throw new WwError(ERR_CONNECTION_LOST, `handshake failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  /** The error that ended the session, if it has ended. */
  get error(): Error | undefined {
    return this.#error
  }

  /** A fresh capability id to `bind` a new capability to (promise pipelining). */
  newCapId(): number {
    if (this.#nextCap > MAX_ID) throw new WwError(ERR_BAD_FRAME, 'capability ids exhausted on this connection')
    return this.#nextCap++
  }

  #newId(): number {
    if (this.#nextId > MAX_ID) throw new WwError(ERR_BAD_FRAME, 'call ids exhausted on this connection')
    return this.#nextId++
  }

  #send(frame: CallFrame | { t: 'credit'; id: number; consumed: number; window: number } | { t: 'cancel'; id: number }): void {
    try {
      // The transport's own high-water mark is far above anything a client sends
      // (calls, credit, cancel are tiny), so `false` needs no wait here.
      this.#conn.send(encodeFrame(frame))
    } catch (err) {
      this.#end(new WwError(ERR_CONNECTION_LOST, `the connection is gone: ${(err as Error).message}`, { cause: err }))
    }
  }

  /**
   * Calls method `m` on capability `cap`; resolves with the result's value. `bind`: the id
   * the new capability gets. `onError`: told of the node's (or the session's) error in the
   * same synchronous step that receives it, before the promise rejects. Rejects with the node's error, the session's, or ERR_ABORTED.
   */
  call(cap: number, m: string, a: Record<string, unknown>, options: { bind?: number; signal?: AbortSignal; onError?: (e: Error) => void } = {}): Promise<unknown> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    if (options.signal?.aborted === true) return Promise.reject(abortError(options.signal))
    const id = this.#newId()
    return new Promise<unknown>((resolve, reject) => {
      const signal = options.signal
      const onAbort = (): void => {
        // The result, when it comes, finds no pending call and is dropped.
        this.#calls.delete(id)
        reject(abortError(signal))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#calls.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(v)
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort)
          options.onError?.(e)
          reject(e)
        },
      })
      this.#send(options.bind === undefined ? { t: 'call', id, cap, m, a } : { t: 'call', id, cap, m, a, bind: options.bind })
    })
  }

  /**
   * Opens a streaming call; the Cursor yields `decode(item)` for each item. Cancelling the
   * cursor (break, cancel(), abort) sends `cancel`. `mapError` may replace the error that
   * ends the stream (a pipelined capability reports why its binding failed). `decodeItems`
   * may read a batch frame's items straight from its bytes (see ItemsReader).
   */
  stream<T>(
    cap: number,
    m: string,
    a: Record<string, unknown>,
    decode: (item: unknown) => T,
    options: CursorOptions & { mapError?: (e: Error) => Error; decodeItems?: ItemsReader<T> } = {},
  ): Cursor<T> {
    if (this.#error !== undefined) return Cursor.failed<T>(this.#error)
    if (options.signal?.aborted === true) return Cursor.failed<T>(abortError(options.signal))
    const id = this.#newId()
    const s: RemoteStream<T> = new RemoteStream<T>(
      {
        credit: (c) => this.#send({ t: 'credit', id, consumed: c.consumed, window: c.window }),
        cancel: () => this.#send({ t: 'cancel', id }),
        overrun: () => this.#end(new WwError(ERR_FLOW_CONTROL, `the node sent more than its credit on stream ${id}`)),
      },
      decode,
      this.#init.window,
      options.mapError,
      options.decodeItems,
    )
    this.#streams.set(id, s as RemoteStream<unknown>)
    this.#send({ t: 'call', id, cap, m, a, window: s.initialWindow })
    // RemoteStream answers synchronously when it can (see there); Cursor accepts either.
    return new Cursor<T>(s as unknown as Iterator<T>, { signal: options.signal })
  }

  /** Open streams (for tests). */
  get streams(): number {
    return this.#streams.size
  }

  async #read(it: AsyncIterator<Uint8Array>): Promise<void> {
    const max = this.#init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    try {
      for (;;) {
        const r = await it.next()
        if (r.done === true) break
        const msg = r.value
        if (this.welcome.pack === true) {
          // Several frames per message: each is dispatched with its own length (credit
          // counts each batch frame's bytes, not the message's).
          if (msg.length === 0) throw new WwError(ERR_BAD_FRAME, 'empty message: a message holds at least one frame')
          let pos = 0
          while (pos < msg.length) {
            let end = this.#readBatch(msg, pos, max, false)
            if (end < 0) {
              const one = decodeNodeFrameAt(msg, pos, { maxFrameBytes: max })
              end = one.end
              this.#dispatch(one.frame, end - pos)
            }
            if (this.#error !== undefined) return
            pos = end
          }
          continue
        }
        if (this.#readBatch(msg, 0, max, true) >= 0) {
          if (this.#error !== undefined) return
          continue
        }
        const f = decodeNodeFrame(msg, { maxFrameBytes: max })
        this.#dispatch(f, msg.length)
        if (this.#error !== undefined) return
      }
      this.#end(new WwError(ERR_CONNECTION_LOST, 'the node closed the connection'))
    } catch (err) {
      if (this.#error !== undefined) return
      const e = err as WwError
      if (e?.code === ERR_BAD_FRAME || e?.code === 'ERR_FRAME_TOO_LARGE') {
        this.#end(e)
        this.#conn.abort(e)
      } else {
        this.#end(new WwError(ERR_CONNECTION_LOST, `the connection to the node was lost: ${e?.message ?? String(err)}`, { cause: err }))
      }
    }
  }

  // A batch frame at `pos` of a stream that reads its items from the bytes (ItemsReader): when
  // the reader takes it whole, the items are queued and the frame's end is returned, with no
  // generic decode and no pre-scan (which guards that decoder); -1 otherwise, and the frame
  // takes the generic path. Frames are read this way only up to the frame limit, and with
  // `whole` only when the frame is the whole message (else the generic decoder refuses the
  // message, and none of it may have been queued).
  #readBatch(msg: Uint8Array, pos: number, max: number, whole: boolean): number {
    const head = readBatchHead(msg, pos)
    if (head === undefined) return -1
    return this.#streams.get(head.id)?.pushFrame(msg, pos, head.pos, head.count, max, whole ? msg.length : undefined) ?? -1
  }

  #dispatch(f: NodeFrame, bytes: number): void {
    switch (f.t) {
      case 'result': {
        const c = this.#calls.get(f.id)
        if (c !== undefined) {
          this.#calls.delete(f.id)
          if (f.error !== undefined) c.reject(fromWireError(f.error))
          else c.resolve(f.value)
          return
        }
        // A streaming call that failed before it started is answered with an error result.
        const s = this.#streams.get(f.id)
        if (s !== undefined) {
          this.#streams.delete(f.id)
          s.end(f.error !== undefined ? fromWireError(f.error) : new WwError(ERR_BAD_FRAME, `result frame for stream ${f.id}`))
        }
        return
      }
      case 'batch':
        this.#streams.get(f.id)?.push(f.items, bytes)
        return
      case 'end': {
        const s = this.#streams.get(f.id)
        if (s !== undefined) {
          this.#streams.delete(f.id)
          s.end(f.error !== undefined ? fromWireError(f.error) : undefined)
        }
        return
      }
      case 'error':
        this.#end(fromWireError(f))
        this.#conn.abort(this.#error!)
        return
      case 'welcome':
        throw new WwError(ERR_BAD_FRAME, 'welcome sent twice')
    }
  }

  // Ends the session: every call and stream fails with `error`.
  #end(error: Error): void {
    if (this.#error !== undefined) return
    this.#error = error
    for (const c of this.#calls.values()) c.reject(error)
    this.#calls.clear()
    for (const s of this.#streams.values()) s.end(error)
    this.#streams.clear()
    this.#settle((error as WwError).code === ERR_SESSION_CLOSED ? undefined : error)
  }

  /** Closes the connection; pending calls and streams fail with ERR_SESSION_CLOSED. */
  async close(): Promise<void> {
    if (this.#error === undefined) this.#end(new WwError(ERR_SESSION_CLOSED, 'the session was closed'))
    try {
      await this.#conn.close({ signal: AbortSignal.timeout(5000) })
    } catch (err) {
      if ((err as WwError)?.code !== ERR_CONNECTION_CLOSED) this.#conn.abort(err as Error)
    }
  }
}
