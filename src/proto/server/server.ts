/**
 * The node's query service (docs/protocol.md): listens on a URL through the transport registry and
 * serves each client connection (node-conn.ts) with a View of the routing table and a PubSub.
 *
 *   const server = await serve({ listen: 'ws://127.0.0.1:8420', table, peer })
 *   …
 *   await server.close()
 *
 * Limits are per connection and have documented defaults (docs/protocol.md, "Limits").
 */
import { WwError } from '../../errors.js'
import type { Listener } from '../../transport/types.js'
import { defaultTransports, type TransportRegistry } from '../../transport/registry.js'
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from '../wire/frames.js'
import type { ServerCap } from './caps.js'
import { NullPubSubCap } from './pubsub-cap.js'
import { ERR_NODE_CLOSING, NodeConnection, type ResolvedServeLimits } from './node-conn.js'
import type { StreamStats } from './server-stream.js'
import type { NodeInfo } from '../../api.js'
import { type CallObserver, CountedConnection, newServerCounters, type ServerCounters } from './counters.js'
import { NullViewCap, type ServedTable, ViewCap } from './view-cap.js'
import { DEFAULT_MAX_WINDOW } from '../wire/window.js'

export { ERR_HANDSHAKE_TIMEOUT, ERR_NODE_CLOSING, ERR_IDLE_TIMEOUT, ERR_AUTH_RATE_LIMITED, NULL_MAX_CAPS } from './node-conn.js'

/**
 * Wrong tokens allowed per client address: a burst of `AUTH_BURST`, then one more every
 * `AUTH_REFILL_MS` (a token bucket). Past it, hellos with a token are refused unread with
 * ERR_AUTH_RATE_LIMITED. Right tokens never cost anything.
 */
export const AUTH_BURST = 5
/** See AUTH_BURST. */
export const AUTH_REFILL_MS = 2000

/** The host part of a transport's `remoteAddress` (`ip:port`, `[v6]:port` or `v6:port`). */
function hostOf(remote: string): string {
  const i = remote.lastIndexOf(':')
  const h = i <= 0 ? remote : remote.slice(0, i)
  return h.startsWith('::ffff:') ? h.slice(7) : h
}

/** Per-address token buckets of wrong tokens; entries vanish once full again. */
class AuthLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  #bucket(host: string): { tokens: number; at: number } {
    const now = performance.now()
    const b = this.#buckets.get(host) ?? { tokens: AUTH_BURST, at: now }
    b.tokens = Math.min(AUTH_BURST, b.tokens + (now - b.at) / AUTH_REFILL_MS)
    b.at = now
    return b
  }

  mayTry(remote: string): boolean {
    return this.#bucket(hostOf(remote)).tokens >= 1
  }

  tried(remote: string, ok: boolean): void {
    if (ok) return
    const host = hostOf(remote)
    const b = this.#bucket(host)
    b.tokens -= 1
    this.#buckets.set(host, b)
    // Bounded: full buckets carry no information; drop them when the map grows.
    if (this.#buckets.size > 10_000) for (const [h, x] of this.#buckets) if (this.#bucket(h).tokens >= AUTH_BURST || x.tokens >= AUTH_BURST) this.#buckets.delete(h)
  }
}

/** The node already serves its maximum of connections (ServeLimits.maxConnections). */
export const ERR_TOO_MANY_CONNECTIONS = 'ERR_TOO_MANY_CONNECTIONS'

/** Per-connection limits of a node. */
export interface ServeLimits {
  /** Largest frame accepted from a client, in bytes; larger → ERR_FRAME_TOO_LARGE, connection closed. @default 1_048_576 */
  maxFrameBytes?: number
  /** Largest first frame (`hello`) accepted, in bytes; larger → ERR_FRAME_TOO_LARGE, connection closed. @default 4096 */
  maxHelloBytes?: number
  /** Streams open at once per connection; one more → ERR_TOO_MANY_STREAMS for that call. @default 64 */
  maxStreams?: number
  /** Capabilities held per connection (the two of the handshake included) → ERR_TOO_MANY_CAPS. @default 1024 */
  maxCaps?: number
  /** Asynchronous calls in progress per connection → ERR_TOO_MANY_CALLS. @default 256 */
  maxCalls?: number
  /** Milliseconds a new connection has to send `hello` → ERR_HANDSHAKE_TIMEOUT, closed. @default 10_000 */
  handshakeTimeout?: number
  /**
   * Milliseconds a connection with nothing open (no stream, no call in progress) may stay
   * silent → ERR_IDLE_TIMEOUT, closed. The shell reconnects on its next command.
   * @default 300_000
   */
  idleTimeout?: number
  /**
   * Connections served at once, over every transport; one more gets `error
   * ERR_TOO_MANY_CONNECTIONS` and is closed. (The WebSocket transport also caps its raw
   * sockets, upgraded or not: WebSocketsInit.maxConnections.)
   * @default 1024
   */
  maxConnections?: number
  /** Largest credit window honoured per stream, in bytes (larger credits are clamped). @default 1_048_576 */
  maxWindow?: number
  /**
   * Stream bytes in flight (sent, not yet reported consumed) over all streams of one
   * connection. A stream sends its next batch, its first included, only while the connection
   * is under this budget; a stream with nothing in flight may still send 8 KiB, so unread
   * streams slow a read one but never stall it. Bound: this + 8 KiB per stream.
   * @default 1_048_576
   */
  maxConnectionBytes?: number
  /** Most items per batch frame. @default 256 */
  batchItems?: number
  /** Most bytes per batch frame (a single larger item goes alone). @default 65_536 */
  batchBytes?: number
}

/** Options of `serve`. */
export interface ServeInit {
  /** URL to listen on, e.g. ws://127.0.0.1:8420 (port 0: any free port). */
  listen: string
  /** The routing table served (a `RoutingTable`). */
  table: ServedTable
  /** The node's own peer ID, sent in the handshake. */
  peer: string
  /** What the View's `info` answers (the node's identity, peers, rates); without it, `info` is an unknown method. @default undefined */
  info?: () => NodeInfo
  /** When set, clients must present it to receive the real View (else the null capability). */
  token?: string
  /** Transports by URL scheme. @default defaultTransports() */
  transports?: TransportRegistry
  /** Per-connection limits. */
  limits?: ServeLimits
  /**
   * Makes the PubSub capability of a new connection (docs/pubsub.md). Without it, or for a client
   * without the token, the connection gets the null PubSub.
   */
  pubsub?: () => ServerCap
}

/** Counts for tests and operators. */
export interface ServerStats {
  /** Open connections. */
  connections: number
  /** Open streams, over all connections. */
  streams: number
  /** Capabilities held, over all connections. */
  caps: number
  /** Every open stream's accounting. */
  perStream: (StreamStats & { connection: number })[]
  /** Largest bytes in flight ever seen on any stream of this server. */
  maxInFlight: number
  /** Stream bytes in flight per open connection, in the order of `perStream`'s connection numbers. */
  perConnection: { connection: number; inFlight: number }[]
  /** Totals since the server started (a copy): connections accepted, bytes sent, flow-control waits. */
  totals: ServerCounters
}

/** A running query service. */
export interface Server {
  /** The URL clients dial (with the real port when port 0 was asked for). */
  readonly url: string
  /** Accounting of connections, streams and capabilities. */
  stats(): ServerStats
  /**
   * Calls `observer` with the method and duration (seconds, from the call frame to its result
   * or its stream's end) of every call answered; refused calls are not reported. Returns a
   * function that stops it.
   */
  observeCalls(observer: CallObserver): () => void
  /**
   * Stops listening, tells every client (`error` ERR_NODE_CLOSING) and closes every
   * connection; every stream and capability is freed.
   */
  close(): Promise<void>
}

/** Default largest first frame: 4 KiB (a hello with a token is well under 1 KiB). */
export const DEFAULT_MAX_HELLO_BYTES = 4096

/** Resolves the limits with their defaults. */
export function resolveServeLimits(l: ServeLimits = {}): ResolvedServeLimits {
  return {
    maxFrameBytes: l.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxHelloBytes: l.maxHelloBytes ?? DEFAULT_MAX_HELLO_BYTES,
    maxStreams: l.maxStreams ?? 64,
    maxCaps: l.maxCaps ?? 1024,
    maxCalls: l.maxCalls ?? 256,
    handshakeTimeout: l.handshakeTimeout ?? 10_000,
    idleTimeout: l.idleTimeout ?? 300_000,
    maxWindow: l.maxWindow ?? DEFAULT_MAX_WINDOW,
    maxConnectionBytes: l.maxConnectionBytes ?? 1024 * 1024,
    batch: { items: l.batchItems ?? 256, bytes: l.batchBytes ?? 64 * 1024 },
  }
}

/** Starts serving `init.table` on `init.listen`. Rejects with the transport's error (e.g. ERR_LISTEN_FAILED). */
export async function serve(init: ServeInit): Promise<Server> {
  const limits = resolveServeLimits(init.limits)
  const maxConnections = init.limits?.maxConnections ?? 1024
  const auth = new AuthLimiter()
  const transports = init.transports ?? defaultTransports()
  const conns = new Map<NodeConnection, number>()
  let nextConn = 0
  let maxInFlightClosed = 0
  let closing = false
  const counters = newServerCounters()
  const observers = new Set<CallObserver>()
  const onCallDone: CallObserver = (m, sec) => {
    for (const o of observers) o(m, sec)
  }
  const caps = (allowed: boolean) => ({
    view: allowed ? new ViewCap(init.table, false, init.info) : new NullViewCap(),
    pubsub: allowed && init.pubsub !== undefined ? init.pubsub() : new NullPubSubCap(),
  })
  const listener: Listener = await transports.listen(init.listen, (conn) => {
    if (closing) {
      conn.abort(new WwError(ERR_NODE_CLOSING, 'the node is shutting down'))
      return
    }
    if (conns.size >= maxConnections) {
      const e = new WwError(ERR_TOO_MANY_CONNECTIONS, `the node serves its maximum of ${maxConnections} connections`)
      try {
        conn.send(encodeFrame({ t: 'error', code: e.code, message: e.message }))
        conn.close({ signal: AbortSignal.timeout(1000) }).catch(() => conn.abort(e))
      } catch {
        conn.abort(e)
      }
      return
    }
    counters.connectionsAccepted++
    const nc = new NodeConnection(new CountedConnection(conn, counters), {
      counters,
      onCallDone,
      peer: init.peer,
      token: init.token,
      mayTry: (r) => auth.mayTry(r),
      tried: (r, ok) => auth.tried(r, ok),
      limits,
      caps,
      onClose: (c) => {
        maxInFlightClosed = Math.max(maxInFlightClosed, c.maxInFlight)
        conns.delete(c)
      },
    })
    conns.set(nc, nextConn++)
    void nc.run()
  })
  const server: Server = {
    url: listener.url,
    stats() {
      const perStream: ServerStats['perStream'] = []
      const perConnection: ServerStats['perConnection'] = []
      let streams = 0
      let held = 0
      for (const [c, n] of conns) {
        streams += c.streams
        held += c.caps
        maxInFlightClosed = Math.max(maxInFlightClosed, c.maxInFlight)
        for (const s of c.streamStats()) perStream.push({ ...s, connection: n })
        perConnection.push({ connection: n, inFlight: c.inFlight })
      }
      return { connections: conns.size, streams, caps: held, perStream, maxInFlight: maxInFlightClosed, perConnection, totals: { ...counters } }
    },
    observeCalls(observer) {
      const o: CallObserver = (m, sec) => observer(m, sec)
      observers.add(o)
      return () => observers.delete(o)
    },
    async close() {
      if (closing) return
      closing = true
      for (const c of [...conns.keys()]) c.fail(new WwError(ERR_NODE_CLOSING, 'the node is shutting down'))
      await listener.close()
    },
  }
  return server
}

