/**
 * What a node says about itself (`View.info`, `ww info`): identity, addresses, uptime, the
 * table, its peers, its heartbeat rates and its clients. Rates come from a sample of the
 * membership counters taken every second, over the last ten seconds (less right after start).
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
}

/** Keeps a second-by-second sample of the heartbeat counters and answers {@link NodeInfo}. */
export class InfoSampler {
  readonly #src: InfoSource
  readonly #samples: Sample[] = []
  #timer: NodeJS.Timeout | undefined

  constructor(src: InfoSource) {
    this.#src = src
  }

  #now(): Sample {
    const s = this.#src.stats
    return { t: performance.now(), in: s.accepted + s.rejected + s.ignored, out: s.published, rejected: s.rejected + s.ignored }
  }

  /** Starts sampling (an unref'd 1 s timer). */
  start(): void {
    this.#samples.push(this.#now())
    this.#timer = setInterval(() => {
      this.#samples.push(this.#now())
      if (this.#samples.length > SAMPLES) this.#samples.shift()
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
    }
  }
}
