/**
 * Membership over gossipsub: the glue between a node's libp2p pubsub and its routing table.
 *
 * Sending. The node publishes its own record on its namespace's heartbeat topic
 * (`/ww/<ns>/heartbeat`) once at start, then every TTL/4 … TTL/2 (jittered), each time with
 * `seq` one higher. gossipsub never hands a node its own messages, so each heartbeat is also
 * upserted into the local table. Two events bring the next heartbeat forward (by 20–200 ms,
 * at most once per TTL/10, clamped to 250 ms…1 s, so a burst of joins costs each node about one extra heartbeat a second): a peer subscribing to the topic (a new neighbour
 * has nobody's record yet) and a peer joining the table (it needs ours). Without them a new
 * node would wait up to TTL/2 to learn each existing peer.
 *
 * Receiving. A topic validator is the only way in to the table. It rejects unsigned
 * messages, payloads over 8 KiB, undecodable ones, records that break the record rules (docs/design.md#records),
 * records whose `peer` is not the signing `from` (a node can't speak for another), and
 * records whose ttl exceeds the cluster's `maxTtl`. Rejection makes gossipsub drop the
 * message and penalise the sender's score (src/cluster/scoring.ts). Ignored (dropped without
 * penalty, not forwarded): heartbeats of a format version this node does not read (a newer
 * node in a rolling upgrade); records older than (or equal to) what the table holds; records
 * from the future, whose seq (the sender's clock in µs) is more than `maxClockSkew` ahead of
 * this node's clock; replays, records already older than their ttl plus `maxClockSkew`; and
 * signers not on the allow-list (src/cluster/admission.ts). A new peer's heartbeat while the
 * table holds `maxPeers` peers is accepted (forwarded) but not listed. Everything else is
 * upserted and accepted, so gossipsub forwards it. The validator never throws.
 *
 * Self-clash. A heartbeat signed with this node's own key but another server ID, made after
 * this instance started, means another process runs with this identity: logged as an error
 * (once per other instance). Older ones are this identity's previous life and are ignored.
 *
 * Failures. A failed publish is retried with exponential backoff (250 ms doubling up to the
 * regular interval); the failure is logged once, and the recovery once. Publishing while no
 * peer is subscribed is not an error (`allowPublishToZeroTopicPeers`) but is also logged
 * once, as is reaching peers again.
 */
import type { GossipSub, Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { RPC } from '@libp2p/gossipsub/message'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { LIMITS, type RoutingRecord } from '../record/record.js'
import type { RoutingTable, TableChange } from '../table/table.js'
import { hasCode } from '../errors.js'
import { decodeHeartbeat, encodeHeartbeat, ERR_HEARTBEAT_VERSION, MAX_HEARTBEAT_BYTES, newServerId, nextHeartbeatDelay, SeqClock } from './heartbeat.js'
import { DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_TTL } from './options.js'
import { silentLogger, type Logger } from './options.js'
import type { Admission } from './admission.js'

/** The gossipsub topic carrying the heartbeats of namespace `ns`. */
export function heartbeatTopic(ns: string): string {
  return `/ww/${ns}/heartbeat`
}

/** Options of {@link Membership}. */
export interface MembershipInit {
  /** The node's gossipsub service (StrictSign). */
  pubsub: GossipSub
  /** The table heartbeats are stored in. */
  table: RoutingTable
  /** This node's peer ID (base58btc). */
  peer: string
  /** Namespace whose topic is joined. */
  ns: string
  /** Heartbeat TTL in ms. */
  ttl: number
  /** Host name announced. @default '' */
  host?: string
  /** Meta announced. @default {} */
  meta?: Record<string, string>
  /**
   * This node's dialable multiaddrs (each ending in `/p2p/<peer>`), read at every heartbeat;
   * the first LIMITS.addrs (8) that fit LIMITS.addrBytes are announced. @default () => []
   */
  addrs?: () => string[]
  /** Instance ID. @default newServerId() */
  server?: string
  /** Logical clock. @default new SeqClock() */
  clock?: SeqClock
  /** Where state changes are reported. @default silentLogger */
  logger?: Logger
  /** Randomness for jitter, in [0, 1). @default Math.random */
  random?: () => number
  /** Longest ttl accepted in a heartbeat, in ms; longer ones are rejected. @default DEFAULT_MAX_TTL (5 min) */
  maxTtl?: number
  /** How far a sender's clock may be off, in ms (see the freshness rules above). @default DEFAULT_MAX_CLOCK_SKEW (5 min) */
  maxClockSkew?: number
  /** This node's wall clock in ms, for the freshness rules. @default Date.now */
  now?: () => number
  /** The allow-list and table capacity, checked before a record goes into the table. @default undefined (everyone, no limit) */
  admission?: Admission
  /** This node's private key: signs its own record for state sync. @default none (own record not synced) */
  key?: PrivateKey
}

/**
 * One signed heartbeat as state sync carries it: `[from, seqno, data, signature]`, the
 * gossipsub message's signing peer (base58btc), its 8-byte seqno, its payload and its
 * StrictSign signature, over which the receiver checks the signature as gossipsub does.
 */
export type SignedFrame = [from: string, seqno: Uint8Array, data: Uint8Array, signature: Uint8Array]

/**
 * A signed heartbeat as state sync carries it: the gossip message, then how many ms ago the
 * serving node received it (a duration on its own clock, so no two clocks are compared). The
 * receiver lets the record live `ttl − age` more, not a whole ttl: otherwise a dead peer's
 * last heartbeat, handed from node to node as new connections form, would outlive it.
 */
export type SyncFrame = [from: string, seqno: Uint8Array, data: Uint8Array, signature: Uint8Array, age: number]

const SIGN_PREFIX = new TextEncoder().encode('libp2p-pubsub:')

/** Counters of one membership instance (for tests, benchmarks and operators). */
export interface MembershipStats {
  /** Heartbeats handed to gossipsub successfully. */
  published: number
  /**
   * Heartbeats sent ahead of schedule: a neighbour subscribed while this node's last heartbeat
   * had reached nobody (a newcomer's first one), so it is owed one now rather than in TTL/4.
   */
  early: number
  /** Bytes of heartbeat payload handed to gossipsub (excluding gossipsub framing). */
  publishedBytes: number
  /** Publish attempts that threw. */
  publishFailures: number
  /** Messages accepted (gossipsub forwards them): into the table, except the `full` ones. */
  accepted: number
  /** Messages rejected by the validator. */
  rejected: number
  /** Messages ignored: stale or duplicate, from the future, replays, or signed by a peer not on the allow-list (the counters below). */
  ignored: number
  /** Of the ignored: seq more than maxClockSkew ahead of this node's clock. */
  future: number
  /** Of the ignored: older than their ttl plus maxClockSkew. */
  replayed: number
  /** Of the ignored: signed by a peer not on the allow-list. */
  notAllowed: number
  /** Of the accepted: a new peer's heartbeat forwarded but not listed, the table being full (`maxPeers`). */
  full: number
}

type PublishState = 'unknown' | 'ok' | 'alone' | 'failing'

const BACKOFF_START = 250
const SOON_MIN = 20
const SOON_SPREAD = 180

/** Heartbeats out, validated heartbeats in. Call `start()`, then `leave()` and/or `stop()`. */
export class Membership {
  /** The gossipsub topic of this namespace's heartbeats. */
  readonly topic: string
  /** This instance's 16-hex-digit server ID. */
  readonly server: string
  /** Counters; read-only for callers. */
  readonly stats: MembershipStats = { published: 0, early: 0, publishedBytes: 0, publishFailures: 0, accepted: 0, rejected: 0, ignored: 0, future: 0, replayed: 0, notAllowed: 0, full: 0 }

  readonly #pubsub: GossipSub
  readonly #table: RoutingTable
  readonly #peer: string
  readonly #ttl: number
  readonly #host: string
  readonly #meta: Record<string, string>
  readonly #addrs: () => string[]
  readonly #clock: SeqClock
  readonly #log: Logger
  readonly #random: () => number
  readonly #admission: Admission | undefined
  readonly #minGap: number
  #timer: NodeJS.Timeout | undefined
  #soon: NodeJS.Timeout | undefined
  #lastSent = -Infinity
  #backoff = 0
  #state: PublishState = 'unknown'
  #failures = 0
  #running = false
  #sending: Promise<void> = Promise.resolve()
  readonly #maxTtl: number
  readonly #maxSkew: number
  readonly #now: () => number
  // The first seq of this instance: own-key heartbeats of another server below it are from a
  // previous life, above it from a twin.
  readonly #bootSeq: number
  readonly #twins = new Set<string>()
  // The signed heartbeat each stored record came in, as received (for state sync).
  readonly #signed = new Map<string, { seq: number; server: string; frame: SignedFrame }>()
  readonly #key: PrivateKey | undefined
  #own: { seq: number; data: Uint8Array; frame?: Promise<SignedFrame> } | undefined

  // A neighbour subscribing brings the next heartbeat forward only while this node's last one
  // reached nobody (a node that just started): its record then spreads at once instead of at
  // its next regular heartbeat. Everyone else's records reach a newcomer by state sync, so
  // neither a new neighbour nor a peer joining the table is a reason to send early: doing so
  // made every node send up to one extra heartbeat a second while nodes kept joining, each
  // delivered to every node — O(N²) messages a second, which starved 64 processes on 2 cores
  // (docs/scaling.md, "Processes on one host").
  readonly #onSubscription = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (this.#lastSent === -Infinity && evt.detail.subscriptions.some((s) => s.subscribe && s.topic === this.topic)) this.#bringForward()
  }

  readonly #onChange = (c: TableChange): void => {
    if (c.kind === 'left' || c.kind === 'expired') this.#signed.delete(c.record.peer)
  }

  constructor(init: MembershipInit) {
    this.#pubsub = init.pubsub
    this.#table = init.table
    this.#peer = init.peer
    this.#ttl = init.ttl
    this.#host = init.host ?? ''
    this.#meta = { ...(init.meta ?? {}) }
    this.#addrs = init.addrs ?? (() => [])
    this.#clock = init.clock ?? new SeqClock()
    this.#bootSeq = this.#clock.current + 1
    this.#maxTtl = init.maxTtl ?? DEFAULT_MAX_TTL
    this.#maxSkew = init.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW
    this.#now = init.now ?? Date.now
    this.#key = init.key
    this.#log = init.logger ?? silentLogger
    this.#random = init.random ?? Math.random
    this.#admission = init.admission
    this.server = init.server ?? newServerId()
    this.topic = heartbeatTopic(init.ns)
    this.#minGap = Math.min(1000, Math.max(250, Math.round(init.ttl / 10)))
    // Fail at start, not at the first heartbeat, when host/meta can't be sent.
    encodeHeartbeat(this.#record(this.#clock.current + 1, this.#ttl))
  }

  /** Installs the validator, subscribes to the topic and sends the first heartbeat. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#pubsub.topicValidators.set(this.topic, this.validate)
    this.#pubsub.subscribe(this.topic)
    this.#pubsub.addEventListener('subscription-change', this.#onSubscription)
    this.#table.on('change', this.#onChange)
    await this.beat()
  }

  /**
   * Sends one heartbeat now (and upserts it locally), then re-arms the regular timer.
   * Resolves when gossipsub has taken it (or failed to); never rejects.
   */
  beat(): Promise<void> {
    const run = this.#sending.then(() => this.#beatNow()).catch(() => {})
    this.#sending = run
    return run
  }

  /**
   * Announces a graceful leave: publishes a heartbeat with ttl 0 and removes the node's own
   * record locally. Waits at most `timeoutMs` for gossipsub to take it. Stops the timers.
   * @param timeoutMs bound on the wait. @default 1000
   */
  async leave(timeoutMs = 1000): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#clearTimers()
    const record = this.#record(this.#clock.next(), 0)
    try {
      this.#table.upsert(record)
    } catch {
      // Our own record always validates (checked in the constructor); nothing to report.
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
    })
    try {
      await Promise.race([this.#sending.then(() => this.#publish(encodeHeartbeat(record))), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stops heartbeats and detaches from gossipsub and the table. Safe to call twice. */
  stop(): void {
    this.#running = false
    this.#clearTimers()
    this.#pubsub.removeEventListener('subscription-change', this.#onSubscription)
    this.#table.off('change', this.#onChange)
    if (this.#pubsub.topicValidators.get(this.topic) === this.validate) this.#pubsub.topicValidators.delete(this.topic)
    try {
      this.#pubsub.unsubscribe(this.topic)
    } catch {
      // gossipsub already stopped: nothing left to unsubscribe from.
    }
  }

  /**
   * The topic validator (installed by `start`). Exposed for tests: it decides, upserts on
   * Accept, and never throws.
   */
  readonly validate = (_from: PeerId, msg: Message): TopicValidatorResult => {
    try {
      return this.#count(this.#validate(msg, 0))
    } catch {
      this.stats.rejected++
      return TopicValidatorResult.Reject
    }
  }

  #count(verdict: TopicValidatorResult): TopicValidatorResult {
    if (verdict === TopicValidatorResult.Accept) this.stats.accepted++
    else if (verdict === TopicValidatorResult.Reject) this.stats.rejected++
    else this.stats.ignored++
    return verdict
  }

  /**
   * Decides on one signed heartbeat received `age` ms ago (0 from gossip, the server's hold
   * time from state sync). `synced`: a copy state sync brought from a node that lists it, which
   * may list again a version that expired here (the stall resync); a gossiped copy of an
   * expired version is a late one and may not.
   */
  #validate(msg: Message, age: number, synced = false): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    if (msg.data.length > MAX_HEARTBEAT_BYTES) return TopicValidatorResult.Reject
    let record: RoutingRecord
    try {
      record = decodeHeartbeat(msg.data)
    } catch (err) {
      // A format version this node does not read is a newer node in a rolling upgrade, not an
      // attack: Reject would cost it its gossipsub score and, after three, its connection.
      if (hasCode(err, ERR_HEARTBEAT_VERSION)) return TopicValidatorResult.Ignore
      return TopicValidatorResult.Reject
    }
    if (record.peer !== msg.from.toString()) return TopicValidatorResult.Reject
    if (record.ttl > this.#maxTtl) return TopicValidatorResult.Reject
    // seq is the sender's clock in µs (exact as a double to well past the year 2200).
    const made = record.seq / 1000
    const now = this.#now()
    if (made > now + this.#maxSkew) {
      this.stats.future++
      return TopicValidatorResult.Ignore
    }
    if (made + record.ttl + this.#maxSkew < now) {
      this.stats.replayed++
      return TopicValidatorResult.Ignore
    }
    if (record.peer === this.#peer) {
      // Our own key: a replay of our previous life, or another process using our identity.
      if (record.server !== this.server && record.seq >= this.#bootSeq && !this.#twins.has(record.server)) {
        this.#twins.add(record.server)
        const log = this.#log.error?.bind(this.#log) ?? this.#log.warn.bind(this.#log)
        log(`another instance (server ${record.server}) runs with this node's identity ${this.#peer}: stop it, or give each node its own --identity file`)
      }
      return TopicValidatorResult.Ignore
    }
    const refusal = this.#admission?.admit(record)
    if (refusal === 'not-allowed') {
      this.stats.notAllowed++
      return TopicValidatorResult.Ignore
    }
    if (refusal === 'full') {
      // Not listed here, but still forwarded: a full node must not hide new peers from others.
      this.stats.full++
      return TopicValidatorResult.Accept
    }
    if (!this.#table.upsert(record, { age, relist: synced })) return TopicValidatorResult.Ignore
    this.#signed.set(record.peer, { seq: record.seq, server: record.server, frame: [record.peer, seqnoBytes(msg.sequenceNumber), msg.data, msg.signature] })
    return TopicValidatorResult.Accept
  }

  /**
   * Every live record of the table as the signed heartbeat it came in (this node's own
   * signed on the spot), at most `max`: what state sync serves.
   */
  async signedFrames(max: number): Promise<SyncFrame[]> {
    const out: SyncFrame[] = []
    for (const [peer, s] of this.#signed) {
      if (out.length >= max) break
      const r = this.#table.get(peer)
      if (r === undefined || r.seq !== s.seq || r.server !== s.server) continue
      const seen = this.#table.times(peer, s.server)?.seen
      if (seen !== undefined) out.push([...s.frame, seen])
    }
    const own = this.#own
    if (own !== undefined && this.#key !== undefined && out.length < max && this.#running) {
      own.frame ??= signFrame(this.#key, this.#peer, this.topic, own.data)
      out.push([...(await own.frame), 0])
    }
    return out
  }

  /**
   * Takes in one signed heartbeat from state sync: checks its signature exactly as gossipsub
   * does (StrictSign: over `libp2p-pubsub:` + the protobuf message without signature and key,
   * with the key inlined in the signing peer ID), then runs the topic validator on it. Reject
   * for anything unsigned, altered or malformed; Ignore, unchecked, for a byte-identical copy
   * of the heartbeat already held for that peer (it can't change the table); never throws.
   */
  async offerFrame(frame: unknown): Promise<TopicValidatorResult> {
    try {
      if (!Array.isArray(frame) || frame.length !== 5) return this.#reject()
      const [fromText, seqno, data, signature, age] = frame as unknown[]
      if (typeof fromText !== 'string' || !(seqno instanceof Uint8Array) || seqno.length !== 8 || !(data instanceof Uint8Array) || !(signature instanceof Uint8Array)) return this.#reject()
      if (typeof age !== 'number' || !Number.isSafeInteger(age) || age < 0) return this.#reject()
      // The very heartbeat this node holds for that peer (same seqno, payload and signature,
      // byte for byte) was verified when it came in, and taking it again changes nothing: it
      // is ignored before the costly part (a key import and an Ed25519 check). Most of what a
      // pull brings is such copies: neighbours' tables overlap, and at a cold start a seed
      // pulls its own table back from every newcomer, O(N²) checks. Anything that differs in
      // one byte is checked, and refused if altered, as before.
      const held = this.#signed.get(fromText)?.frame
      if (held !== undefined && sameBytes(held[2], data) && sameBytes(held[3], signature) && sameBytes(held[1], seqno)) return this.#count(TopicValidatorResult.Ignore)
      const from = peerIdFromString(fromText)
      const key = from.publicKey
      if (key === undefined) return this.#reject()
      const signed = concat(SIGN_PREFIX, RPC.Message.encode({ from: from.toMultihash().bytes, data, seqno, topic: this.topic }))
      if (!(await key.verify(signed, signature))) return this.#reject()
      const msg: Message = { type: 'signed', from, topic: this.topic, data, sequenceNumber: BigInt(`0x${Buffer.from(seqno).toString('hex')}`), signature, key }
      return this.#count(this.#validate(msg, age, true))
    } catch {
      return this.#reject()
    }
  }

  #reject(): TopicValidatorResult {
    this.stats.rejected++
    return TopicValidatorResult.Reject
  }

  #record(seq: number, ttl: number): RoutingRecord {
    const r: RoutingRecord = { peer: this.#peer, server: this.server, seq, ttl, host: this.#host, meta: { ...this.#meta } }
    const suffix = `/p2p/${this.#peer}`
    const addrs = this.#addrs()
      .filter((a) => a.endsWith(suffix) && Buffer.byteLength(a) <= LIMITS.addrBytes)
      .slice(0, LIMITS.addrs)
    if (addrs.length > 0) r.addrs = addrs
    return r
  }

  async #beatNow(): Promise<void> {
    if (!this.#running) return
    this.#clearTimers()
    const record = this.#record(this.#clock.next(), this.#ttl)
    this.#own = { seq: record.seq, data: encodeHeartbeat(record) }
    this.#lastSent = performance.now()
    try {
      this.#table.upsert(record)
    } catch {
      // Validated in the constructor; a table error must not stop heartbeats.
    }
    const ok = await this.#publish(encodeHeartbeat(record))
    if (!this.#running) return
    let delay: number
    if (ok) {
      this.#backoff = 0
      delay = nextHeartbeatDelay(this.#ttl, this.#random)
    } else {
      const regular = Math.round(this.#ttl / 4)
      this.#backoff = Math.min(regular, this.#backoff === 0 ? Math.min(BACKOFF_START, regular) : this.#backoff * 2)
      delay = this.#backoff
    }
    this.#timer = setTimeout(() => void this.beat(), delay)
    this.#timer.unref?.()
  }

  async #publish(data: Uint8Array): Promise<boolean> {
    try {
      const res = await this.#pubsub.publish(this.topic, data)
      this.stats.published++
      this.stats.publishedBytes += data.length
      // A heartbeat that reached nobody must not delay the one a new neighbour is owed.
      if (res.recipients.length === 0) this.#lastSent = -Infinity
      this.#setState(res.recipients.length === 0 ? 'alone' : 'ok', res.recipients.length)
      return true
    } catch (err) {
      this.stats.publishFailures++
      this.#failures++
      this.#setState('failing', 0, err)
      return false
    }
  }

  #setState(next: PublishState, recipients: number, err?: unknown): void {
    const prev = this.#state
    if (next === prev) return
    this.#state = next
    if (next === 'failing') {
      const why = err instanceof Error ? err.message : String(err)
      this.#log.warn(`heartbeat publish failing on ${this.topic}: ${why}; retrying with backoff`)
      return
    }
    if (prev === 'failing') {
      this.#log.info(`heartbeat publishing recovered after ${this.#failures} failed attempt(s)`)
      this.#failures = 0
    }
    if (next === 'alone') this.#log.info(`no peer subscribed to ${this.topic} yet; heartbeats reach nobody`)
    else if (prev === 'alone') this.#log.info(`heartbeats reach peers again (${recipients} direct)`)
  }

  #bringForward(): void {
    if (!this.#running || this.#soon !== undefined) return
    const wait = Math.max(SOON_MIN + this.#random() * SOON_SPREAD, this.#lastSent + this.#minGap - performance.now())
    this.#soon = setTimeout(() => {
      this.#soon = undefined
      this.stats.early++
      void this.beat()
    }, wait)
    this.#soon.unref?.()
  }

  #clearTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#soon !== undefined) clearTimeout(this.#soon)
    this.#soon = undefined
  }
}

function seqnoBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n), false)
  return out
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

// Signs `data` as gossipsub would publish it from `peer` (StrictSign), with a random seqno.
async function signFrame(key: PrivateKey, peer: string, topic: string, data: Uint8Array): Promise<SignedFrame> {
  const seqno = new Uint8Array(8)
  crypto.getRandomValues(seqno)
  const from = peerIdFromString(peer).toMultihash().bytes
  const signature = await key.sign(concat(SIGN_PREFIX, RPC.Message.encode({ from, data, seqno, topic })))
  return [peer, seqno, data, signature]
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)
}
