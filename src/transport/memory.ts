/**
 * In-process transport, scheme `memory` (`memory://name`), for tests and for embedding a node
 * and its clients in one process.
 *
 * It behaves like a network transport where it matters to the layers above: frames are copied
 * (the receiver never shares the sender's buffer), delivery is in order, and backpressure works
 * the same way both ways. Each side has a bounded read queue (FrameQueue); while the receiver's
 * queue is paused, the sender's frames wait in the sender's outbox, whose size is the sender's
 * `bufferedAmount` and makes `send()` return false past the high-water mark — exactly as a
 * socket's write buffer fills while the peer does not read. A graceful close flushes the outbox
 * first, so the peer reads everything sent before the end.
 *
 * Every frame is logged on both connections (`frames`: `{dir: 'out' | 'in', data}`), so a test
 * can assert what went over the wire. The log is bounded (`frameLog` entries, oldest dropped and
 * counted in `framesDropped`).
 */
import { abortError, WwError } from '../errors.js'
import {
  ERR_CONNECT_FAILED,
  ERR_CONNECTION_CLOSED,
  ERR_FRAME_TOO_LARGE,
  ERR_LISTEN_FAILED,
  ERR_READ_BUFFER_FULL,
  ERR_UNSUPPORTED_SCHEME,
  parseUrl,
  transportError,
} from './errors.js'
import { FrameQueue } from './frame-queue.js'
import { awaitClosed } from './abortable.js'
import { hardReadBound, resolveLimits, type ConnectionLimits, type ResolvedLimits } from './limits.js'
import { SendBuffer } from './send-buffer.js'
import type { AbortOptions, Connection, Listener, Transport } from './types.js'

/** One logged frame: `out` was sent by this connection, `in` arrived at it. */
export interface FrameRecord {
  readonly dir: 'out' | 'in'
  readonly data: Uint8Array
}

/** Options of the memory transport and of `memoryPair`. */
export interface MemoryTransportInit extends ConnectionLimits {
  /**
   * The namespace of `memory://` names. Transports sharing a network reach each other's
   * listeners; a private `new MemoryNetwork()` isolates a test.
   * @default the process-wide network
   */
  network?: MemoryNetwork
  /**
   * Frame-log entries kept per connection (oldest dropped first); 0 turns the log off.
   * @default 10000
   */
  frameLog?: number
}

const EMPTY = new Uint8Array(0)

/** Default bound of each connection's frame log. */
export const DEFAULT_FRAME_LOG = 10_000

/** A namespace of memory listeners, keyed by name. */
export class MemoryNetwork {
  readonly #listeners = new Map<string, MemoryListener>()
  #anonymous = 0
  #clients = 0

  /** Names currently listening. */
  get names(): string[] {
    return [...this.#listeners.keys()]
  }

  /** @internal Registers a listener; `''` or `'0'` picks a fresh name (like port 0). */
  bind(name: string, listener: MemoryListener): string {
    if (name === '' || name === '0') {
      do name = `anon-${++this.#anonymous}`
      while (this.#listeners.has(name))
    }
    if (this.#listeners.has(name)) throw transportError(ERR_LISTEN_FAILED, `memory://${name} is already listening`)
    this.#listeners.set(name, listener)
    return name
  }

  /** @internal */
  unbind(name: string, listener: MemoryListener): void {
    if (this.#listeners.get(name) === listener) this.#listeners.delete(name)
  }

  /** @internal */
  lookup(name: string): MemoryListener | undefined {
    return this.#listeners.get(name)
  }

  /** @internal A label for the dialing side of a new connection. */
  nextClient(): string {
    return `client-${++this.#clients}`
  }
}

/** The network used when no `network` option is given. */
export const defaultMemoryNetwork = new MemoryNetwork()

type State = 'open' | 'closing' | 'closed'

/** One end of an in-memory connection. Created by `memoryPair` or the memory transport. */
export class MemoryConnection implements Connection {
  readonly remoteAddress: string
  /** Every frame sent (`out`) and received (`in`) by this end, oldest first (bounded). */
  readonly frames: FrameRecord[] = []
  /** Log entries dropped because the log was full. */
  framesDropped = 0
  readonly closed: Promise<Error | undefined>

  readonly #limits: ResolvedLimits
  readonly #logSize: number
  readonly #queue: FrameQueue
  readonly #sendBuffer: SendBuffer
  // Frames the peer has not accepted yet: a FIFO read from #outboxHead (shift() on a long
  // array is linear, which made a backlog of small frames quadratic).
  #outbox: Uint8Array[] = []
  #outboxHead = 0
  #peer!: MemoryConnection
  #state: State = 'open'
  // Set by close(): frames arriving afterwards are read off the wire and dropped, so the
  // peer is never stuck behind a reader that is going away.
  #discardIncoming = false
  #resolveClosed!: (err: Error | undefined) => void
  #closeTimer: ReturnType<typeof setTimeout> | undefined
  readonly #iterator: AsyncIterator<Uint8Array, undefined>

  /** @internal Use `memoryPair()` or the transport. */
  constructor(limits: ResolvedLimits, logSize: number, remoteAddress: string) {
    this.#limits = limits
    this.#logSize = logSize
    this.remoteAddress = remoteAddress
    this.#sendBuffer = new SendBuffer(limits.highWaterMark)
    this.#queue = new FrameQueue({
      maxFrames: limits.readBufferFrames,
      maxBytes: limits.readBufferBytes,
      hardMaxBytes: hardReadBound(limits),
      onResume: () => this.#peer.#flush(),
    })
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    this.#iterator = {
      next: () => this.#queue.next(),
      return: () => {
        // The reader stopped: the connection is no longer wanted.
        if (this.#state === 'open') this.close().catch(() => {})
        return Promise.resolve({ done: true, value: undefined })
      },
    }
  }

  /** @internal Links two ends. */
  static link(a: MemoryConnection, b: MemoryConnection): void {
    a.#peer = b
    b.#peer = a
  }

  get bufferedAmount(): number {
    return this.#sendBuffer.amount
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array, undefined> {
    return this.#iterator
  }

  send(frame: Uint8Array): boolean {
    if (this.#state !== 'open') throw transportError(ERR_CONNECTION_CLOSED, 'cannot send: the connection is closed')
    if (frame.byteLength > this.#limits.maxPayload) {
      throw transportError(ERR_FRAME_TOO_LARGE, `frame of ${frame.byteLength} bytes exceeds maxPayload ${this.#limits.maxPayload}`)
    }
    // A copy, as a real wire makes: neither side can change what the other holds.
    const data = frame.slice()
    this.#log('out', data)
    if (this.#outboxLength === 0 && this.#peer.#accepting()) {
      this.#peer.#deliver(data)
      return !this.#sendBuffer.full
    }
    this.#outbox.push(data)
    return this.#sendBuffer.add(data.byteLength)
  }

  onDrain(options?: AbortOptions): Promise<void> {
    return this.#sendBuffer.waitDrain(options)
  }

  async close(options: AbortOptions = {}): Promise<void> {
    const { signal } = options
    if (this.#state === 'open') {
      this.#state = 'closing'
      this.#discardIncoming = true
      this.#closeTimer = setTimeout(() => {
        this.abort(transportError(ERR_CONNECTION_CLOSED, `close timed out after ${this.#limits.closeTimeout} ms`))
      }, this.#limits.closeTimeout)
      // Whatever the peer still had queued for us can now flow (and be dropped).
      this.#peer.#flush()
      this.#flush()
    }
    await awaitClosed(this.closed, signal, (err) => this.abort(err))
  }

  abort(err: Error): void {
    if (this.#state === 'closed') return
    this.#teardown(err, 'drop')
    this.#peer.#teardown(transportError(ERR_CONNECTION_CLOSED, 'the connection was reset by the peer', err), 'keep')
  }

  get #outboxLength(): number {
    return this.#outbox.length - this.#outboxHead
  }

  #accepting(): boolean {
    return this.#state !== 'closed' && (this.#discardIncoming || !this.#queue.paused)
  }

  #deliver(data: Uint8Array): void {
    this.#log('in', data)
    if (this.#discardIncoming) return
    if (data.byteLength > this.#limits.maxPayload) {
      const err = transportError(ERR_FRAME_TOO_LARGE, `received a frame of ${data.byteLength} bytes, above maxPayload ${this.#limits.maxPayload}`)
      this.#teardown(err, 'keep')
      this.#peer.#teardown(transportError(ERR_FRAME_TOO_LARGE, 'the peer refused a frame larger than its maxPayload'), 'drop')
      return
    }
    // Cannot overflow: senders stop delivering while the queue is paused.
    if (!this.#queue.push(data)) this.abort(transportError(ERR_READ_BUFFER_FULL, 'read buffer full'))
  }

  /** Moves outbox frames to the peer while it accepts them; completes a pending close. */
  #flush(): void {
    while (this.#outboxLength > 0 && this.#peer.#accepting() && this.#state !== 'closed') {
      const data = this.#outbox[this.#outboxHead] as Uint8Array
      this.#outbox[this.#outboxHead++] = EMPTY
      this.#peer.#deliver(data)
      this.#sendBuffer.release(data.byteLength)
    }
    if (this.#outboxLength === 0) {
      this.#outbox = []
      this.#outboxHead = 0
    } else if (this.#outboxHead > 1024 && this.#outboxHead * 2 > this.#outbox.length) {
      this.#outbox = this.#outbox.slice(this.#outboxHead)
      this.#outboxHead = 0
    }
    if (this.#state === 'closing' && this.#outboxLength === 0) {
      // Everything we sent has reached the peer: the close itself is delivered now.
      this.#teardown(undefined, 'keep')
      this.#peer.#teardown(undefined, 'keep')
    }
  }

  /** Ends this side. 'keep': the reader still gets queued frames; 'drop': they are discarded. */
  #teardown(err: Error | undefined, queued: 'keep' | 'drop'): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearTimeout(this.#closeTimer)
    this.#outbox = []
    this.#outboxHead = 0
    this.#sendBuffer.fail(err ?? transportError(ERR_CONNECTION_CLOSED, 'the connection is closed'))
    if (queued === 'drop') this.#queue.fail(err)
    else this.#queue.end(err)
    this.#resolveClosed(err)
  }

  #log(dir: 'out' | 'in', data: Uint8Array): void {
    if (this.#logSize === 0) return
    if (this.frames.length >= this.#logSize) {
      this.frames.shift()
      this.framesDropped++
    }
    this.frames.push({ dir, data })
  }
}

/**
 * Two connected ends, no listener involved: what one sends, the other reads.
 * @param init limits and log size for both ends (the network option is ignored)
 */
export function memoryPair(init: MemoryTransportInit = {}): [MemoryConnection, MemoryConnection] {
  const limits = resolveLimits(init)
  const log = init.frameLog ?? DEFAULT_FRAME_LOG
  const a = new MemoryConnection(limits, log, 'memory://pair-b')
  const b = new MemoryConnection(limits, log, 'memory://pair-a')
  MemoryConnection.link(a, b)
  return [a, b]
}

/** @internal A listening memory name. */
class MemoryListener implements Listener {
  url = ''
  readonly #network: MemoryNetwork
  readonly #onConnection: (conn: Connection) => void
  readonly #accepted = new Set<MemoryConnection>()
  #name = ''
  #closed = false

  constructor(network: MemoryNetwork, onConnection: (conn: Connection) => void) {
    this.#network = network
    this.#onConnection = onConnection
  }

  bind(name: string): void {
    this.#name = this.#network.bind(name, this)
    this.url = `memory://${this.#name}`
  }

  get isOpen(): boolean {
    return !this.#closed
  }

  accept(conn: MemoryConnection): void {
    this.#accepted.add(conn)
    void conn.closed.then(() => this.#accepted.delete(conn))
    try {
      this.#onConnection(conn)
    } catch (err) {
      conn.abort(err instanceof Error ? err : new WwError(ERR_CONNECTION_CLOSED, String(err)))
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#network.unbind(this.#name, this)
    await Promise.all([...this.#accepted].map((c) => c.close().catch(() => {})))
  }
}

/** The memory transport's own type: its connections expose the frame log. */
export interface MemoryTransport extends Transport {
  connect(url: string, options?: AbortOptions): Promise<MemoryConnection>
  /** The network this transport dials and listens on. */
  readonly network: MemoryNetwork
}

/**
 * The in-process transport, scheme `memory`. `listen('memory://name')` claims a name on the
 * network (`memory://` or `memory://0` picks a fresh one); `connect` dials it.
 */
export function memoryTransport(init: MemoryTransportInit = {}): MemoryTransport {
  const limits = resolveLimits(init)
  const logSize = init.frameLog ?? DEFAULT_FRAME_LOG
  const network = init.network ?? defaultMemoryNetwork

  const nameOf = (url: string): string => {
    const u = parseUrl(url)
    if (u.protocol !== 'memory:') throw transportError(ERR_UNSUPPORTED_SCHEME, `the memory transport cannot handle ${u.protocol}// URLs`)
    return u.host
  }

  return {
    schemes: ['memory'],
    network,
    async connect(url, options = {}) {
      if (options.signal?.aborted === true) throw abortError(options.signal)
      const name = nameOf(url)
      // A real dial takes at least a turn of the event loop; so does this one, which gives a
      // caller's abort the same chance to land as on a network transport.
      await new Promise((resolve) => setImmediate(resolve))
      if (isAborted(options.signal)) throw abortError(options.signal)
      const listener = network.lookup(name)
      if (listener === undefined || !listener.isOpen) {
        throw transportError(ERR_CONNECT_FAILED, `nothing listens on memory://${name}`)
      }
      const client = new MemoryConnection(limits, logSize, `memory://${name}`)
      const server = new MemoryConnection(limits, logSize, `memory://${name}#${network.nextClient()}`)
      MemoryConnection.link(client, server)
      listener.accept(server)
      return client
    },
    async listen(url, onConnection, options = {}) {
      if (options.signal?.aborted === true) throw abortError(options.signal)
      const listener = new MemoryListener(network, onConnection)
      listener.bind(nameOf(url))
      return listener
    },
  }
}

// A function, so TypeScript does not keep the narrowing from before an `await`.
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}
