/**
 * Dialling the bootstrap peers while a node is connected to nobody.
 *
 * Bootstrap addresses only seed the first contact: once connected to anyone, the mesh keeper
 * (src/cluster/mesh.ts) finds neighbours in the table, and a dead bootstrap node is not
 * dialled forever. Until then each bootstrap peer is dialled with its own backoff, doubling
 * from {@link REDIAL_MIN} to {@link REDIAL_MAX} ms, each wait jittered to 50–150 %.
 *
 * Why the jitter and the growing dial timeout: when a cluster starts cold, every node dials
 * the same seed at once. A seed busy with dozens of Noise handshakes answers late; a dialer
 * that gave up after a fixed 5 s threw that handshake away, and with the same backoff
 * everywhere all of them came back in the same instant, which kept the seed busy with
 * handshakes it would again not finish in time (seen with 64 nodes on a 2-core host: 20 of
 * 63 nodes timed out on their first dial). Now retries spread out, and each failed dial gives
 * the next one more time ({@link DIAL_TIMEOUT} doubling to {@link DIAL_TIMEOUT_GROWTH} times that), so a
 * slow seed's handshakes get finished instead of restarted. libp2p cuts a dial of one address
 * at its `addressDialTimeout` (6 s by default) whatever bound the caller set: the node raises
 * that cap to the largest bound here (src/node/node.ts), without which none of this applied.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from './options.js'

/** First wait after a failed bootstrap dial, in ms. @default 500 */
export const REDIAL_MIN = 500
/** Longest wait between two dials of one bootstrap peer, in ms (before jitter). @default 10_000 */
export const REDIAL_MAX = 10_000
/** Bound on a first bootstrap dial, in ms (libp2p's own default); it doubles with each failure. @default 10_000 */
export const DIAL_TIMEOUT = 10_000
/** The bound on a bootstrap dial grows to at most this many times its first value. @default 2 (10 s → 20 s) */
export const DIAL_TIMEOUT_GROWTH = 2

/** Options of {@link Redialer}. */
export interface RedialerInit {
  /** The node's libp2p host. */
  libp2p: Libp2p
  /** The bootstrap peers: a dialable address and the peer it names. */
  peers: ReadonlyArray<{ addr: Multiaddr; peer: PeerId }>
  /** Where a bootstrap peer going unreachable and coming back is reported. */
  logger: Logger
  /** Bound on a first dial, in ms; doubles with each failure up to {@link DIAL_TIMEOUT_GROWTH} times this. @default DIAL_TIMEOUT */
  dialTimeout?: number
  /** Randomness in [0, 1) for the jitter. @default Math.random */
  random?: () => number
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number
}

interface Target {
  addr: Multiaddr
  peer: PeerId
  /** Wait after the next failure, before jitter. */
  wait: number
  /** Bound on the next dial. */
  timeout: number
  /** When the next dial may start (performance.now()). */
  next: number
  dialing: boolean
  failing: boolean
}

/**
 * While the node is connected to nobody, keeps dialling its bootstrap peers, with per-peer
 * jittered backoff. Its timer runs only then: armed at start and whenever the last connection
 * closes, disarmed by the first tick that finds a peer (a connected node pays no timer for it).
 */
export class Redialer {
  readonly #libp2p: Libp2p
  readonly #log: Logger
  readonly #random: () => number
  readonly #now: () => number
  readonly #dialTimeout: number
  readonly #targets: Target[]
  #timer: NodeJS.Timeout | undefined
  #running = false
  readonly #abort = new AbortController()
  readonly #onDisconnect = (): void => {
    if (this.#running && this.#libp2p.getPeers().length === 0) this.#arm()
  }

  constructor(init: RedialerInit) {
    this.#libp2p = init.libp2p
    this.#log = init.logger
    this.#random = init.random ?? Math.random
    this.#now = init.now ?? (() => performance.now())
    this.#dialTimeout = init.dialTimeout ?? DIAL_TIMEOUT
    const now = this.#now()
    this.#targets = init.peers.map((p) => ({ ...p, wait: REDIAL_MIN, timeout: this.#dialTimeout, next: now, dialing: false, failing: false }))
  }

  /** Starts dialling (at once, then every {@link REDIAL_MIN}/2 ms while connected to nobody). */
  start(): void {
    if (this.#targets.length === 0 || this.#running) return
    this.#running = true
    this.#libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.#arm()
  }

  /** Stops; aborts the dials under way. Idempotent. */
  stop(): void {
    this.#running = false
    this.#libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#abort.abort()
  }

  #arm(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.tick(), REDIAL_MIN / 2)
    this.#timer.unref?.()
  }

  /** One round: dials each bootstrap peer whose wait is over (nothing once connected to anyone). */
  tick(): void {
    if (!this.#running) return
    if (this.#libp2p.getPeers().length > 0) {
      clearInterval(this.#timer)
      this.#timer = undefined
      return
    }
    const now = this.#now()
    for (const t of this.#targets) {
      if (t.dialing) continue
      if (this.#libp2p.getConnections(t.peer).length > 0) {
        this.#reset(t)
        continue
      }
      if (now < t.next) continue
      t.dialing = true
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(t.timeout)])
      this.#libp2p
        .dial(t.addr, { signal })
        .then(() => {
          if (t.failing) this.#log.info(`connected to bootstrap peer ${t.addr.toString()}`)
          this.#reset(t)
        })
        .catch((err: unknown) => {
          if (this.#abort.signal.aborted) return
          if (!t.failing) this.#log.warn(`bootstrap peer ${t.addr.toString()} unreachable (${(err as Error).message}); retrying`)
          t.failing = true
          t.next = this.#now() + Math.round(t.wait * (0.5 + this.#random()))
          t.wait = Math.min(REDIAL_MAX, t.wait * 2)
          t.timeout = Math.min(DIAL_TIMEOUT_GROWTH * this.#dialTimeout, t.timeout * 2)
        })
        .finally(() => {
          t.dialing = false
        })
    }
  }

  #reset(t: Target): void {
    t.failing = false
    t.wait = REDIAL_MIN
    t.timeout = this.#dialTimeout
  }
}
