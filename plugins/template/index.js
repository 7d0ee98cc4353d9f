// @ts-check
/**
 * A ww plugin starter (README.md beside this file): one output format and one transport,
 * written against ww's public entry points only (`ww/transport`, `ww/plugin` types), as a
 * package of its own would be.
 *
 * - `tsv`: routing records as tab-separated lines (`peer`, `host`, `meta` as `k=v,k=v`),
 *   a header line unless `--no-headers`.
 * - `unix`: frames over Unix domain sockets, `unix:///run/ww.sock`. Listening on a URL whose
 *   path ends in `/` (`unix:///tmp/`) makes a fresh socket in that folder, as port 0 does for
 *   TCP; the listener's `url` names it. Options (the config file's `options` for this plugin,
 *   all optional): ww's ConnectionLimits (`highWaterMark`, `readBufferFrames`,
 *   `readBufferBytes`, `maxPayload`, `closeTimeout`), `pausedProbeInterval` (ms) and
 *   `socketMode` (the listening socket's file mode, e.g. 384 = 0o600).
 *
 * Framing: a 4-byte big-endian length, then that many bytes. Two lengths no frame can have
 * (ww's maxPayload is far below them) are control headers without a body:
 * - 0xFFFFFFFE "goodbye": sent by `close()` before the socket's end, so the peer can tell a
 *   graceful close from an abort. A Unix socket has no reset: `abort()` just closes, and an
 *   end without goodbye (an abort, or a process that died) is ERR_CONNECTION_CLOSED.
 * - 0xFFFFFFFF "probe": written every `pausedProbeInterval` while this end has paused
 *   reading (its read queue is full). A paused socket is not read, so it would never see the
 *   peer go away; a write to a socket whose peer is gone fails at once (EPIPE), and the
 *   connection ends with ERR_CONNECTION_CLOSED though nobody reads.
 */
import { randomBytes } from 'node:crypto'
import { chmod } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'
import { FrameQueue, SendBuffer, WwError, hardReadBound, resolveLimits } from 'ww/transport'

/** @typedef {import('ww/plugin').FormatterFactory} FormatterFactory */
/** @typedef {import('ww/plugin').Transport} Transport */
/** @typedef {import('ww/plugin').Connection} Connection */
/** @typedef {import('ww/plugin').Listener} Listener */
/** @typedef {import('ww/transport').ResolvedLimits} ResolvedLimits */

// ---------------------------------------------------------------------------------------
// The formatter

/** @param {string} s a field with tabs, line breaks and backslashes escaped */
function tsvField(s) {
  return s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] ?? c)
}

/**
 * The `tsv` format. ww calls the factory once per query with a fresh `out` and `init`, then
 * `begin`, `record` per record and `end` once: per-query state lives in this closure.
 * @type {FormatterFactory}
 */
export const tsvFormatter = (out, init = {}) => ({
  begin() {
    if (init.headers !== false) out.write('peer\thost\tmeta\n')
  },
  record(r) {
    const meta = Object.entries(r.meta)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')
    out.write(`${[r.peer, r.host, meta].map(tsvField).join('\t')}\n`)
  },
  end() {},
})

// ---------------------------------------------------------------------------------------
// The transport

const GOODBYE = 0xfffffffe
const PROBE = 0xffffffff
const GOODBYE_HEADER = Buffer.from([0xff, 0xff, 0xff, 0xfe])
const PROBE_HEADER = Buffer.from([0xff, 0xff, 0xff, 0xff])

/**
 * @param {string} code
 * @param {string} message
 * @param {unknown} [cause]
 */
const wwError = (code, message, cause) => new WwError(code, message, cause === undefined ? undefined : { cause })

/** @param {AbortSignal | undefined} signal */
function abortError(signal) {
  const reason = signal?.reason
  if (reason instanceof Error && typeof (/** @type {{ code?: unknown }} */ (reason).code) === 'string') return reason
  return wwError('ERR_ABORTED', 'the operation was aborted', reason)
}

/** @param {string} url @returns {string} the socket path */
function socketPath(url) {
  let u
  try {
    u = new URL(url)
  } catch (err) {
    throw wwError('ERR_INVALID_URL', `not a valid URL: ${JSON.stringify(url)}`, err)
  }
  if (u.protocol !== 'unix:') throw wwError('ERR_UNSUPPORTED_SCHEME', `the unix transport handles unix:// URLs, not ${u.protocol}//`)
  const path = decodeURIComponent(u.pathname)
  if (u.host !== '' || !path.startsWith('/') || path === '/') {
    throw wwError('ERR_INVALID_URL', `expected unix:///absolute/path.sock, got ${JSON.stringify(url)}`)
  }
  return path
}

/** @param {string} path */
const unixUrl = (path) => `unix://${encodeURI(path)}`

/** @implements {Connection} */
class UnixConnection {
  /** @type {import('node:net').Socket} */ #socket
  /** @type {ResolvedLimits} */ #limits
  /** @type {FrameQueue} */ #queue
  /** @type {SendBuffer} */ #sendBuffer
  /** @type {Buffer[]} */ #pending = []
  #pendingLen = 0
  /** @type {'open' | 'closing' | 'closed'} */ #state = 'open'
  #peerSaidGoodbye = false
  /** @type {Error | undefined} */ #error
  /** @type {ReturnType<typeof setInterval> | undefined} */ #probeTimer
  /** @type {(err: Error | undefined) => void} */ #resolveClosed = () => {}
  /** @type {Promise<Error | undefined>} */ closed
  /** @type {string} */ remoteAddress

  /**
   * @param {import('node:net').Socket} socket
   * @param {ResolvedLimits} limits
   * @param {number} probeInterval
   * @param {string} remoteAddress
   */
  constructor(socket, limits, probeInterval, remoteAddress) {
    this.#socket = socket
    this.#limits = limits
    this.remoteAddress = remoteAddress
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    this.#sendBuffer = new SendBuffer(limits.highWaterMark)
    this.#queue = new FrameQueue({
      maxFrames: limits.readBufferFrames,
      maxBytes: limits.readBufferBytes,
      hardMaxBytes: hardReadBound(limits),
      onPause: () => {
        socket.pause()
        this.#probeTimer ??= setInterval(() => {
          if (this.#state === 'open') socket.write(PROBE_HEADER)
        }, probeInterval)
        this.#probeTimer.unref()
      },
      onResume: () => {
        socket.resume()
        this.#stopProbes()
      },
    })
    socket.on('data', (chunk) => this.#onData(/** @type {Buffer} */ (chunk)))
    socket.on('end', () => {
      // The peer's side ended: cleanly only after its goodbye, or as the answer to ours.
      if (this.#peerSaidGoodbye || this.#state === 'closing') return
      this.#fail(wwError('ERR_CONNECTION_CLOSED', `${this.remoteAddress} went away without closing (aborted or died)`))
    })
    socket.on('error', (err) => this.#fail(wwError('ERR_CONNECTION_CLOSED', `connection to ${this.remoteAddress} failed: ${err.message}`, err)))
    socket.on('close', () => {
      this.#stopProbes()
      const err = this.#error
      if (this.#state !== 'closed') {
        this.#state = 'closed'
        this.#resolveClosed(err)
      }
      this.#queue.end(err)
      this.#sendBuffer.fail(err ?? wwError('ERR_CONNECTION_CLOSED', 'the connection is closed'))
    })
  }

  get bufferedAmount() {
    return this.#sendBuffer.amount
  }

  /** @param {Uint8Array} frame */
  send(frame) {
    if (this.#state !== 'open') throw wwError('ERR_CONNECTION_CLOSED', 'cannot send: the connection is closed')
    if (frame.byteLength > this.#limits.maxPayload) {
      throw wwError('ERR_FRAME_TOO_LARGE', `frame of ${frame.byteLength} bytes exceeds maxPayload ${this.#limits.maxPayload}`)
    }
    const n = frame.byteLength + 4
    const header = Buffer.allocUnsafe(4)
    header.writeUInt32BE(frame.byteLength, 0)
    const below = this.#sendBuffer.add(n)
    this.#socket.cork()
    this.#socket.write(header)
    // The callback runs once the bytes went to the OS, or with an error: they left either way.
    this.#socket.write(frame, () => this.#sendBuffer.release(n))
    this.#socket.uncork()
    return below
  }

  /** @param {{ signal?: AbortSignal }} [options] */
  onDrain(options) {
    return this.#sendBuffer.waitDrain(options)
  }

  /** @param {{ signal?: AbortSignal }} [options] */
  async close(options = {}) {
    const { signal } = options
    if (signal?.aborted === true) {
      const err = abortError(signal)
      this.abort(err)
      throw err
    }
    if (this.#state === 'open') this.#goodbye()
    if (signal === undefined) {
      await this.closed
      return
    }
    await new Promise((resolve, reject) => {
      const onAbort = () => {
        const err = abortError(signal)
        this.abort(err)
        reject(err)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      void this.closed.then(() => {
        signal.removeEventListener('abort', onAbort)
        resolve(undefined)
      })
    })
  }

  /** @param {Error} err */
  abort(err) {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#error = err
    this.#queue.fail(err)
    this.#sendBuffer.fail(err)
    this.#resolveClosed(err)
    this.#socket.destroy()
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

  /** Graceful close: goodbye after what is queued, then the end of our side (bounded). */
  #goodbye() {
    this.#state = 'closing'
    this.#socket.end(GOODBYE_HEADER)
    const timer = setTimeout(() => {
      this.#fail(wwError('ERR_CONNECTION_CLOSED', `close timed out after ${this.#limits.closeTimeout} ms`))
    }, this.#limits.closeTimeout)
    timer.unref()
    void this.closed.finally(() => clearTimeout(timer))
  }

  /** @param {Buffer} chunk */
  #onData(chunk) {
    if (this.#state === 'closed') return
    this.#pending.push(chunk)
    this.#pendingLen += chunk.length
    while (this.#pendingLen >= 4) {
      if (this.#pending[0].length < 4) this.#compact()
      const len = this.#pending[0].readUInt32BE(0)
      if (len === PROBE || len === GOODBYE) {
        this.#consume(4)
        if (len === GOODBYE) this.#onGoodbye()
        continue
      }
      if (len > this.#limits.maxPayload) {
        this.abort(wwError('ERR_FRAME_TOO_LARGE', `peer announced a frame of ${len} bytes, over maxPayload ${this.#limits.maxPayload}`))
        return
      }
      if (this.#pendingLen < 4 + len) break
      if (this.#pending[0].length < 4 + len) this.#compact()
      const frame = this.#pending[0].subarray(4, 4 + len)
      this.#consume(4 + len)
      // While closing, frames arriving after our own close() are dropped.
      if (this.#state === 'closing') continue
      if (!this.#queue.push(frame)) {
        this.abort(wwError('ERR_READ_BUFFER_FULL', 'read buffer full: the connection was reset'))
        return
      }
    }
  }

  /** The peer closed gracefully: the reader ends after what is queued, and so do we. */
  #onGoodbye() {
    this.#peerSaidGoodbye = true
    this.#queue.end()
    if (this.#state === 'open') {
      this.#state = 'closing'
      this.#socket.end()
    }
  }

  /** @param {number} n */
  #consume(n) {
    const head = this.#pending[0]
    if (head.length === n) this.#pending.shift()
    else this.#pending[0] = head.subarray(n)
    this.#pendingLen -= n
  }

  #compact() {
    this.#pending = [Buffer.concat(this.#pending, this.#pendingLen)]
  }

  #stopProbes() {
    clearInterval(this.#probeTimer)
    this.#probeTimer = undefined
  }

  /** @param {Error} err the connection is gone: queued frames are still read, then `err` */
  #fail(err) {
    if (this.#state === 'closed') return
    this.#error ??= err
    this.#queue.end(this.#error)
    this.#socket.destroy()
  }
}

/**
 * Options of the unix transport: ww's ConnectionLimits plus these.
 * @typedef {import('ww/transport').ConnectionLimits & {
 *   pausedProbeInterval?: number,
 *   socketMode?: number,
 * }} UnixTransportInit
 */

/**
 * The unix transport factory (scheme `unix`). ww calls it once, with this plugin's `options`
 * from the config file or with nothing; it validates them, since they are the user's JSON.
 * @param {UnixTransportInit} [init]
 * @returns {Transport}
 */
export function unixTransport(init = {}) {
  if (typeof init !== 'object' || init === null) throw new TypeError('unix transport: options must be an object')
  const limits = resolveLimits(init)
  const probeInterval = init.pausedProbeInterval ?? 1000
  if (!Number.isSafeInteger(probeInterval) || probeInterval < 1) throw new RangeError('unix transport: pausedProbeInterval must be a positive integer (ms)')
  const mode = init.socketMode
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) throw new RangeError('unix transport: socketMode must be a file mode (0 to 511)')

  return {
    schemes: ['unix'],

    connect(url, options = {}) {
      const { signal } = options
      let path
      try {
        path = socketPath(url)
      } catch (err) {
        return Promise.reject(err)
      }
      if (signal?.aborted === true) return Promise.reject(abortError(signal))
      return new Promise((resolve, reject) => {
        const socket = createConnection({ path, allowHalfOpen: true })
        /** @param {Error} err */
        const fail = (err) => {
          signal?.removeEventListener('abort', onAbort)
          socket.destroy()
          reject(err)
        }
        const onAbort = () => fail(abortError(signal))
        signal?.addEventListener('abort', onAbort, { once: true })
        socket.once('error', (err) => fail(wwError('ERR_CONNECT_FAILED', `cannot connect to ${url}: ${err.message}`, err)))
        socket.once('connect', () => {
          signal?.removeEventListener('abort', onAbort)
          socket.removeAllListeners('error')
          resolve(new UnixConnection(socket, limits, probeInterval, unixUrl(path)))
        })
      })
    },

    async listen(url, onConnection, options = {}) {
      const { signal } = options
      let path = socketPath(url)
      if (signal?.aborted === true) throw abortError(signal)
      // A folder: a fresh socket in it, as port 0 is a fresh port.
      if (path.endsWith('/')) path = join(path, `ww-${randomBytes(6).toString('hex')}.sock`)
      const listenUrl = unixUrl(path)
      /** @type {Set<UnixConnection>} */
      const conns = new Set()
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        const conn = new UnixConnection(socket, limits, probeInterval, `${listenUrl} (accepted)`)
        conns.add(conn)
        void conn.closed.then(() => conns.delete(conn))
        try {
          onConnection(conn)
        } catch (err) {
          conn.abort(wwError('ERR_CONNECTION_CLOSED', `the connection was refused: ${err instanceof Error ? err.message : String(err)}`, err))
        }
      })
      await new Promise((resolve, reject) => {
        server.once('error', (err) => reject(wwError('ERR_LISTEN_FAILED', `cannot listen on ${listenUrl}: ${err.message}`, err)))
        server.listen(path, () => resolve(undefined))
      })
      // After listen(), an accept that fails must not crash the process.
      server.on('error', (err) => process.emitWarning(`unix listener ${listenUrl}: ${err.message}`))
      if (mode !== undefined) await chmod(path, mode)
      /** @type {Promise<void> | undefined} */
      let closing
      return {
        url: listenUrl,
        close() {
          closing ??= (async () => {
            // Node removes the socket file when the server closes.
            const stopped = new Promise((resolve) => server.close(() => resolve(undefined)))
            await Promise.allSettled([...conns].map((c) => c.close()))
            await stopped
          })()
          return closing
        },
      }
    },
  }
}

/** The plugin: ww reads only this default export. */
export default {
  name: 'template',
  formatters: { tsv: tsvFormatter },
  transports: { unix: unixTransport },
}
