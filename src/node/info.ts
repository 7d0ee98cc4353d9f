/**
 * What a node says about itself (`View.info`, `ww info`): identity, addresses, uptime, the
 * table, its peers, its heartbeat rates, its clients and its process's load. Rates come from a
 * sample of the membership counters taken every second, over the last ten seconds (less right
 * after start).
 *
 * Load. The same 1 s tick samples the process's CPU time and how late the tick itself ran:
 * a timer fires late by as long as the event loop was busy (or the process stopped) when it
 * was due, so the lateness is the loop's delay, sampled once a second at no extra cost. A node
 * whose loop runs late handles heartbeats late (its own go out late, others' wait in buffers),
 * and when that lateness reaches the heartbeat interval live peers expire: the sampler calls
 * `late` then (docs/operations.md, "A starved node"), so a CPU-starved node says so instead of
 * losing its peers in silence.
 */
import { readFileSync } from 'node:fs'
import type { NodeInfo } from '../api.js'
import type { MembershipStats } from '../cluster/membership.js'

/** Samples kept for rates: one a second, so rates are over the last ~10 s. */
const SAMPLES = 11
const INTERVAL = 1000

let version: string | undefined
/** The ww version in package.json (src/node and dist/node both sit two levels below it). */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown'
    } catch {
      version = 'unknown'
    }
  }
  return version
}

/**
 * Peers in the gossipsub mesh of `topic`: gossipsub has `getMeshPeers`, which its exported
 * interface leaves out; 0 if a build lacks it. (`ww info` and the metrics both show it.)
 */
export function meshPeerCount(libp2p: { services: { pubsub: unknown } }, topic: string): number {
  const g = libp2p.services.pubsub as { getMeshPeers?: (topic: string) => string[] }
  return typeof g.getMeshPeers === 'function' ? g.getMeshPeers(topic).length : 0
}

/** What {@link InfoSampler} reads from the node, each time it is asked. */
export interface InfoSource {
  peer: string
  server: string
  ns: string
  startedAt: number
  stats: MembershipStats
  p2p(): string[]
  listen(): string
  tablePeers(): number
  connectedPeers(): number
  meshPeers(): number
  clients(): { connections: number; streams: number }
}

interface Sample {
  t: number
  in: number
  out: number
  rejected: number
  /** CPU time of the process so far (user + system), µs. */
  cpu: number
  /** How late this sample's tick ran, ms (0 for a sample not taken by the tick). */
  lag: number
}

/** What the sampler does when its tick runs late. */
export interface LateWatch {
  /** Lateness from which `warn` is called, ms. */
  afterMs: number
  /** Called with the lateness, at most once per {@link LATE_WARN_EVERY}. */
  warn(lagMs: number): void
}

/** Least time between two `late` warnings, ms: a starved node says so once a minute. */
export const LATE_WARN_EVERY = 60_000

/** Keeps a second-by-second sample of the heartbeat counters and answers {@link NodeInfo}. */
export class InfoSampler {
  readonly #src: InfoSource
  readonly #late: LateWatch | undefined
  readonly #samples: Sample[] = []
  #timer: NodeJS.Timeout | undefined
  #warnedAt = -Infinity

  /** @param late warns when the 1 s tick runs at least `late.afterMs` late. @default none */
  constructor(src: InfoSource, late?: LateWatch) {
    this.#src = src
    this.#late = late
  }

  #now(lag = 0): Sample {
    const s = this.#src.stats
    const c = process.cpuUsage()
    return { t: performance.now(), in: s.accepted + s.rejected + s.ignored, out: s.published, rejected: s.rejected + s.ignored, cpu: c.user + c.system, lag }
  }

  /** Starts sampling (an unref'd 1 s timer). */
  start(): void {
    this.#samples.push(this.#now())
    // Node re-arms an interval from when its callback ran, so each tick is due INTERVAL
    // after the one before it.
    let last = performance.now()
    this.#timer = setInterval(() => {
      const t = performance.now()
      const lag = Math.max(0, t - last - INTERVAL)
      last = t
      this.#samples.push(this.#now(lag))
      if (this.#samples.length > SAMPLES) this.#samples.shift()
      if (this.#late !== undefined && lag >= this.#late.afterMs && t - this.#warnedAt >= LATE_WARN_EVERY) {
        this.#warnedAt = t
        this.#late.warn(Math.round(lag))
      }
    }, INTERVAL)
    this.#timer.unref?.()
  }

  /** Stops sampling. Idempotent. */
  stop(): void {
    clearInterval(this.#timer)
  }

  /** The node's information now. */
  info(): NodeInfo {
    const src = this.#src
    const now = this.#now()
    const first = this.#samples[0] ?? now
    const secs = (now.t - first.t) / 1000
    const rate = (k: 'in' | 'out' | 'rejected'): number => (secs > 0 ? Math.round(((now[k] - first[k]) / secs) * 100) / 100 : 0)
    const c = src.clients()
    return {
      peer: src.peer,
      server: src.server,
      version: packageVersion(),
      ns: src.ns,
      p2p: src.p2p(),
      listen: src.listen(),
      uptimeMs: Math.max(0, Date.now() - src.startedAt),
      tablePeers: src.tablePeers(),
      connectedPeers: src.connectedPeers(),
      meshPeers: src.meshPeers(),
      heartbeats: { in: now.in, out: now.out, rejected: now.rejected, inPerSec: rate('in'), outPerSec: rate('out'), rejectedPerSec: rate('rejected') },
      clients: c.connections,
      streams: c.streams,
      load: {
        cpu: secs > 0 ? Math.round(((now.cpu - first.cpu) / 1000 / (now.t - first.t)) * 10_000) / 10_000 : 0,
        lagMs: Math.round(Math.max(0, ...this.#samples.map((x) => x.lag))),
      },
    }
  }
}
