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
 * There is no ping/heartbeat at this layer: a silently dead peer is noticed by the protocol's
 * own request timeouts, or by TCP when the next write fails.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import type { SecureContextOptions } from 'node:tls'
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
   * wss.
   * @default undefined
   */
  tls?: SecureContextOptions
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
}

/** The default `onServerError`: a process warning naming the listener. */
function warnServerError(err: Error, url: string): void {
  process.emitWarning(`ww: listener ${url}: ${err.message}`, { type: 'WwListenerWarning', code: (err as { code?: string }).code ?? 'UNKNOWN' })
}

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

  constructor(ws: WebSocket, remoteAddress: string, limits: ResolvedLimits) {
    this.#ws = ws
    this.remoteAddress = remoteAddress
    this.#limits = limits
    this.#state = ws.readyState === ws.OPEN ? 'open' : 'connecting'
    this.#sendBuffer = new SendBuffer(limits.highWaterMark)
    this.#queue = new FrameQueue({
      maxFrames: limits.readBufferFrames,
      maxBytes: limits.readBufferBytes,
      hardMaxBytes: hardReadBound(limits),
      onPause: () => this.#ws.pause(),
      onResume: () => this.#ws.resume(),
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

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
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
  const onServerError = init.onServerError ?? warnServerError

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
      const conn = new WsConnection(ws, `${host}:${port}`, limits)
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
      server.on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
        res.end('this endpoint speaks WebSocket only\n')
      })
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
        if (!listener.isOpen || !wss.shouldHandle(req)) {
          socket.end(`HTTP/1.1 ${listener.isOpen ? '404 Not Found' : '503 Service Unavailable'}\r\nConnection: close\r\n\r\n`)
          return
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`
          const conn = new WsConnection(ws, remote, limits)
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
