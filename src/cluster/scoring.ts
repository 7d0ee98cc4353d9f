/**
 * Gossip hygiene: gossipsub peer scoring set up for the heartbeat topic, and the step gossipsub
 * does not take by itself, closing the connection of a peer whose score fell below the graylist
 * threshold.
 *
 * gossipsub only counts invalid messages against a peer on topics that have score parameters;
 * without them a peer could publish rejected heartbeats forever at no cost (its score stayed 0).
 * With {@link clusterScoreParams} each heartbeat the validator rejects (and each message whose
 * signature fails) adds one to the sender's invalid-delivery counter `c` on the topic, and
 * the topic's score falls by 20·c² ({@link HEARTBEAT_TOPIC_SCORE}). The consequences follow
 * gossipsub's thresholds ({@link SCORE_THRESHOLDS}):
 *
 * | invalid messages | score (no positive credit) | what gossipsub does |
 * |---|---|---|
 * | 1 | −20 | below `gossipThreshold` (−10): no more gossip (IHAVE/IWANT) to or from it |
 * | 2 | −80 | below `publishThreshold` (−50): our own messages are no longer sent to it, it leaves the mesh |
 * | 3 | −180 | below `graylistThreshold` (−80): everything it sends is dropped unread |
 *
 * The positive parts of the topic score are kept small (at most +3 for time in the mesh, +5
 * for first deliveries), so a peer can't bank credit with valid messages and then spend it on
 * invalid ones: three invalid messages graylist any peer. The counter decays by 1 % a second
 * (0.99, so a single mistake is forgiven after ~35 s).
 *
 * Then {@link ScoreGuard} closes every connection of a graylisted peer and makes the
 * connection gater refuse it for as long as gossipsub remembers its score (`retainScore`,
 * 1 h by default; gossipsub does not decay the score of a disconnected peer, so it would
 * still be graylisted on its return).
 *
 * Misbehaviour gossipsub can't see (a state-sync stream carrying an unsigned or altered
 * heartbeat, src/cluster/sync.ts) goes through {@link ScoreGuard.punish}: the peer is refused
 * by the gater and disconnected at once, and gossipsub's application-specific score (P5,
 * {@link clusterScoreParams}'s `appScore`) takes {@link OFFENCE_PENALTY} points off it per
 * offence for as long as it is refused, which puts it below the graylist threshold: gossipsub
 * keeps that score while the peer is away (`retainScore`) and drops anything it sends.
 *
 * Loopback addresses are exempt from gossipsub's IP-colocation penalty: the nodes of `ww dev`,
 * of the tests and of one-host deployments all share 127.0.0.1, and more than ten of them
 * would otherwise graylist one another.
 */
import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { Connection, PeerId } from '@libp2p/interface'
import { silentLogger, type Logger } from './options.js'

/** Score parameters of the heartbeat topic (see the table above). */
export const HEARTBEAT_TOPIC_SCORE: Readonly<TopicScoreParams> = Object.freeze({
  topicWeight: 1,
  // P1: time in mesh, +0.01 per second, at most +3.
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  // P2: first deliveries, +0.5 each, at most +5, decaying.
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 10,
  // P3/P3b off: a heartbeat every few seconds per node is too sparse and uneven for a
  // delivery quota; honest mesh peers would be penalised for quiet periods.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  // P4: invalid messages, −20·c², decaying 1 % a second.
  invalidMessageDeliveriesWeight: -20,
  invalidMessageDeliveriesDecay: 0.99,
})

/** gossipsub's thresholds, spelled out (these are its defaults). */
export const SCORE_THRESHOLDS: Readonly<PeerScoreThresholds> = Object.freeze({
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  opportunisticGraftThreshold: 20,
})

/**
 * Points one offence outside gossip (see {@link ScoreGuard.punish}) takes off a peer's
 * gossipsub score, with an application-specific weight of 1: more than the graylist threshold
 * (−80), so a single offence graylists any peer whatever credit it has (at most +8).
 * @default 100
 */
export const OFFENCE_PENALTY = 100

/** Addresses exempt from the IP-colocation penalty. */
export const LOOPBACK_IPS: readonly string[] = ['127.0.0.1', '::1']

/**
 * The loopback networks as multiaddrs, for libp2p's connection manager `allow` list: peers on
 * this host are exempt from its inbound limits (5 new connections a second per host, 10
 * pending), as they are from the IP-colocation penalty.
 */
export const LOOPBACK_NETS: readonly string[] = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

/**
 * gossipsub score parameters for a node whose heartbeats go on `topic`: the heartbeat topic
 * scored as above, loopback exempt from IP colocation, `appScore` as the application-specific
 * score (weight 1; e.g. {@link ScoreGuard.appScore}), and `overrides` (an operator's
 * `gossipsub.scoreParams`) on top; its `topics` are added to the heartbeat topic's, and its
 * `appSpecificScore` (at its `appSpecificWeight`, gossipsub's default 10) to `appScore`.
 * @param overrides operator overrides. @default {}
 * @param appScore this node's own application-specific score of a peer. @default () => 0
 */
export function clusterScoreParams(topic: string, overrides: Partial<PeerScoreParams> = {}, appScore: (peer: string) => number = () => 0): Partial<PeerScoreParams> {
  const { topics, IPColocationFactorWhitelist, appSpecificScore, appSpecificWeight, ...rest } = overrides
  const theirs = appSpecificScore
  const theirWeight = appSpecificWeight ?? 10
  return {
    IPColocationFactorWhitelist: new Set([...LOOPBACK_IPS, ...(IPColocationFactorWhitelist ?? [])]),
    ...rest,
    appSpecificWeight: 1,
    appSpecificScore: theirs === undefined ? appScore : (peer) => appScore(peer) + theirWeight * theirs(peer),
    topics: { [topic]: { ...HEARTBEAT_TOPIC_SCORE }, ...topics },
  }
}

/**
 * The score gossipsub gives `peer` (0 for a peer it does not know). The gossipsub service
 * implements `getScore`, though its exported interface does not declare it.
 */
export function gossipScore(pubsub: GossipSub, peer: string): number {
  const scored = pubsub as unknown as { getScore?: (peer: string) => number }
  return typeof scored.getScore === 'function' ? scored.getScore(peer) : 0
}

/** What {@link ScoreGuard} needs of the libp2p host. */
export interface GuardedHost {
  /** Open connections. */
  getConnections(): Connection[]
  /** Closes every connection to `peer`. */
  hangUp(peer: PeerId): Promise<void>
}

/** Options of {@link ScoreGuard}. */
export interface ScoreGuardInit {
  /** The host whose connections are closed. */
  host: GuardedHost
  /** A peer's current score (e.g. `gossipScore(pubsub, peer)`). */
  score: (peer: string) => number
  /** Below this score a peer is disconnected and refused. @default SCORE_THRESHOLDS.graylistThreshold */
  threshold?: number
  /** How long a disconnected peer is refused, in ms. @default 3_600_000 (gossipsub's retainScore) */
  banMs?: number
  /** How often scores are checked, in ms. @default 1000 (gossipsub's heartbeat interval) */
  interval?: number
  /** Where each disconnection is reported. @default silentLogger */
  logger?: Logger
  /** Clock, for tests. @default performance.now */
  now?: () => number
}

/** Counters of a {@link ScoreGuard}. */
export interface ScoreGuardStats {
  /** Peers disconnected for a score below the threshold. */
  disconnected: number
  /** Offences outside gossip punished ({@link ScoreGuard.punish}). */
  punished: number
}

/**
 * Closes the connections of peers whose gossipsub score fell below the graylist threshold, and
 * tells the connection gater to refuse them for `banMs` ({@link ScoreGuard.refused}). Checks
 * once per `interval`; the check reads gossipsub's cached scores, a map lookup per connection.
 */
export class ScoreGuard {
  /** Counters; read-only for callers. */
  readonly stats: ScoreGuardStats = { disconnected: 0, punished: 0 }
  readonly #host: GuardedHost
  readonly #score: (peer: string) => number
  readonly #threshold: number
  readonly #banMs: number
  readonly #interval: number
  readonly #log: Logger
  readonly #now: () => number
  readonly #banned = new Map<string, number>()
  // Offences outside gossip of peers still refused (see punish).
  readonly #offences = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined

  constructor(init: ScoreGuardInit) {
    this.#host = init.host
    this.#score = init.score
    this.#threshold = init.threshold ?? SCORE_THRESHOLDS.graylistThreshold
    this.#banMs = init.banMs ?? 3_600_000
    this.#interval = init.interval ?? 1000
    this.#log = init.logger ?? silentLogger
    this.#now = init.now ?? (() => performance.now())
  }

  /** Starts the periodic check. */
  start(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.check(), this.#interval)
    this.#timer.unref?.()
  }

  /** Stops it. Safe to call twice. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** True while `peer` is refused (the connection gater asks this). */
  refused(peer: string): boolean {
    const until = this.#banned.get(peer)
    if (until === undefined) return false
    if (until > this.#now()) return true
    this.#banned.delete(peer)
    this.#offences.delete(peer)
    return false
  }

  /**
   * Punishes misbehaviour gossipsub can't see (e.g. an altered record in a state-sync
   * stream): refuses `peer` for `banMs` from now, closes its connections, and from then on
   * {@link appScore} gives it −{@link OFFENCE_PENALTY} per offence until the refusal ends.
   */
  punish(peer: PeerId, why: string): void {
    const id = peer.toString()
    this.#banned.set(id, this.#now() + this.#banMs)
    this.#offences.set(id, (this.#offences.get(id) ?? 0) + 1)
    this.stats.punished++
    this.#log.warn(`disconnected peer ${id}: ${why}; scored down and refused for ${Math.round(this.#banMs / 60_000)} min`)
    this.#host.hangUp(peer).catch(() => {
      // Already closing: nothing left to do.
    })
  }

  /**
   * The application-specific score gossipsub adds to `peer`'s (P5, weight 1, see
   * {@link clusterScoreParams}): −{@link OFFENCE_PENALTY} per offence while it is refused, else 0.
   */
  appScore(peer: string): number {
    const n = this.#offences.get(peer)
    if (n === undefined || !this.refused(peer)) return 0
    return -OFFENCE_PENALTY * n
  }

  /** One check: disconnects and refuses every connected peer below the threshold. */
  check(): void {
    const now = this.#now()
    for (const [peer, until] of this.#banned) {
      if (until > now) continue
      this.#banned.delete(peer)
      this.#offences.delete(peer)
    }
    const seen = new Set<string>()
    for (const conn of this.#host.getConnections()) {
      const peer = conn.remotePeer.toString()
      if (seen.has(peer)) continue
      seen.add(peer)
      const score = this.#score(peer)
      if (!(score < this.#threshold)) continue
      this.#banned.set(peer, now + this.#banMs)
      this.stats.disconnected++
      this.#log.warn(`disconnected peer ${peer}: gossip score ${score.toFixed(1)} is below the graylist threshold ${this.#threshold} (invalid messages, or other misbehaviour gossipsub scores); refused for ${Math.round(this.#banMs / 60_000)} min`)
      this.#host.hangUp(conn.remotePeer).catch(() => {
        // Already closing: nothing left to do.
      })
    }
  }
}
