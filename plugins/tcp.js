// @ts-check
/**
 * Example ww plugin: a transport for `tcp://host:port` URLs on node:net, so clients and
 * nodes can talk without WebSocket:
 *
 *   ww start --listen tcp://127.0.0.1:8421 --plugin plugins/tcp.js
 *   ww ls --addr tcp://127.0.0.1:8421 --plugin plugins/tcp.js
 *
 * Framing: every frame is a 4-byte big-endian length followed by that many bytes; the length
 * 0xFFFFFFFF (far past any `maxPayload`) is a liveness probe with no body, never delivered. It keeps
 * the transport contract (src/transport/types.ts) and passes the conformance suite
 * (plugins/tcp.test.ts):
 * - outgoing backpressure: `send()` returns false once the socket's unsent bytes
 *   (`bufferedAmount`) reach `highWaterMark`; `onDrain()` resolves when they fall below it;
 * - incoming backpressure: received frames wait in ww's bounded read queue (`FrameQueue` from
 *   `ww/transport`); when it holds `readBufferFrames` frames or `readBufferBytes` bytes the
 *   socket is paused, so TCP's own window stops the sender, and reading resumes once the
 *   consumer has brought it down to half of both. One chunk already read may hold many
 *   frames, so the queue takes frames past those levels up to a hard bound
 *   (`hardReadBound`: `readBufferBytes + maxPayload + 1 MiB`, 32 bytes counted per frame);
 *   past it the connection is reset with ERR_READ_BUFFER_FULL;
 * - a frame longer than `maxPayload` is refused on send (ERR_FRAME_TOO_LARGE) and, announced
 *   by a peer, resets the connection with that error;
 * - `close()` flushes what was sent and ends both directions (bounded by `closeTimeout`);
 *   `abort(err)` resets the connection (TCP RST), so the peer ends with an error;
 * - a peer that aborts (or dies) while this end has paused reading: the paused socket is not
 *   read, so the peer's reset or close, queued behind unread data, is not seen. While paused,
 *   the connection writes a probe every `pausedProbeInterval`: a write to a reset socket fails,
 *   one to a socket its owner closed draws a reset, so the next probe fails, and the connection
 *   ends with ERR_CONNECTION_CLOSED (`closed` settles; the reader gets the frames already
 *   queued, then the error) though nobody reads.
 *
 * The plugin is plain ESM with JSDoc types so it loads without a build step. From ww it uses
 * only the public building blocks of `ww/transport` (the read queue, `WwError` carrying ww's
 * stable `code`s).
 */
import { connect as netConnect, createServer } from 'node:net'
import { FrameQueue, hardReadBound, WwError } from 'ww/transport'

/**
 * Options of the tcp transport.
 * @typedef {object} TcpInit
 * @property {number} [highWaterMark] unsent bytes past which send() returns false (default 1048576).
 * @property {number} [readBufferFrames] received frames queued before reading pauses (default 64).
 * @property {number} [readBufferBytes] received bytes queued before reading pauses (default 4194304).
 * @property {number} [maxPayload] largest frame in either direction (default 4194304).
 * @property {number} [connectTimeout] ms before a dial fails (default 10000).
 * @property {number} [closeTimeout] ms a graceful close may take before the socket is destroyed (default 5000).
 * @property {number} [pausedProbeInterval] ms between liveness probes while reading is paused (default 1000).
 * @property {(err: Error, url: string) => void} [onServerError] called with every error the listening
 *   server reports after `listen()` resolved (a failed accept), and with every error thrown by the
 *   `onConnection` callback (that connection is reset); default: a process warning.
 */

/** @typedef {Omit<Required<TcpInit>, 'onServerError'>} TcpOptions */

/** The length that marks a liveness probe: a header with no body, never delivered. */
const PROBE = 0xffffffff
const PROBE_HEADER = Buffer.from([0xff, 0xff, 0xff, 0xff])

/**
 * The default `onServerError`: a process warning naming the listener.
 * @param {Error} err
 * @param {string} url
 */
function warnServerError(err, url) {
  process.emitWarning(`ww: listener ${url}: ${err.message}`, { type: 'WwListenerWarning', code: /** @type {any} */ (err).code ?? 'UNKNOWN' })
}

/** @typedef {import('ww/transport').Transport} Transport */
/** @typedef {import('ww/transport').Connection} Connection */
/** @typedef {import('ww/transport').Listener} Listener */

/**
 * @param {string} code
 * @param {string} message
 * @param {unknown} [cause]
 */
function wwError(code, message, cause) {
  return new WwError(code, message, cause === undefined ? undefined : { cause })
}

/** @param {string} url */
function parseTcpUrl(url) {
  let u
  try {
    u = new URL(url)
  } catch (err) {
    throw wwError('ERR_INVALID_URL', `not a valid URL: ${JSON.stringify(url)}`, err)
  }
  if (u.protocol !== 'tcp:') throw wwError('ERR_UNSUPPORTED_SCHEME', `the tcp transport handles tcp:// URLs, not ${u.protocol}//`)
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1')
  const port = u.port === '' ? NaN : Number(u.port)
  if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw wwError('ERR_INVALID_URL', `expected tcp://host:port, got ${JSON.stringify(url)}`)
  }
  return { host, port }
}

/** @param {AbortSignal | undefined} signal */
function abortedError(signal) {
  const reason = signal?.reason
  if (reason instanceof Error && typeof (/** @type {any} */ (reason).code) === 'string') return reason
  return wwError('ERR_ABORTED', 'the operation was aborted', reason)
}

/** @implements {Connection} */
class TcpConnection {
  /** @type {import('node:net').Socket} */ #socket
  /** @type {TcpOptions} */ #opts
  /** @type {Buffer[]} */ #pending = []
  #pendingLen = 0
  /** @type {FrameQueue} */ #queue
  #ended = false
  /** @type {Error | undefined} */ #error
  /** @type {'open' | 'closing' | 'closed'} */ #state = 'open'
  /** @type {Array<() => void>} */ #drainWaiters = []
  /** @type {ReturnType<typeof setInterval> | undefined} */ #probeTimer
  /** @type {(err: Error | undefined) => void} */ #resolveClosed = () => {}
  /** @type {Promise<Error | undefined>} */ closed
  /** @type {string} */ remoteAddress

  /**
   * @param {import('node:net').Socket} socket
   * @param {TcpOptions} opts
   */
  constructor(socket, opts) {
    this.#socket = socket
    this.#opts = opts
    this.#queue = new FrameQueue({
      maxFrames: opts.readBufferFrames,
      maxBytes: opts.readBufferBytes,
      hardMaxBytes: hardReadBound(opts),
      onPause: () => {
        socket.pause()
        this.#probeTimer ??= setInterval(() => {
          if (this.#state === 'open') socket.write(PROBE_HEADER)
        }, opts.pausedProbeInterval)
        this.#probeTimer.unref()
      },
      onResume: () => {
        socket.resume()
        this.#stopProbes()
      },
    })
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    socket.setNoDelay(true)
    socket.on('data', (chunk) => this.#onData(/** @type {Buffer} */ (chunk)))
    // The peer's FIN. The read queue ends at 'close', not here: an abort can show as a FIN
    // followed by a reset (seen under load), and the reader must then end with the error.
    socket.on('end', () => {
      this.#ended = true
    })
    socket.on('drain', () => this.#notifyDrain())
    socket.on('error', (err) => this.#fail(wwError('ERR_CONNECTION_CLOSED', `connection to ${this.remoteAddress} failed: ${err.message}`, err)))
    socket.on('close', () => {
      this.#stopProbes()
      if (this.#state !== 'closed') {
        this.#state = 'closed'
        // A close without an error event after a clean end is a graceful close.
        if (this.#error === undefined && !this.#ended) this.#error = wwError('ERR_CONNECTION_CLOSED', `connection to ${this.remoteAddress} closed before its end`)
        this.#ended = true
        this.#resolveClosed(this.#error)
      }
      this.#queue.end(this.#error)
      this.#notifyDrain()
    })
  }

  get bufferedAmount() {
    return this.#state === 'closed' ? 0 : this.#socket.writableLength
  }

  /** @param {Uint8Array} frame */
  send(frame) {
    if (this.#state !== 'open') throw wwError('ERR_CONNECTION_CLOSED', 'cannot send: the connection is closed')
    if (frame.byteLength > this.#opts.maxPayload) {
      throw wwError('ERR_FRAME_TOO_LARGE', `frame of ${frame.byteLength} bytes exceeds maxPayload ${this.#opts.maxPayload}`)
    }
    const header = Buffer.allocUnsafe(4)
    header.writeUInt32BE(frame.byteLength, 0)
    this.#socket.cork()
    this.#socket.write(header)
    if (frame.byteLength > 0) this.#socket.write(frame)
    this.#socket.uncork()
    return this.#socket.writableLength < this.#opts.highWaterMark
  }

  /** @param {{ signal?: AbortSignal }} [options] */
  onDrain(options = {}) {
    if (options.signal?.aborted === true) return Promise.reject(abortedError(options.signal))
    if (this.#state === 'closed' || this.#socket.writableLength < this.#opts.highWaterMark) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const signal = options.signal
      const onAbort = () => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== done)
        reject(abortedError(signal))
      }
      const done = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve(undefined)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#drainWaiters.push(done)
    })
  }

  /** @param {{ signal?: AbortSignal }} [options] */
  async close(options = {}) {
    if (this.#state === 'open') {
      this.#state = 'closing'
      // end() sends what is queued, then FIN; the peer's FIN completes the close.
      this.#socket.end()
      const timer = setTimeout(() => this.#socket.destroy(), this.#opts.closeTimeout)
      timer.unref()
      this.closed.finally(() => clearTimeout(timer))
    }
    if (options.signal !== undefined) {
      const signal = options.signal
      await new Promise((resolve, reject) => {
        if (signal.aborted) return reject(abortedError(signal))
        const onAbort = () => reject(abortedError(signal))
        signal.addEventListener('abort', onAbort, { once: true })
        this.closed.then(() => {
          signal.removeEventListener('abort', onAbort)
          resolve(undefined)
        })
      })
      return
    }
    await this.closed
  }

  /** @param {Error} err */
  abort(err) {
    if (this.#state === 'closed') return
    this.#error = err
    this.#state = 'closed'
    this.#queue.fail(err)
    this.#ended = true
    // RST rather than FIN: the peer must see an error, not a clean end.
    if (typeof this.#socket.resetAndDestroy === 'function' && this.#socket.readyState !== 'closed') this.#socket.resetAndDestroy()
    else this.#socket.destroy()
    this.#resolveClosed(err)
    this.#notifyDrain()
  }

  /** @returns {AsyncIterator<Uint8Array, undefined>} */
  [Symbol.asyncIterator]() {
    return {
      next: () => this.#queue.next(),
      return: async () => {
        // The reader stopped: the connection is no longer wanted.
        if (this.#state === 'open') this.close().catch(() => {})
        return { done: true, value: undefined }
      },
    }
  }

  /** @param {Buffer} chunk */
  #onData(chunk) {
    if (this.#state === 'closed') return
    this.#pending.push(chunk)
    this.#pendingLen += chunk.length
    for (;;) {
      if (this.#pendingLen < 4) break
      if (this.#pending.length > 1 && this.#pending[0].length < 4) this.#compact()
      const len = this.#pending[0].readUInt32BE(0)
      if (len === PROBE) {
        if (this.#pending[0].length === 4) this.#pending.shift()
        else this.#pending[0] = this.#pending[0].subarray(4)
        this.#pendingLen -= 4
        continue
      }
      if (len > this.#opts.maxPayload) {
        this.abort(wwError('ERR_FRAME_TOO_LARGE', `peer announced a frame of ${len} bytes, over maxPayload ${this.#opts.maxPayload}`))
        return
      }
      if (this.#pendingLen < 4 + len) break
      // The whole frame is here: gather it once (a large frame spans many chunks).
      if (this.#pending[0].length < 4 + len) this.#compact()
      const head = this.#pending[0]
      const frame = head.subarray(4, 4 + len)
      if (head.length === 4 + len) this.#pending.shift()
      else this.#pending[0] = head.subarray(4 + len)
      this.#pendingLen -= 4 + len
      if (!this.#queue.push(frame)) {
        this.abort(wwError('ERR_READ_BUFFER_FULL', 'read buffer full: the connection was reset'))
        return
      }
    }
  }

  #stopProbes() {
    clearInterval(this.#probeTimer)
    this.#probeTimer = undefined
  }

  #compact() {
    this.#pending = [Buffer.concat(this.#pending, this.#pendingLen)]
  }

  /** @param {Error} err */
  #fail(err) {
    if (this.#state === 'closed') return
    this.#error = err
    this.#state = 'closed'
    this.#ended = true
    this.#socket.destroy()
    this.#resolveClosed(err)
    // Frames already received are still read, then the error.
    this.#queue.end(err)
    this.#notifyDrain()
  }

  #notifyDrain() {
    if (this.#state !== 'closed' && this.#socket.writableLength >= this.#opts.highWaterMark) return
    const w = this.#drainWaiters
    this.#drainWaiters = []
    for (const f of w) f()
  }
}

/**
 * The tcp transport factory (scheme `tcp`).
 * @param {TcpInit} [init]
 * @returns {Transport}
 */
export function tcpTransport(init = {}) {
  /** @type {TcpOptions} */
  const opts = {
    highWaterMark: init.highWaterMark ?? 1 << 20,
    readBufferFrames: init.readBufferFrames ?? 64,
    readBufferBytes: init.readBufferBytes ?? 4 << 20,
    maxPayload: init.maxPayload ?? 4 << 20,
    connectTimeout: init.connectTimeout ?? 10_000,
    closeTimeout: init.closeTimeout ?? 5_000,
    pausedProbeInterval: init.pausedProbeInterval ?? 1000,
  }
  const onServerError = init.onServerError ?? warnServerError
  return {
    schemes: ['tcp'],

    connect(url, options = {}) {
      const signal = options.signal
      let target
      try {
        target = parseTcpUrl(url)
      } catch (err) {
        return Promise.reject(err)
      }
      if (signal?.aborted === true) return Promise.reject(abortedError(signal))
      return new Promise((resolve, reject) => {
        const socket = netConnect({ host: target.host, port: target.port })
        const timer = setTimeout(() => fail(wwError('ERR_CONNECT_FAILED', `connect to ${url} timed out after ${opts.connectTimeout} ms`)), opts.connectTimeout)
        const onAbort = () => fail(abortedError(signal))
        /** @param {Error} err */
        const fail = (err) => {
          cleanup()
          socket.destroy()
          reject(err)
        }
        /** @param {Error} err */
        const onError = (err) => fail(wwError('ERR_CONNECT_FAILED', `cannot connect to ${url}: ${err.message}`, err))
        const cleanup = () => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          socket.off('error', onError)
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        socket.once('error', onError)
        socket.once('connect', () => {
          cleanup()
          resolve(new TcpConnection(socket, opts))
        })
      })
    },

    listen(url, onConnection, options = {}) {
      let target
      try {
        target = parseTcpUrl(url)
      } catch (err) {
        return Promise.reject(err)
      }
      if (options.signal?.aborted === true) return Promise.reject(abortedError(options.signal))
      /** @type {Set<TcpConnection>} */
      const conns = new Set()
      let listenUrl = url
      /** @param {Error} err */
      const report = (err) => {
        try {
          onServerError(err, listenUrl)
        } catch {
          // a throwing reporter must not turn the error into a crash after all
        }
      }
      const server = createServer((socket) => {
        // Runs in a net.Server event: anything thrown here would be an uncaught exception that
        // ends the whole process, so a failing onConnection only costs its own connection.
        socket.on('error', () => {}) // until TcpConnection takes over the socket's errors
        /** @type {TcpConnection | undefined} */
        let conn
        try {
          conn = new TcpConnection(socket, opts)
          const c = conn
          conns.add(c)
          c.closed.finally(() => conns.delete(c))
          onConnection(c)
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e))
          report(err)
          if (conn !== undefined) conn.abort(wwError('ERR_CONNECTION_CLOSED', `the connection was refused: ${err.message}`, err))
          else socket.destroy()
        }
      })
      return new Promise((resolve, reject) => {
        /** @param {Error} err */
        const onListenError = (err) => reject(wwError('ERR_LISTEN_FAILED', `cannot listen on ${url}: ${err.message}`, err))
        server.once('error', onListenError)
        server.listen(target.port, target.host, () => {
          server.off('error', onListenError)
          // A server error after listening (a failed accept) is reported, never a crash.
          server.on('error', report)
          const addr = /** @type {import('node:net').AddressInfo} */ (server.address())
          const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
          listenUrl = `tcp://${host}:${addr.port}`
          /** @type {Listener} */
          const listener = {
            url: listenUrl,
            async close() {
              const closing = new Promise((r) => server.close(() => r(undefined)))
              await Promise.allSettled([...conns].map((c) => c.close()))
              await closing
            },
          }
          resolve(listener)
        })
      })
    },
  }
}

/** The plugin: the tcp transport. */
export default {
  name: 'tcp',
  transports: { tcp: tcpTransport },
}
