/**
 * WebSocket transport (`ws://`, `wss://`) on the `ws` package: the default transport of ww.
 *
 * One WebSocket binary message is one frame. Text messages are a protocol violation: the
 * receiver closes with code 1003 and both ends report ERR_TEXT_FRAME. permessage-deflate is
 * off (frames are MessagePack, already compact, and inflating is a memory-amplification risk).
 *
 * Backpressure out: every `send()` adds the frame's size to a counter that the write callback
 * of `ws` takes off again once the bytes are handed to the OS; `send()` returns false while the
 * counter is at or past `highWaterMark`, and `onDrain()` resolves when a callback brings it
 * below. Backpressure in: received frames go to a bounded FrameQueue; when it reaches
 * `readBufferFrames`/`readBufferBytes`, the WebSocket is paused (`ws.pause()` stops reading the
 * socket, so TCP flow control stops the sender) and resumed when the reader has caught up.
 * `maxPayload` is enforced by `ws` on receipt (close code 1009, ERR_FRAME_TOO_LARGE on both
 * ends) and by `send()` locally.
 *
 * Close codes: 1000 (close) and 1001 (listener shutting down) end cleanly; 1003 is
 * ERR_TEXT_FRAME, 1009 ERR_FRAME_TOO_LARGE, 1002/1007 ERR_PROTOCOL_VIOLATION, anything else
 * (1006: the connection dropped without a close frame) ERR_CONNECTION_CLOSED.
 *
 * Keepalive: a listener pings each accepted connection every `pingInterval` and drops one that
 * has not answered the previous ping (a silently dead peer, or one that stopped reading). While
 * this end has paused reading it cannot see the peer's answers, so it does not judge then.
 *
 * A peer that goes away while this end has paused reading: a paused socket is not read, so
 * neither the peer's reset nor its close (queued behind the unread frames) is seen. While
 * paused, each connection therefore pings the peer every `pausedProbeInterval`: a write to a
 * reset socket fails, and one to a socket its owner has closed draws a reset, so the next
 * probe fails. The connection then ends with ERR_CONNECTION_CLOSED (`closed` settles; the
 * reader gets the frames already queued, then the error) without anyone reading.
 *
 * A listener is a door for strangers (docs/security.md): it holds at most `maxConnections`
 * sockets, upgraded or not, and `maxConnectionsPerIp` from one address; a socket must finish
 * the WebSocket upgrade within `upgradeTimeout` (slowloris, silent sockets); an upgrade
 * carrying an `Origin` header is refused unless the origin is in `allowOrigins`. A refused
 * socket gets an HTTP answer whose `x-ww-error` header names the code, which `connect()`
 * reports: 503 ERR_TOO_MANY_CONNECTIONS, 403 ERR_ORIGIN_FORBIDDEN (over TLS, a socket over
 * the connection caps is closed before the TLS handshake: ERR_CONNECT_FAILED).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { SecureContextOptions, TlsOptions } from 'node:tls'
import type WebSocket from 'ws'
import type { WebSocketServer } from 'ws'
import { abortError } from '../errors.js'
import { awaitClosed } from './abortable.js'
import {
  ERR_CONNECT_FAILED,
  ERR_CONNECTION_CLOSED,
  ERR_FRAME_TOO_LARGE,
  ERR_LISTEN_FAILED,
  ERR_PROTOCOL_VIOLATION,
  ERR_READ_BUFFER_FULL,
  ERR_TEXT_FRAME,
  ERR_UNSUPPORTED_SCHEME,
  parseUrl,
  transportError,
} from './errors.js'
import { FrameQueue } from './frame-queue.js'
import { hardReadBound, resolveLimits, type ConnectionLimits, type ResolvedLimits } from './limits.js'
import { SendBuffer } from './send-buffer.js'
import type { AbortOptions, Connection, Listener, Transport } from './types.js'

// `ws`, node:http and node:https are loaded with require(), not `import`, and only when a
// connection or listener is first made, for start-up time (a one-shot `ww ls` pays it every run;
// a process that never dials ws:// does not pay it at all):
// - `ws` is CommonJS; importing it goes through its ESM wrapper, and Node then scans every one
//   of its files for exports (measured ~70 ms of CPU against ~27 ms with require);
// - an ESM `import` of node:http builds the module's ESM facade, which reads every export,
//   including the lazy getters (WebSocket, fetch…) that load Node's bundled undici: ~30 ms.
const require = createRequire(import.meta.url)
type WsLib = typeof WebSocket & { WebSocketServer: typeof WebSocketServer }
let wsLib: WsLib | undefined
function loadWs(): WsLib {
  return (wsLib ??= require('ws') as WsLib)
}

/** Options of the WebSocket transport. */
export interface WebSocketsInit extends ConnectionLimits {
  /**
   * Milliseconds `connect()` waits for the TCP, TLS and WebSocket handshakes together before
   * failing with ERR_CONNECT_FAILED.
   * @default 10000
   */
  connectTimeout?: number
  /**
   * Server TLS for `listen('wss://…')`: at least `cert` and `key` (PEM). Required to listen on
   * wss. With `ca`, `requestCert: true` and `rejectUnauthorized: true`, clients must present
   * a certificate signed by that CA (mTLS).
   * @default undefined
   */
  tls?: TlsOptions
  /**
   * Listener: most sockets open at once, upgraded or not; one more is refused (HTTP 503,
   * `x-ww-error: ERR_TOO_MANY_CONNECTIONS`).
   * @default 1024
   */
  maxConnections?: number
  /**
   * Listener: most sockets open at once from one IP address; one more is refused like
   * `maxConnections`.
   * @default 256
   */
  maxConnectionsPerIp?: number
  /**
   * Listener: milliseconds a socket has, from accept, to complete the WebSocket upgrade
   * (headers included); then it is closed (HTTP 408 when it can still be told).
   * @default 10000
   */
  upgradeTimeout?: number
  /**
   * Listener: milliseconds between pings on each accepted connection; a connection that has
   * not answered a ping (nor sent anything) by the next one is dropped. 0: no pings.
   * @default 30000
   */
  pingInterval?: number
  /**
   * Listener: origins (`scheme://host[:port]`, as browsers send them) whose upgrades are
   * accepted. An upgrade carrying any other `Origin` header is refused (HTTP 403,
   * `x-ww-error: ERR_ORIGIN_FORBIDDEN`); one without the header (any non-browser client)
   * is not affected.
   * @default []
   */
  allowOrigins?: readonly string[]
  /**
   * Client TLS for `connect('wss://…')`, e.g. `{ ca }` to trust a private CA or self-signed
   * server certificate. Node's default trust store is used when absent.
   * @default undefined
   */
  clientTls?: SecureContextOptions & { rejectUnauthorized?: boolean; servername?: string }
  /**
   * Called with every `error` a listening server emits after `listen()` resolved (rare: an
   * accept that fails, e.g. EMFILE). The listener keeps running; the error never becomes an
   * uncaught exception.
   * @default a process warning (`process.emitWarning`, printed on stderr by Node)
   */
  onServerError?: (err: Error, url: string) => void
  /**
   * Milliseconds between liveness probes (a ping) that a connection sends while it has paused
   * reading (its read queue is full): the only way a paused socket learns that the peer
   * aborted or died, since their reset or close waits unread behind the queued data.
   * @default 1000
   */
  pausedProbeInterval?: number
}

/** The default `onServerError`: a process warning naming the listener. */
function warnServerError(err: Error, url: string): void {
  process.emitWarning(`ww: listener ${url}: ${err.message}`, { type: 'WwListenerWarning', code: (err as { code?: string }).code ?? 'UNKNOWN' })
}

/** A listener refused the connection: it holds its maximum of sockets (in all, or from this IP). */
export const ERR_TOO_MANY_CONNECTIONS = 'ERR_TOO_MANY_CONNECTIONS'
/** A listener refused an upgrade whose `Origin` header is not in its `allowOrigins`. */
export const ERR_ORIGIN_FORBIDDEN = 'ERR_ORIGIN_FORBIDDEN'

/** Default most sockets per listener. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Default most sockets per listener from one IP address. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 256
/** Default time for a socket to complete the upgrade: 10 s. */
export const DEFAULT_UPGRADE_TIMEOUT = 10_000
/** Default ping interval of a listener's connections: 30 s. */
export const DEFAULT_PING_INTERVAL = 30_000

/** Default interval of liveness probes while a connection has paused reading: 1 s. */
export const DEFAULT_PAUSED_PROBE_INTERVAL = 1000

/** Default time allowed for `connect()`: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000

/** WebSocket close codes this transport sends and understands (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
} as const

type State = 'connecting' | 'open' | 'closing' | 'closed'

/** One WebSocket as a Connection. */
class WsConnection implements Connection {
  readonly remoteAddress: string
  readonly closed: Promise<Error | undefined>
  /** Settles when the WebSocket opens, or rejects if it closes first (client side). */
  readonly opened: Promise<void>

  readonly #ws: WebSocket
  readonly #limits: ResolvedLimits
  readonly #queue: FrameQueue
  readonly #sendBuffer: SendBuffer
  #state: State
  // The first failure seen; reported by `closed` and the reader when the socket closes.
  #error: Error | undefined
  // Frames arriving after our own close() are read (so the close handshake gets through a
  // paused reader) and dropped.
  #discardIncoming = false
  #closeTimer: ReturnType<typeof setTimeout> | undefined
  #resolveClosed!: (err: Error | undefined) => void
  #resolveOpened!: () => void
  #rejectOpened!: (err: Error) => void
  readonly #iterator: AsyncIterator<Uint8Array, undefined>

  // Keepalive (listener side): whether the peer showed life since the last ping.
  #alive = true
  #pingTimer: ReturnType<typeof setInterval> | undefined
  // Liveness probes while reading is paused (see the file comment).
  readonly #probeInterval: number
  #probeTimer: ReturnType<typeof setInterval> | undefined

  constructor(ws: WebSocket, remoteAddress: string, limits: ResolvedLimits, probeInterval: number, pingInterval = 0) {
    this.#ws = ws
    this.remoteAddress = remoteAddress
    this.#limits = limits
    this.#probeInterval = probeInterval
    this.#state = ws.readyState === ws.OPEN ? 'open' : 'connecting'
    this.#sendBuffer = new SendBuffer(limits.highWaterMark)
    this.#queue = new FrameQueue({
      maxFrames: limits.readBufferFrames,
      maxBytes: limits.readBufferBytes,
      hardMaxBytes: hardReadBound(limits),
      onPause: () => {
        this.#ws.pause()
        this.#probeTimer ??= setInterval(() => this.#probe(), this.#probeInterval)
        this.#probeTimer.unref?.()
      },
      onResume: () => {
        this.#ws.resume()
        clearInterval(this.#probeTimer)
        this.#probeTimer = undefined
        // Answers to pings sent while paused are still on their way to the reader.
        this.#alive = true
      },
    })
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve
      this.#rejectOpened = reject
    })
    // Rejection is observed by connect(); a server-side connection never rejects it.
    this.opened.catch(() => {})
    if (this.#state === 'open') this.#resolveOpened()
    this.#iterator = {
      next: () => this.#queue.next(),
      return: () => {
        // The reader stopped: the connection is no longer wanted.
        if (this.#state === 'open') this.close().catch(() => {})
        return Promise.resolve({ done: true, value: undefined })
      },
    }

    ws.on('open', () => {
      if (this.#state !== 'connecting') return
      this.#state = 'open'
      this.#resolveOpened()
    })
    if (pingInterval > 0) {
      ws.on('pong', () => {
        this.#alive = true
      })
      this.#pingTimer = setInterval(() => this.#ping(pingInterval), pingInterval)
      this.#pingTimer.unref?.()
    }
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary))
    ws.on('error', (err) => {
      this.#error ??= mapWsError(err)
    })
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()))
  }

  get bufferedAmount(): number {
    return this.#sendBuffer.amount
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array, undefined> {
    return this.#iterator
  }

  send(frame: Uint8Array): boolean {
    if (this.#state !== 'open' || this.#ws.readyState !== this.#ws.OPEN) {
      throw transportError(ERR_CONNECTION_CLOSED, 'cannot send: the connection is closed')
    }
    if (frame.byteLength > this.#limits.maxPayload) {
      throw transportError(ERR_FRAME_TOO_LARGE, `frame of ${frame.byteLength} bytes exceeds maxPayload ${this.#limits.maxPayload}`)
    }
    const n = frame.byteLength
    const below = this.#sendBuffer.add(n)
    // The callback runs once ws has handed the bytes to the socket and the socket to the OS
    // (or with an error when the socket died): either way they have left our buffer.
    this.#ws.send(frame, { binary: true }, () => this.#sendBuffer.release(n))
    return below
  }

  onDrain(options?: AbortOptions): Promise<void> {
    return this.#sendBuffer.waitDrain(options)
  }

  async close(options: AbortOptions = {}): Promise<void> {
    this.#startClose(CloseCode.normal, '')
    await awaitClosed(this.closed, options.signal, (err) => this.abort(err))
  }

  /** @internal Graceful close with a specific code (the listener uses 1001). */
  shutdown(code: number, reason: string): Promise<void> {
    this.#startClose(code, reason)
    return this.closed.then(() => {})
  }

  abort(err: Error): void {
    if (this.#state === 'closed') return
    if (this.#state === 'connecting') this.#rejectOpened(err)
    this.#finish(err, 'drop')
    // A close, not a reset: what was already handed to the OS (an error frame the protocol
    // sends just before aborting) still reaches the peer; a reset would discard it.
    this.#ws.terminate()
  }

  #startClose(code: number, reason: string): void {
    if (this.#state === 'connecting') {
      this.abort(transportError(ERR_CONNECTION_CLOSED, 'closed before the connection was established'))
      return
    }
    if (this.#state !== 'open') return
    this.#state = 'closing'
    this.#discardIncoming = true
    this.#ws.resume()
    this.#closeTimer = setTimeout(() => {
      this.abort(transportError(ERR_CONNECTION_CLOSED, `close timed out after ${this.#limits.closeTimeout} ms`))
    }, this.#limits.closeTimeout)
    this.#ws.close(code, reason)
  }

  /** While paused: a ping whose write fails once the peer is gone (see the file comment). */
  #probe(): void {
    if (this.#state !== 'open') return
    try {
      this.#ws.ping()
    } catch {
      // the socket is closing; its close event ends the connection
    }
  }

  #ping(interval: number): void {
    if (this.#state !== 'open') return
    // Paused, this end does not read the peer's answers: the probes watch the peer instead.
    if (!this.#alive && !this.#queue.paused) {
      this.abort(transportError(ERR_CONNECTION_CLOSED, `no answer to a ping within ${interval} ms: the peer is gone or not reading`))
      return
    }
    this.#alive = false
    try {
      this.#ws.ping()
    } catch {
      // the socket is closing; its close event ends the connection
    }
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    this.#alive = true
    if (this.#discardIncoming || this.#state === 'closed') return
    if (!isBinary) {
      this.#violation(transportError(ERR_TEXT_FRAME, 'received a text frame; only binary frames are allowed'), CloseCode.unsupportedData, 'binary frames only')
      return
    }
    // Default binaryType is 'nodebuffer' and fragments are concatenated: always a Buffer.
    const frame = data as Buffer
    if (!this.#queue.push(frame)) {
      this.abort(transportError(ERR_READ_BUFFER_FULL, 'read buffer full: the connection was reset'))
    }
  }

  /** The peer broke the rules: the reader gets what came before, then `err`; close with `code`. */
  #violation(err: Error, code: number, reason: string): void {
    this.#error ??= err
    this.#queue.end(this.#error)
    this.#startClose(code, reason)
  }

  #onClose(code: number, reason: string): void {
    if (this.#state === 'closed') return
    const err = this.#error ?? errorForCloseCode(code, reason)
    if (this.#state === 'connecting') {
      this.#rejectOpened(transportError(ERR_CONNECT_FAILED, `could not connect to ${this.remoteAddress}: ${(err ?? new Error('closed')).message}`, err))
    }
    this.#finish(err, 'keep')
  }

  /** Ends this side. 'keep': the reader still gets queued frames; 'drop': they are discarded. */
  #finish(err: Error | undefined, queued: 'keep' | 'drop'): void {
    this.#state = 'closed'
    clearTimeout(this.#closeTimer)
    clearInterval(this.#pingTimer)
    clearInterval(this.#probeTimer)
    this.#sendBuffer.fail(err ?? transportError(ERR_CONNECTION_CLOSED, 'the connection is closed'))
    if (queued === 'drop') this.#queue.fail(err)
    else this.#queue.end(err)
    this.#resolveClosed(err)
  }
}

/** Maps a `ws` error event to a transport error code. */
function mapWsError(err: Error): Error {
  const code = (err as { code?: unknown }).code
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return transportError(ERR_FRAME_TOO_LARGE, 'received a frame larger than maxPayload', err)
  }
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
    return transportError(ERR_PROTOCOL_VIOLATION, `WebSocket protocol violation: ${err.message}`, err)
  }
  return transportError(ERR_CONNECTION_CLOSED, `connection failed: ${err.message}`, err)
}

/** What a close code received from the peer means for this end (undefined: a clean end). */
function errorForCloseCode(code: number, reason: string): Error | undefined {
  const why = reason === '' ? '' : `: ${reason}`
  switch (code) {
    case CloseCode.normal:
    case CloseCode.goingAway:
    case 1005: // a close frame without a code: the peer closed on purpose
      return undefined
    case CloseCode.unsupportedData:
      return transportError(ERR_TEXT_FRAME, `the peer closed with 1003 (unsupported data)${why}`)
    case CloseCode.messageTooBig:
      return transportError(ERR_FRAME_TOO_LARGE, `the peer closed with 1009 (frame too large)${why}`)
    case CloseCode.protocolError:
    case CloseCode.invalidPayload:
      return transportError(ERR_PROTOCOL_VIOLATION, `the peer closed with ${code} (protocol error)${why}`)
    case CloseCode.abnormal:
      return transportError(ERR_CONNECTION_CLOSED, 'the connection was lost without a close frame')
    default:
      return transportError(ERR_CONNECTION_CLOSED, `the peer closed with code ${code}${why}`)
  }
}

/** host:port of a ws/wss URL, with the scheme's default port. */
function endpoint(u: URL): { host: string; port: number } {
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  const port = u.port === '' ? (u.protocol === 'wss:' ? 443 : 80) : Number(u.port)
  return { host, port }
}

function checkScheme(u: URL): 'ws' | 'wss' {
  if (u.protocol === 'ws:') return 'ws'
  if (u.protocol === 'wss:') return 'wss'
  throw transportError(ERR_UNSUPPORTED_SCHEME, `the WebSocket transport cannot handle ${u.protocol}// URLs`)
}

/** Answers a refused socket over HTTP, naming the code in `x-ww-error`, and closes it. */
function refuse(socket: Duplex, status: number, text: string, code: string, why: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nx-ww-error: ${code}\r\n\r\n${code}: ${why}\n`)
  // A peer that doesn't read must not keep the socket: it is destroyed after a short grace.
  setTimeout(() => socket.destroy(), 1000).unref()
}

/** The address a socket came from, IPv4-mapped IPv6 written as IPv4. */
function ipOf(socket: Socket): string {
  const a = socket.remoteAddress ?? '?'
  return a.startsWith('::ffff:') ? a.slice(7) : a
}

/**
 * A listener's admission of raw sockets: the connection caps (in all, and per IP address)
 * and the upgrade deadline. Every socket counts, from accept to close, whether or not it
 * ever upgrades: those are what hold file descriptors.
 */
class SocketGate {
  readonly #tls: boolean
  readonly #max: number
  readonly #maxPerIp: number
  readonly #upgradeTimeout: number
  #open = 0
  readonly #perIp = new Map<string, number>()
  // Sockets still expected to upgrade, by remote address:port (the same on a TLS socket
  // and the TCP socket under it), with their deadline.
  readonly #pending = new Map<string, ReturnType<typeof setTimeout>>()
  // Sockets already answered with a refusal: a request they still send is ignored.
  readonly #refused = new WeakSet<object>()

  constructor(tls: boolean, max: number, maxPerIp: number, upgradeTimeout: number) {
    this.#tls = tls
    this.#max = max
    this.#maxPerIp = maxPerIp
    this.#upgradeTimeout = upgradeTimeout
  }

  admit(socket: Socket): void {
    socket.on('error', () => {})
    const ip = ipOf(socket)
    const fromIp = this.#perIp.get(ip) ?? 0
    if (this.#open >= this.#max || fromIp >= this.#maxPerIp) {
      const why = this.#open >= this.#max ? `the listener holds its maximum of ${this.#max} connections` : `the listener holds its maximum of ${this.#maxPerIp} connections from ${ip}`
      // Over TLS the socket cannot be answered before a handshake we won't spend: drop it.
      this.#refused.add(socket)
      if (this.#tls) socket.destroy()
      else refuse(socket, 503, 'Service Unavailable', ERR_TOO_MANY_CONNECTIONS, why)
      return
    }
    this.#open++
    this.#perIp.set(ip, fromIp + 1)
    const key = `${socket.remoteAddress}:${socket.remotePort}`
    const timer = setTimeout(() => {
      this.#pending.delete(key)
      this.#refused.add(socket)
      if (this.#tls) socket.destroy()
      else refuse(socket, 408, 'Request Timeout', ERR_CONNECT_FAILED, `no WebSocket upgrade within ${this.#upgradeTimeout} ms`)
    }, this.#upgradeTimeout)
    timer.unref?.()
    this.#pending.set(key, timer)
    socket.once('close', () => {
      clearTimeout(this.#pending.get(key))
      this.#pending.delete(key)
      this.#open--
      const n = (this.#perIp.get(ip) ?? 1) - 1
      if (n === 0) this.#perIp.delete(ip)
      else this.#perIp.set(ip, n)
    })
  }

  /** Whether `socket` (the TCP socket of a request) was already refused. */
  isRefused(socket: object): boolean {
    return this.#refused.has(socket)
  }

  /** The socket completed the upgrade: its deadline is off. */
  upgraded(socket: Socket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`
    clearTimeout(this.#pending.get(key))
    this.#pending.delete(key)
  }
}

/** A listening HTTP(S) server that upgrades to WebSocket. */
class WsListener implements Listener {
  readonly url: string
  readonly #server: HttpServer
  readonly #wss: WebSocketServer
  readonly #accepted = new Set<WsConnection>()
  #closing: Promise<void> | undefined

  constructor(url: string, server: HttpServer, wss: WebSocketServer) {
    this.url = url
    this.#server = server
    this.#wss = wss
  }

  get isOpen(): boolean {
    return this.#closing === undefined
  }

  accept(conn: WsConnection): void {
    if (!this.isOpen) {
      void conn.shutdown(CloseCode.goingAway, 'listener closed')
      return
    }
    this.#accepted.add(conn)
    void conn.closed.then(() => this.#accepted.delete(conn))
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()))
      await Promise.all([...this.#accepted].map((c) => c.shutdown(CloseCode.goingAway, 'listener closed')))
      this.#wss.close()
      // Keep-alive HTTP sockets that never upgraded would hold server.close() open.
      this.#server.closeAllConnections()
      await stopped
    })()
    return this.#closing
  }
}

/**
 * The WebSocket transport, schemes `ws` and `wss`. `listen('ws://127.0.0.1:0')` picks a free
 * port and reports it in `Listener.url`; `listen('wss://…')` needs `init.tls`. A path in the
 * listen URL (e.g. `/ww`) is enforced: upgrades to other paths get 404.
 */
export function webSockets(init: WebSocketsInit = {}): Transport {
  const limits = resolveLimits(init)
  const connectTimeout = init.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT
  const maxConnections = init.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const maxPerIp = init.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP
  const upgradeTimeout = init.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT
  const pingInterval = init.pingInterval ?? DEFAULT_PING_INTERVAL
  const allowOrigins = new Set(init.allowOrigins ?? [])
  for (const [k, v] of Object.entries({ maxConnections, maxConnectionsPerIp: maxPerIp, upgradeTimeout })) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`transport option ${k} must be a positive integer, got ${String(v)}`)
  }
  if (!Number.isSafeInteger(pingInterval) || pingInterval < 0) throw new RangeError(`transport option pingInterval must be a non-negative integer, got ${String(pingInterval)}`)
  const onServerError = init.onServerError ?? warnServerError
  const probeInterval = init.pausedProbeInterval ?? DEFAULT_PAUSED_PROBE_INTERVAL
  if (!Number.isSafeInteger(probeInterval) || probeInterval < 1) throw new RangeError(`transport option pausedProbeInterval must be a positive integer, got ${String(probeInterval)}`)

  return {
    schemes: ['ws', 'wss'],

    async connect(url, options = {}) {
      const { signal } = options
      if (signal?.aborted === true) throw abortError(signal)
      const u = parseUrl(url)
      const scheme = checkScheme(u)
      const { host, port } = endpoint(u)
      const ws = new (loadWs())(u, {
        perMessageDeflate: false,
        maxPayload: limits.maxPayload,
        followRedirects: false,
        ...(scheme === 'wss' ? (init.clientTls ?? {}) : {}),
      })
      const conn = new WsConnection(ws, `${host}:${port}`, limits, probeInterval)
      // A listener that refuses us says why in an HTTP answer (x-ww-error): report its code.
      ws.on('unexpected-response', (_req, res) => {
        const named = res.headers['x-ww-error']
        const code = typeof named === 'string' && /^ERR_[A-Z0-9_]+$/.test(named) ? named : ERR_CONNECT_FAILED
        res.resume()
        conn.abort(transportError(code, `${url} refused the connection: HTTP ${res.statusCode ?? '?'}${code === ERR_CONNECT_FAILED ? '' : ` (${code})`}`))
      })
      const onAbort = (): void => conn.abort(abortError(signal))
      const timer = setTimeout(() => {
        conn.abort(transportError(ERR_CONNECT_FAILED, `connecting to ${url} timed out after ${connectTimeout} ms`))
      }, connectTimeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        await conn.opened
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      return conn
    },

    async listen(url, onConnection, options = {}) {
      const { signal } = options
      if (signal?.aborted === true) throw abortError(signal)
      const u = parseUrl(url)
      const scheme = checkScheme(u)
      if (scheme === 'wss' && init.tls === undefined) {
        throw transportError(ERR_LISTEN_FAILED, `listening on ${url} needs TLS options (init.tls with cert and key)`)
      }
      const { host, port } = endpoint(u)
      const path = u.pathname === '/' ? '' : u.pathname
      const server =
        scheme === 'wss'
          ? (require('node:https') as typeof import('node:https')).createServer(init.tls ?? {})
          : (require('node:http') as typeof import('node:http')).createServer()
      // Node's own HTTP timeouts bound a request that is slow to send its headers; the
      // upgrade timer below also covers a socket that sends nothing at all.
      server.headersTimeout = upgradeTimeout
      server.requestTimeout = upgradeTimeout
      server.on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
        res.end('this endpoint speaks WebSocket only\n')
      })
      const gate = new SocketGate(scheme === 'wss', maxConnections, maxPerIp, upgradeTimeout)
      server.on('connection', (socket: Socket) => gate.admit(socket))
      const wss = new (loadWs().WebSocketServer)({
        noServer: true,
        perMessageDeflate: false,
        maxPayload: limits.maxPayload,
        ...(path === '' ? {} : { path }),
      })

      try {
        await new Promise<void>((resolve, reject) => {
          const onAbort = (): void => {
            server.close()
            reject(abortError(signal))
          }
          const onListenError = (err: Error): void => {
            signal?.removeEventListener('abort', onAbort)
            reject(transportError(ERR_LISTEN_FAILED, `cannot listen on ${url}: ${err.message}`, err))
          }
          server.once('error', onListenError)
          server.listen({ host, port }, () => {
            signal?.removeEventListener('abort', onAbort)
            server.off('error', onListenError)
            resolve()
          })
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      } catch (err) {
        wss.close()
        throw err
      }

      const address = server.address()
      const realPort = typeof address === 'object' && address !== null ? address.port : port
      const urlHost = host.includes(':') ? `[${host}]` : host
      const listener = new WsListener(`${scheme}://${urlHost}:${realPort}${path}`, server, wss)
      // A server error after listening (rare: e.g. EMFILE on accept) must not crash the
      // process, and must not vanish either: each one is reported.
      server.on('error', (err: Error) => {
        try {
          onServerError(err, listener.url)
        } catch {
          // A throwing reporter must not turn the error into a crash after all.
        }
      })

      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on('error', () => {})
        if (gate.isRefused(req.socket)) {
          socket.destroy()
          return
        }
        if (!listener.isOpen || !wss.shouldHandle(req)) {
          socket.end(`HTTP/1.1 ${listener.isOpen ? '404 Not Found' : '503 Service Unavailable'}\r\nConnection: close\r\n\r\n`)
          return
        }
        const origin = req.headers.origin
        if (origin !== undefined && !allowOrigins.has(origin)) {
          refuse(socket, 403, 'Forbidden', ERR_ORIGIN_FORBIDDEN, `origin ${origin.slice(0, 200)} is not allowed`)
          return
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          gate.upgraded(req.socket)
          const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`
          const conn = new WsConnection(ws, remote, limits, probeInterval, pingInterval)
          listener.accept(conn)
          if (!listener.isOpen) return
          try {
            onConnection(conn)
          } catch (err) {
            conn.abort(err instanceof Error ? err : transportError(ERR_CONNECTION_CLOSED, String(err)))
          }
        })
      })
      return listener
    },
  }
}
