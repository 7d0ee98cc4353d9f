/**
 * Reconnecting to lost peers: what heals a partition.
 *
 * When a network splits for longer than the TTL, each side expires the other side's records,
 * and with them the only addresses it had of those nodes: the mesh keeper (src/cluster/mesh.ts)
 * picks neighbours from the table, the bootstrap addresses are dialled only by a node
 * connected to nobody (and the bootstrap node may be gone), so the two sides would stay apart
 * for good although the network is whole again. Serf and Consul solve this by retrying failed
 * members for a while; so does this.
 *
 * A peer whose record expired (not one that left with a ttl-0 heartbeat) is remembered with
 * its announced addresses for {@link RECONNECT_WINDOW} ms, at most {@link RECONNECT_MAX_LOST}
 * peers (the oldest forgotten first), and forgotten as soon as it is listed again. While any
 * is remembered, the node dials one of them, picked at random among those it is not
 * connected to, once per interval: {@link RECONNECT_INTERVAL} ms, or `RECONNECT_PER_PEER` ms
 * times the table's size when that is longer, jittered ±50 %. So each node tries about one
 * lost peer per N × 100 ms and the whole cluster about ten dials a second at lost peers,
 * whatever its size, while after a partition heals the first dial across comes about as soon
 * (the more nodes on a side, the more of them try). One dial succeeding is enough: the new
 * connection's state sync (src/cluster/sync.ts) swaps both tables, and the heartbeats it
 * brings forward carry each side's records to the other.
 */
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RoutingTable, TableChange } from '../table/table.js'
import { parseAddrs } from './mesh.js'

/** Shortest time between two reconnect dials of one node, in ms. @default 5000 */
export const RECONNECT_INTERVAL = 5000
/** Per peer in the table, the time between two reconnect dials grows by this, in ms. @default 100 */
export const RECONNECT_PER_PEER = 100
/** How long an expired peer is retried, in ms. @default 3_600_000 (1 h) */
export const RECONNECT_WINDOW = 3_600_000
/** Most lost peers remembered. @default 4096 */
export const RECONNECT_MAX_LOST = 4096
/** Bound on one reconnect dial, in ms. @default 5000 */
export const RECONNECT_DIAL_TIMEOUT = 5000

/** Options of {@link Reconnector}. */
export interface ReconnectorInit {
  /** The node's libp2p host. */
  libp2p: Libp2p
  /** The table whose expiries are watched. */
  table: RoutingTable
  /** May this peer (base58btc) be dialled, e.g. is it on the allow-list? @default every peer */
  allowed?: (peer: string) => boolean
  /** Randomness in [0, 1) for picks and jitter. @default Math.random */
  random?: () => number
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number
}

/** Counters of a {@link Reconnector}. */
export interface ReconnectorStats {
  /** Dials of lost peers started. */
  dials: number
  /** Of those, the ones that connected. */
  reconnected: number
}

/** Dials peers whose records expired, one per interval, for a while. `start()`, then `stop()`. */
export class Reconnector {
  /** Counters; read-only for callers. */
  readonly stats: ReconnectorStats = { dials: 0, reconnected: 0 }
  readonly #libp2p: Libp2p
  readonly #table: RoutingTable
  readonly #allowed: (peer: string) => boolean
  readonly #random: () => number
  readonly #now: () => number
  // Lost peer → its addresses and when it was lost; insertion order is age order.
  readonly #lost = new Map<string, { addrs: Multiaddr[]; at: number }>()
  readonly #abort = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #dialing = false
  #running = false

  readonly #onChange = (c: TableChange): void => {
    const peer = c.record.peer
    if (c.kind === 'expired') {
      const addrs = parseAddrs(c.record.addrs ?? [])
      if (addrs.length === 0 || !this.#allowed(peer) || peer === this.#libp2p.peerId.toString()) return
      this.#lost.delete(peer)
      this.#lost.set(peer, { addrs, at: this.#now() })
      if (this.#lost.size > RECONNECT_MAX_LOST) this.#lost.delete(this.#lost.keys().next().value!)
    } else {
      // Listed again, or left on purpose: nothing to retry.
      this.#lost.delete(peer)
    }
  }

  constructor(init: ReconnectorInit) {
    this.#libp2p = init.libp2p
    this.#table = init.table
    this.#allowed = init.allowed ?? (() => true)
    this.#random = init.random ?? Math.random
    this.#now = init.now ?? (() => performance.now())
  }

  /** Peers currently remembered as lost. */
  get lost(): number {
    return this.#lost.size
  }

  /** Starts watching expiries and dialling. */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#table.on('change', this.#onChange)
    this.#arm()
  }

  /** Stops; aborts a dial under way. Idempotent. */
  stop(): void {
    if (!this.#running) return
    this.#running = false
    this.#abort.abort()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#table.off('change', this.#onChange)
  }

  /** One round now: dials one random lost peer this node is not connected to (if any). */
  tick(): void {
    // Nobody lost (the steady state): nothing to look up.
    if (!this.#running || this.#dialing || this.#lost.size === 0) return
    const now = this.#now()
    const picks: Array<[string, Multiaddr[]]> = []
    const connected = new Set(this.#libp2p.getPeers().map(String))
    for (const [peer, l] of this.#lost) {
      if (now - l.at > RECONNECT_WINDOW) {
        this.#lost.delete(peer)
        continue
      }
      if (connected.has(peer)) continue
      picks.push([peer, l.addrs])
    }
    if (picks.length === 0) return
    const [, addrs] = picks[Math.floor(this.#random() * picks.length)]!
    this.#dialing = true
    this.stats.dials++
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(RECONNECT_DIAL_TIMEOUT)])
    void this.#libp2p
      .dial(addrs, { signal })
      .then(() => {
        this.stats.reconnected++
      })
      .catch(() => {
        // Still unreachable (or gone for good): another pick next round.
      })
      .finally(() => {
        this.#dialing = false
      })
  }

  #arm(): void {
    if (!this.#running) return
    const interval = Math.max(RECONNECT_INTERVAL, RECONNECT_PER_PEER * this.#table.size)
    this.#timer = setTimeout(() => {
      try {
        this.tick()
      } finally {
        this.#arm()
      }
    }, Math.round(interval * (0.5 + this.#random())))
    this.#timer.unref?.()
  }
}
