/**
 * The self-healing mesh: a node keeps libp2p connections to at least `minPeers` other nodes,
 * picked at random from its routing table by the addresses their heartbeats carry (`addrs`).
 *
 * Bootstrap addresses only seed the first contact. Once a node has the table, every peer in
 * it is a possible neighbour, so losing the bootstrap node (or any other) never splits the
 * cluster: each node that falls below `minPeers` dials other live peers it knows.
 *
 * Cadence. A check runs every {@link MESH_CHECK} ms (jittered ±50 %, unref'd timers), soon
 * (100–600 ms) after a connection closes, and soon (100–300 ms) after a state sync brought
 * records while the node is below `minPeers` ({@link Mesh.nudge}). A check that finds the
 * node below `minPeers` dials up to the missing number of random, unconnected peers of the
 * table. A peer whose dial failed is not dialled again before its backoff has passed: 1 s
 * doubling to 30 s, each wait jittered ±50 % so nodes that lost the same peer don't dial in
 * step; a successful dial forgets it. Peers that left the table are forgotten too, so the
 * backoff map stays bounded by the table's size.
 *
 * Who dials. Two nodes dialling each other at once end up with two connections, and when
 * libp2p closes one, gossipsub (v17) drops the peer's subscriptions although the other
 * connection stays: the pair is connected and deaf to each other. So of two unconnected
 * nodes the one with the lower peer ID dials at once, and the higher one only once the peer
 * has stayed unconnected for {@link MESH_CHECK} ms (the lower one is not dialling, e.g. it
 * already has enough peers). Duplicates still happen (the other side's bootstrap or
 * discovery), so a peer of the table that stays connected but unsubscribed from the
 * heartbeat topic for {@link MESH_DEAF} ms is hung up on; the next check dials it afresh.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { RoutingTable } from '../table/table.js'
import { silentLogger, type Logger } from './options.js'

/** Usual time between two checks of the connection count, in ms. @default 5000 */
export const MESH_CHECK = 5000
/** First wait before a peer whose dial failed is dialled again, in ms. @default 1000 */
export const MESH_BACKOFF_MIN = 1000
/** Longest wait before a failed peer is dialled again, in ms. @default 30_000 */
export const MESH_BACKOFF_MAX = 30_000
/**
 * How long a connected peer of the table may stay deaf (not subscribed) before it is hung up
 * on, in ms. Not less: a node busy with a cold start takes seconds to exchange subscriptions
 * (with 3 s, 9–157 live connections were hung up on per 64-node cold start). @default 10_000
 */
export const MESH_DEAF = 10_000
/** Usual delay of the check a {@link Mesh.nudge} asks for, in ms (jittered ±50 %). @default 200 */
export const MESH_NUDGE = 200
/** Bound on one dial, in ms. @default 5000 */
export const MESH_DIAL_TIMEOUT = 5000

// Every live record (a statement, spelled out: the cluster layer does not import the language).
const ALL: Parameters<RoutingTable['scan']>[0] = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

/** Options of {@link Mesh}. */
export interface MeshInit {
  /** The node's libp2p host. */
  libp2p: Libp2p
  /** The table the peers are picked from. */
  table: RoutingTable
  /** Connections to keep; 0 turns the mesh off. */
  minPeers: number
  /**
   * The peers gossipsub knows as subscribers of the heartbeat topic (base58btc). A connected
   * peer of the table that stays out of it is hung up on. Read at most once per check, not
   * once per connected peer. @default undefined (every peer counts as heard: never hang up)
   */
  subscribers?: () => ReadonlySet<string>
  /** May this peer (base58btc) be dialled, e.g. is it on the allow-list? @default every peer */
  allowed?: (peer: string) => boolean
  /** Reports losing and regaining the minimum. @default silentLogger */
  logger?: Logger
  /** Randomness in [0, 1) for picks and jitter. @default Math.random */
  random?: () => number
}

/** Counters of the mesh keeper. */
export interface MeshStats {
  /** Dials started. */
  dials: number
  /** Dials that failed. */
  failures: number
  /** Connections closed because gossipsub had lost the peer (see "Who dials"). */
  hangUps: number
}

/** Keeps the node connected to at least `minPeers` peers of its table. `start()`, then `stop()`. */
export class Mesh {
  /** Counters; read-only for callers. */
  readonly stats: MeshStats = { dials: 0, failures: 0, hangUps: 0 }
  readonly #libp2p: Libp2p
  readonly #table: RoutingTable
  readonly #min: number
  readonly #allowed: (peer: string) => boolean
  readonly #subscribers: (() => ReadonlySet<string>) | undefined
  // Since when a connected peer of the table has been deaf.
  readonly #deaf = new Map<string, number>()
  readonly #log: Logger
  readonly #random: () => number
  readonly #backoff = new Map<string, { wait: number; next: number }>()
  readonly #dialing = new Set<string>()
  // When a peer of a lower ID than ours was first seen unconnected (see "Who dials").
  readonly #waiting = new Map<string, number>()
  readonly #abort = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  #running = false
  #short = false

  readonly #onDisconnect = (): void => this.#schedule(100 + this.#random() * 500)

  constructor(init: MeshInit) {
    this.#libp2p = init.libp2p
    this.#table = init.table
    this.#min = init.minPeers
    this.#allowed = init.allowed ?? (() => true)
    this.#subscribers = init.subscribers
    this.#log = init.logger ?? silentLogger
    this.#random = init.random ?? Math.random
  }

  /** Starts the checks (none when `minPeers` is 0). */
  start(): void {
    if (this.#running || this.#min <= 0) return
    this.#running = true
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#schedule(this.#jitter(MESH_CHECK / 5))
  }

  /**
   * The table has grown (e.g. a state sync brought records): if the node is below `minPeers`,
   * checks within {@link MESH_NUDGE} ms (jittered) instead of at the next regular check, which
   * may be seconds away. A newcomer's first pull is what gives it peers to dial; without this
   * it sat on its one bootstrap connection for up to 1.5 × {@link MESH_CHECK}.
   */
  nudge(): void {
    if (!this.#running) return
    if (this.#libp2p.getPeers().length + this.#dialing.size >= this.#min) return
    this.#schedule(this.#jitter(MESH_NUDGE))
  }

  /** Stops the checks and aborts dials under way. Idempotent. */
  stop(): void {
    this.#running = false
    this.#abort.abort()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
  }

  /** Runs one check now: dials peers of the table while the node is below `minPeers`. */
  check(): void {
    if (!this.#running) return
    const self = this.#libp2p.peerId.toString()
    const connected = new Set(this.#libp2p.getPeers().map((p) => p.toString()))
    const missing = this.#min - connected.size - this.#dialing.size
    if (missing <= 0) {
      this.#hangUpDeaf(connected, undefined, performance.now())
      if (this.#short && connected.size >= this.#min) {
        this.#short = false
        this.#log.info(`connected to ${connected.size} peers again (--min-peers ${this.#min})`)
      }
      return
    }
    const now = performance.now()
    const live = new Set<string>()
    const candidates: Array<{ peer: string; addrs: Multiaddr[] }> = []
    for (const r of this.#table.scan(ALL)) {
      live.add(r.peer)
      if (r.peer === self || connected.has(r.peer) || this.#dialing.has(r.peer) || r.addrs === undefined || !this.#allowed(r.peer)) continue
      const b = this.#backoff.get(r.peer)
      if (b !== undefined && now < b.next) continue
      if (r.peer < self) {
        const since = this.#waiting.get(r.peer)
        if (since === undefined) this.#waiting.set(r.peer, now)
        if (since === undefined || now - since < MESH_CHECK) continue
      }
      const addrs = parseAddrs(r.addrs)
      if (addrs.length === 0) continue
      candidates.push({ peer: r.peer, addrs })
    }
    for (const p of this.#backoff.keys()) if (!live.has(p)) this.#backoff.delete(p)
    for (const p of this.#waiting.keys()) if (!live.has(p) || connected.has(p)) this.#waiting.delete(p)
    this.#hangUpDeaf(connected, live, now)
    // Below the minimum with peers in the table beyond those connected: worth saying once.
    if (!this.#short && live.size - 1 > connected.size) {
      this.#short = true
      this.#log.info(`connected to ${connected.size} of ${this.#min} peers (--min-peers); dialling peers from the table`)
    }
    for (let i = 0; i < missing && candidates.length > 0; i++) {
      const j = Math.floor(this.#random() * candidates.length)
      const c = candidates[j]!
      candidates[j] = candidates[candidates.length - 1]!
      candidates.pop()
      this.#dial(c.peer, c.addrs)
    }
  }

  // Hangs up on peers of the table connected but deaf for MESH_DEAF ms (`live`: the table's
  // peers, when the caller has them).
  #hangUpDeaf(connected: Set<string>, live: Set<string> | undefined, now: number): void {
    for (const p of this.#deaf.keys()) if (!connected.has(p)) this.#deaf.delete(p)
    if (this.#subscribers === undefined) return
    // One read of the subscribers per check: gossipsub builds its list afresh on every call.
    let heard: ReadonlySet<string> | undefined
    for (const p of connected) {
      if (live !== undefined ? !live.has(p) : this.#table.get(p) === undefined) {
        this.#deaf.delete(p)
        continue
      }
      heard ??= this.#subscribers()
      if (heard.has(p)) {
        this.#deaf.delete(p)
        continue
      }
      const since = this.#deaf.get(p)
      if (since === undefined) {
        this.#deaf.set(p, now)
        this.#schedule(this.#jitter(MESH_DEAF / 2))
      } else if (now - since >= MESH_DEAF) {
        this.#deaf.delete(p)
        this.stats.hangUps++
        const conns = this.#libp2p.getConnections().filter((c) => c.remotePeer.toString() === p)
        for (const c of conns) void c.close().catch(() => {})
      }
    }
  }

  #dial(peer: string, addrs: Multiaddr[]): void {
    this.#dialing.add(peer)
    this.stats.dials++
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(MESH_DIAL_TIMEOUT)])
    void this.#libp2p
      .dial(addrs, { signal })
      .then(() => {
        this.#backoff.delete(peer)
      })
      .catch(() => {
        if (this.#abort.signal.aborted) return
        this.stats.failures++
        const prev = this.#backoff.get(peer)
        const wait = prev === undefined ? MESH_BACKOFF_MIN : Math.min(MESH_BACKOFF_MAX, prev.wait * 2)
        this.#backoff.set(peer, { wait, next: performance.now() + this.#jitter(wait) })
      })
      .finally(() => {
        this.#dialing.delete(peer)
        if (this.#running && this.#short) this.#schedule(this.#jitter(MESH_BACKOFF_MIN))
      })
  }

  // Arms the next check in `delay` ms, unless one is due sooner.
  #schedule(delay: number): void {
    if (!this.#running) return
    const at = performance.now() + delay
    if (this.#timer !== undefined && this.#timerAt <= at) return
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      try {
        this.check()
      } finally {
        this.#schedule(this.#jitter(MESH_CHECK))
      }
    }, delay)
    this.#timer.unref?.()
  }

  // Uniform in [d/2, 3d/2).
  #jitter(d: number): number {
    return Math.round(d * (0.5 + this.#random()))
  }
}

/** A record's `addrs` as multiaddrs, skipping any that do not parse (they were checked on the way in). */
export function parseAddrs(addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    try {
      out.push(multiaddr(a))
    } catch {
      // Checked when the heartbeat was taken in; skip anything that still doesn't parse.
    }
  }
  return out
}
