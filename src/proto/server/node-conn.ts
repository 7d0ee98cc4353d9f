/**
 * The node's side of one client connection: handshake, capability table, calls and streams.
 *
 * Life of a connection:
 *   1. The first frame must be `hello` within the handshake timeout; the node answers
 *      `welcome` with the View and PubSub capability ids (null ones when a token is required
 *      and the client didn't present it), or `error` and closes.
 *   2. Frames are then handled in arrival order. A `call` names a capability id of THIS
 *      connection's table; its answer is one `result`, or, for a streaming method, `batch`
 *      frames and one `end`. `credit` and `cancel` steer streams.
 *   3. A frame that breaks the protocol (undecodable, unknown type, wrong field types, too
 *      large, a malformed query, an id already in use, impossible credit) is answered with an
 *      `error` frame naming the problem, and this connection — only this one — is closed.
 *   4. However the connection ends, every stream is stopped (its source's `finally` runs) and
 *      every capability is closed and dropped.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import { WwError } from '../../errors.js'
import type { Connection } from '../../transport/types.js'
import {
  type CallFrame,
  type ClientFrame,
  decodeClientFrame,
  encodeFrame,
  ERR_BAD_FRAME,
  ERR_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  LANG_VERSION,
  toWireError,
} from '../wire/frames.js'
import {
  type CallContext,
  type CallOutcome,
  ERR_CAP_UNKNOWN,
  ERR_TOO_MANY_CALLS,
  ERR_TOO_MANY_CAPS,
  ERR_TOO_MANY_STREAMS,
  type ServerCap,
} from './caps.js'
import { ERR_BAD_QUERY } from '../wire/statement.js'
import type { CallObserver, ServerCounters } from './counters.js'
import { type BatchLimits, closeSource, ConnectionBudget, ServerStream, type StreamStats } from './server-stream.js'
import { DEFAULT_INITIAL_WINDOW } from '../wire/window.js'
import { Outbox } from './outbox.js'

/** No `hello` arrived within the handshake timeout. */
export const ERR_HANDSHAKE_TIMEOUT = 'ERR_HANDSHAKE_TIMEOUT'
/** The connection had nothing open (no stream, no call in progress) and sent nothing for the idle timeout. */
export const ERR_IDLE_TIMEOUT = 'ERR_IDLE_TIMEOUT'
/** The client's address presented too many wrong tokens lately; its hello is refused unread. */
export const ERR_AUTH_RATE_LIMITED = 'ERR_AUTH_RATE_LIMITED'
/** Capabilities a connection without the token may hold (the two null ones of the welcome included). */
export const NULL_MAX_CAPS = 8
/** The node is shutting down; sent in an `error` frame to every client. */
export const ERR_NODE_CLOSING = 'ERR_NODE_CLOSING'

/** Per-connection limits, all resolved. */
export interface ResolvedServeLimits {
  maxFrameBytes: number
  maxHelloBytes: number
  maxStreams: number
  maxCaps: number
  maxCalls: number
  handshakeTimeout: number
  idleTimeout: number
  maxWindow: number
  maxConnectionBytes: number
  batch: BatchLimits
}

/** The capabilities a connection starts with. */
export interface InitialCaps {
  view: ServerCap
  pubsub: ServerCap
}

/** What the node tells a connection at start. */
export interface NodeConnectionInit {
  peer: string
  token: string | undefined
  /**
   * Asked before a presented token is compared: false when this client has failed too often
   * lately (the hello is then refused with ERR_AUTH_RATE_LIMITED, and the token not looked at).
   */
  mayTry(remote: string): boolean
  /** Told of every hello that presented a token, right or wrong. */
  tried(remote: string, ok: boolean): void
  limits: ResolvedServeLimits
  /** Builds the capabilities for a client: `allowed` false → the null ones. */
  caps(allowed: boolean): InitialCaps
  /** Called once when the connection is gone and everything it held is freed. */
  onClose(c: NodeConnection): void
  /** The server's totals (flow-control waits are added here). @default undefined */
  counters?: ServerCounters
  /** Told of every call answered: its method and how long it took to its result or stream end. @default undefined */
  onCallDone?: CallObserver
}

// Errors a capability raises for malformed arguments: the client broke the protocol.
const FATAL = new Set([ERR_BAD_FRAME, ERR_BAD_QUERY])

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

/** One client connection on the node. */
export class NodeConnection {
  readonly conn: Connection
  readonly #init: NodeConnectionInit
  readonly #caps = new Map<number, ServerCap>()
  readonly #streams = new Map<number, ServerStream>()
  readonly #calls = new Set<number>()
  readonly #abort = new AbortController()
  readonly #budget: ConnectionBudget
  #closing = false
  #cleaned = false
  #maxInFlightDone = 0
  #lastFrame = performance.now()
  // Whether the hello presented the right token (or none was required).
  #allowed = false
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  // Every frame after `welcome` goes out through it, written once per turn (outbox.ts).
  #out: Outbox | undefined

  constructor(conn: Connection, init: NodeConnectionInit) {
    this.conn = conn
    this.#init = init
    this.#budget = new ConnectionBudget(init.limits.maxConnectionBytes)
  }

  /** Stream bytes in flight over this connection (sent, not yet reported consumed). */
  get inFlight(): number {
    return this.#budget.used
  }

  /** Live streams of this connection. */
  get streams(): number {
    return this.#streams.size
  }

  /** Capabilities held by this connection. */
  get caps(): number {
    return this.#caps.size
  }

  /** Largest bytes in flight seen on any stream of this connection, ended ones included. */
  get maxInFlight(): number {
    let m = this.#maxInFlightDone
    for (const s of this.#streams.values()) m = Math.max(m, s.stats().maxInFlight)
    return m
  }

  /** Accounting of every live stream. */
  streamStats(): StreamStats[] {
    return [...this.#streams.values()].map((s) => s.stats())
  }

  /** Serves the connection until it ends. Never rejects. */
  async run(): Promise<void> {
    const limits = this.#init.limits
    const timer = setTimeout(() => {
      this.fail(new WwError(ERR_HANDSHAKE_TIMEOUT, `no hello within ${limits.handshakeTimeout} ms`))
    }, limits.handshakeTimeout)
    let welcomed = false
    try {
      for await (const bytes of this.conn) {
        if (this.#closing) break
        this.#lastFrame = performance.now()
        let frame: ClientFrame
        try {
          // Before hello the client is nobody: its one frame must be small (and the scan in
          // decodeClientFrame bounds its nesting), so a stranger costs microseconds, not the
          // decoder's time on a megabyte.
          frame = decodeClientFrame(bytes, { maxFrameBytes: welcomed ? limits.maxFrameBytes : limits.maxHelloBytes })
          if (!welcomed) {
            clearTimeout(timer)
            this.#hello(frame)
            welcomed = true
            this.#armIdle(limits.idleTimeout)
          } else {
            this.#handle(frame)
          }
        } catch (err) {
          this.fail(err)
          break
        }
      }
    } catch {
      // the transport ended with an error: the finally below frees everything
    } finally {
      clearTimeout(timer)
      this.#cleanup()
    }
  }

  /** Sends an `error` frame for `err`, then closes this connection. */
  fail(err: unknown): void {
    if (this.#closing) return
    this.#closing = true
    const e = toWireError(err)
    const frame = encodeFrame({ t: 'error', code: e.code, message: e.message })
    if (this.#out !== undefined) {
      // After whatever is queued, and now: the connection closes next.
      this.#out.post(frame)
      this.#out.flush()
    } else {
      try {
        this.conn.send(frame)
      } catch {
        // already gone
      }
    }
    // A graceful close flushes the error frame; a client that doesn't read is dropped after 2 s.
    this.conn.close({ signal: AbortSignal.timeout(2000) }).catch(() => this.conn.abort(new WwError(e.code, e.message)))
    this.#cleanup()
  }

  // Closes the connection once it has had nothing open and sent nothing for `ms`: a
  // stream (a quiet subscription too) or a call in progress keeps it.
  #armIdle(ms: number): void {
    const wait = Math.max(1, ms - (performance.now() - this.#lastFrame))
    this.#idleTimer = setTimeout(() => {
      if (this.#closing) return
      if (this.#streams.size === 0 && this.#calls.size === 0 && performance.now() - this.#lastFrame >= ms) {
        this.fail(new WwError(ERR_IDLE_TIMEOUT, `nothing open and no frame for ${ms} ms`))
        return
      }
      if (this.#streams.size > 0 || this.#calls.size > 0) this.#lastFrame = performance.now()
      this.#armIdle(ms)
    }, wait)
    this.#idleTimer.unref?.()
  }

  #hello(f: ClientFrame): void {
    if (f.t !== 'hello') throw new WwError(ERR_BAD_FRAME, `the first frame must be hello, not ${f.t}`)
    if (f.v !== PROTOCOL_VERSION) {
      throw new WwError(ERR_PROTOCOL_VERSION, `protocol version mismatch: client speaks ${f.v}, node speaks ${PROTOCOL_VERSION}`)
    }
    const want = this.#init.token
    let allowed = want === undefined
    if (want !== undefined && f.token !== undefined) {
      const remote = this.conn.remoteAddress
      if (!this.#init.mayTry(remote)) throw new WwError(ERR_AUTH_RATE_LIMITED, 'too many wrong tokens from this address lately; try again later')
      allowed = timingSafeEqual(digest(f.token), digest(want))
      this.#init.tried(remote, allowed)
    }
    this.#allowed = allowed
    // Packing is the client's choice (hello.pack); a client that doesn't ask gets one frame
    // per message, as the original protocol has it.
    const pack = f.pack === true
    const caps = this.#init.caps(allowed)
    this.#caps.set(0, caps.view)
    this.#caps.set(1, caps.pubsub)
    this.conn.send(
      encodeFrame({
        t: 'welcome',
        v: PROTOCOL_VERSION,
        peer: this.#init.peer,
        view: { cap: 0, null: caps.view.isNull },
        pubsub: { cap: 1, null: caps.pubsub.isNull },
        // The query language is negotiated only with a client that asks (docs/protocol.md).
        ...(f.lang === undefined ? {} : { lang: Math.min(f.lang, LANG_VERSION) }),
        ...(pack ? { pack: true } : {}),
      }),
    )
    // The welcome went alone, straight to the transport; everything after it is queued.
    this.#out = new Outbox(this.conn, pack, this.#abort.signal)
  }

  #handle(f: ClientFrame): void {
    switch (f.t) {
      case 'hello':
        throw new WwError(ERR_BAD_FRAME, 'hello sent twice')
      case 'call':
        this.#call(f)
        return
      case 'credit': {
        const s = this.#streams.get(f.id)
        // Credit for a stream that just ended crossed its end frame: nothing to do.
        if (s !== undefined && !s.credit(f)) {
          throw new WwError(ERR_BAD_FRAME, `credit frame for stream ${f.id}: consumed ${f.consumed} is behind an earlier credit or past the bytes sent`)
        }
        return
      }
      case 'cancel':
        this.#streams.get(f.id)?.stop()
        return
    }
  }

  #result(id: number, outcome: { value: unknown } | { error: unknown }): void {
    if (this.#closing) return
    const frame =
      'error' in outcome ? { t: 'result' as const, id, error: toWireError(outcome.error) } : { t: 'result' as const, id, value: outcome.value ?? null }
    // #result runs only after the welcome, so the outbox is there; it drops the frame once
    // the connection is gone.
    this.#out!.post(encodeFrame(frame))
  }

  #call(f: CallFrame): void {
    const started = performance.now()
    const limits = this.#init.limits
    if (this.#calls.has(f.id) || this.#streams.has(f.id)) throw new WwError(ERR_BAD_FRAME, `call id ${f.id} is already in use`)
    if (f.bind !== undefined && this.#caps.has(f.bind)) throw new WwError(ERR_BAD_FRAME, `capability id ${f.bind} is already in use`)
    const cap = this.#caps.get(f.cap)
    if (cap === undefined) {
      this.#result(f.id, { error: new WwError(ERR_CAP_UNKNOWN, `no capability ${f.cap} on this connection`) })
      return
    }
    if (f.m === 'release') {
      this.#caps.delete(f.cap)
      cap.close?.()
      this.#result(f.id, { value: null })
      return
    }
    if (this.#calls.size >= limits.maxCalls) {
      this.#result(f.id, { error: new WwError(ERR_TOO_MANY_CALLS, `more than ${limits.maxCalls} calls in progress`) })
      return
    }
    const ctx: CallContext = {
      bind: (c: ServerCap) => {
        if (f.bind === undefined) throw new WwError(ERR_BAD_FRAME, `${f.m} creates a capability: the call needs a 'bind' id`)
        const max = this.#allowed ? limits.maxCaps : Math.min(limits.maxCaps, NULL_MAX_CAPS)
        if (this.#caps.size >= max) {
          c.close?.()
          throw new WwError(ERR_TOO_MANY_CAPS, `more than ${max} capabilities on this connection${this.#allowed ? '' : ' without the token'}`)
        }
        this.#caps.set(f.bind, c)
      },
      signal: this.#abort.signal,
    }
    let out: CallOutcome | Promise<CallOutcome>
    try {
      out = cap.call(f.m, f.a, ctx)
    } catch (err) {
      if (FATAL.has((err as WwError).code)) throw err
      this.#result(f.id, { error: err })
      return
    }
    if (out instanceof Promise) {
      this.#calls.add(f.id)
      out.then(
        (o) => {
          this.#calls.delete(f.id)
          this.#answer(f, o, started)
        },
        (err: unknown) => {
          this.#calls.delete(f.id)
          if (FATAL.has((err as WwError).code)) this.fail(err)
          else this.#result(f.id, { error: err })
        },
      )
      return
    }
    this.#answer(f, out, started)
  }

  #answer(f: CallFrame, o: CallOutcome, started: number): void {
    if (this.#closing) {
      if ('stream' in o) closeSource(o.stream)
      return
    }
    if ('value' in o) {
      this.#result(f.id, o)
      this.#init.onCallDone?.(f.m, (performance.now() - started) / 1000)
      return
    }
    const limits = this.#init.limits
    if (this.#streams.size >= limits.maxStreams) {
      closeSource(o.stream)
      this.#result(f.id, { error: new WwError(ERR_TOO_MANY_STREAMS, `more than ${limits.maxStreams} streams on this connection`) })
      return
    }
    const window = f.window ?? DEFAULT_INITIAL_WINDOW
    const s = new ServerStream(this.conn, this.#out!, f.id, o.stream, window, limits.maxWindow, limits.batch, this.#abort.signal, this.#budget, o.encode, o.write, this.#init.counters)
    this.#streams.set(f.id, s)
    void s.run(() => {
      this.#init.onCallDone?.(f.m, (performance.now() - started) / 1000)
      this.#maxInFlightDone = Math.max(this.#maxInFlightDone, s.stats().maxInFlight)
      if (this.#streams.get(f.id) === s) this.#streams.delete(f.id)
    })
  }

  #cleanup(): void {
    // Once only: run()'s finally and fail() both come here.
    if (this.#cleaned) return
    this.#cleaned = true
    this.#closing = true
    clearTimeout(this.#idleTimer)
    if (!this.#abort.signal.aborted) this.#abort.abort()
    for (const s of this.#streams.values()) {
      this.#maxInFlightDone = Math.max(this.#maxInFlightDone, s.stats().maxInFlight)
      s.stop()
    }
    this.#streams.clear()
    for (const c of this.#caps.values()) {
      try {
        c.close?.()
      } catch {
        // a capability failing to close must not keep the others open
      }
    }
    this.#caps.clear()
    this.#calls.clear()
    this.#init.onClose(this)
  }
}
