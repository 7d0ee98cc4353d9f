/**
 * The node side of PubSub (docs/pubsub.md): client topics carried over the node's gossipsub.
 *
 * Names. A client topic `x` is the gossipsub topic `/ww/<ns>/pubsub/x`. Every client topic
 * lives under that prefix, so no client can publish on (or listen to) the membership
 * heartbeat topic `/ww/<ns>/…` or any other gossipsub topic of the node. Names are 1–128
 * characters of `A-Z a-z 0-9 . _ - /` (ERR_TOPIC_NAME otherwise).
 *
 * Sharing. Joining a topic subscribes the node's gossipsub to it once; every further join of
 * the same topic (from any client) shares that subscription, counted by reference; the last
 * release unsubscribes and removes the topic's validator.
 *
 * Limits. A message carries at most {@link MAX_MESSAGE_SIZE} bytes. Publishing more fails
 * with ERR_MESSAGE_TOO_LARGE, and a topic validator rejects larger (or unsigned) messages
 * arriving from the mesh, which also penalises the sender in gossipsub's scoring. Each
 * subscription owns a bounded {@link MessageBuffer}: when the subscriber falls behind, the
 * oldest messages are dropped and counted in the next message's `dropped`.
 *
 * Local delivery. gossipsub never hands a node its own publications; a subscriber on the
 * publishing node would expect to see them, so `publish` delivers to the local subscribers
 * itself, synchronously and before handing the message to the mesh (so local subscribers see
 * one publisher's messages in the order `publish` was called). Messages the mesh reports as
 * coming from this node are ignored, so `emitSelf` in gossipsub can't cause duplicates.
 */
import type { GossipSub, Message as GossipMessage, TopicValidatorFn, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PublishOpts } from '@libp2p/gossipsub/types'
import type { PubSub, Topic, Message } from '../api.js'
import { Cursor, type CursorOptions } from '../iter.js'
import { WwError, abortError, ERR_CAP_RELEASED } from '../errors.js'
import { checkMessageSize, validateTopicName, MAX_MESSAGE_SIZE, ERR_PUBSUB_LIMIT, ERR_PUBLISH_FAILED } from '../record/topic.js'
import type { AbortOptions } from '../transport/types.js'
import { MessageBuffer, type MessageBufferInit } from './pubsub-buffer.js'

export { ERR_TOPIC_NAME, ERR_MESSAGE_TOO_LARGE, ERR_PUBSUB_LIMIT, ERR_PUBLISH_FAILED, MAX_MESSAGE_SIZE, MAX_TOPIC_LENGTH, validateTopicName, checkMessageSize } from '../record/topic.js'
/** The topic or PubSub capability was released; the code every capability uses. */
export { ERR_CAP_RELEASED }


/**
 * gossipsub's `publish` with its per-call options: the implementation takes them, the exported
 * `GossipSub` interface leaves them out. (test/cluster/pubsub.test.ts fails if they stop
 * working: a lone publish would fail with ERR_PUBLISH_FAILED.)
 */
type PublishWithOptions = (topic: string, data: Uint8Array, opts: PublishOpts) => Promise<unknown>

/** The gossipsub topic carrying client topic `name` in namespace `ns`. */
export function meshTopic(ns: string, name: string): string {
  return `/ww/${ns}/pubsub/${name}`
}

/** Options of {@link PubSubBackend}. */
export interface PubSubBackendInit {
  /** The node's gossipsub service (`libp2p.services.pubsub`). */
  pubsub: GossipSub
  /** The node's own peer ID: `from` of locally published messages. */
  peer: string
  /** Cluster namespace, part of every mesh topic name. @default 'ww' */
  ns?: string
  /** Bounds of each subscription's buffer. @default { maxMessages: 1024, maxBytes: 4194304 } */
  buffer?: MessageBufferInit
  /** Most distinct topics joined at once on this node. @default 256 */
  maxTopics?: number
  /** Most live subscriptions at once on this node. @default 1024 */
  maxSubscriptions?: number
  /** Largest payload accepted from clients and from the mesh. @default 65536 */
  maxMessageSize?: number
}

/** Counters of a backend, for tests and diagnostics. */
export interface PubSubStats {
  /** Distinct topics joined (each is one gossipsub subscription). */
  topics: number
  /** Joined Topic handles over all topics (the reference counts summed). */
  handles: number
  /** Live subscriptions. */
  subscriptions: number
  /** Messages held in all subscription buffers now. */
  buffered: number
  /** Highest length any one subscription buffer ever reached. */
  peakBuffered: number
  /** Messages dropped by overflow, over all subscriptions ever. */
  dropped: number
}

interface TopicEntry {
  readonly name: string
  readonly mesh: string
  refs: number
  readonly subs: Set<Subscription>
}

/**
 * PubSub over a node's gossipsub. One per node; each client connection gets its own scope
 * from {@link PubSubBackend.open}, so a connection's release frees exactly what it joined.
 */
export class PubSubBackend {
  readonly peer: string
  readonly ns: string
  readonly maxMessageSize: number
  readonly #pubsub: GossipSub
  readonly #buffer: MessageBufferInit
  readonly #maxTopics: number
  readonly #maxSubscriptions: number
  readonly #topics = new Map<string, TopicEntry>() // by mesh topic
  readonly #validator: TopicValidatorFn
  #subscriptions = 0
  #peak = 0
  #dropped = 0
  #closed = false

  constructor(init: PubSubBackendInit) {
    this.#pubsub = init.pubsub
    this.peer = init.peer
    this.ns = init.ns ?? 'ww'
    this.#buffer = init.buffer ?? {}
    this.#maxTopics = init.maxTopics ?? 256
    this.#maxSubscriptions = init.maxSubscriptions ?? 1024
    this.maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE
    const max = this.maxMessageSize
    // 'reject' (not 'ignore'): an oversized or unsigned message is a protocol violation and
    // gossipsub's scoring should count it against the peer that sent it.
    // (String values of gossipsub's TopicValidatorResult enum: importing the enum itself would
    // load gossipsub into every client that only wants validateTopicName.)
    this.#validator = (_peer, msg) =>
      (msg.type === 'signed' && msg.data.byteLength <= max ? 'accept' : 'reject') as TopicValidatorResult
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  /** A PubSub capability scoped to one client: its release() releases every topic it joined. */
  open(): PubSubScope {
    return new PubSubScope(this)
  }

  /** Live subscriptions on topic `name` (0 when not joined). */
  subscribers(name: string): number {
    return this.#topics.get(meshTopic(this.ns, name))?.subs.size ?? 0
  }

  /** Counters for tests and diagnostics. */
  stats(): PubSubStats {
    let handles = 0
    let buffered = 0
    for (const e of this.#topics.values()) {
      handles += e.refs
      for (const s of e.subs) buffered += s.buffered
    }
    return { topics: this.#topics.size, handles, subscriptions: this.#subscriptions, buffered, peakBuffered: this.#peak, dropped: this.#dropped }
  }

  /** Ends every subscription and leaves every topic; the node calls it when it stops. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const e of [...this.#topics.values()]) {
      for (const s of [...e.subs]) s.end()
      this.#leaveMesh(e)
    }
    this.#topics.clear()
  }

  /** @internal Joins `name`, sharing the gossipsub subscription with earlier joins. */
  acquire(name: string): TopicEntry {
    validateTopicName(name)
    if (this.#closed) throw new WwError(ERR_CAP_RELEASED, 'the node is stopping')
    const mesh = meshTopic(this.ns, name)
    let e = this.#topics.get(mesh)
    if (e === undefined) {
      if (this.#topics.size >= this.#maxTopics) {
        throw new WwError(ERR_PUBSUB_LIMIT, `the node already holds ${this.#maxTopics} topics`)
      }
      e = { name, mesh, refs: 0, subs: new Set() }
      this.#topics.set(mesh, e)
      this.#pubsub.topicValidators.set(mesh, this.#validator)
      this.#pubsub.subscribe(mesh)
    }
    e.refs++
    return e
  }

  /** @internal Drops one reference; the last one leaves the gossipsub topic. */
  releaseEntry(e: TopicEntry): void {
    e.refs--
    if (e.refs > 0 || this.#topics.get(e.mesh) !== e) return
    this.#topics.delete(e.mesh)
    this.#leaveMesh(e)
  }

  /** @internal A new bounded subscription on `e`. */
  subscribe(e: TopicEntry, onEnd: (s: Subscription) => void): Subscription {
    if (this.#subscriptions >= this.#maxSubscriptions) {
      throw new WwError(ERR_PUBSUB_LIMIT, `the node already holds ${this.#maxSubscriptions} subscriptions`)
    }
    const s = new Subscription(new MessageBuffer(this.#buffer), (sub) => {
      if (e.subs.delete(sub)) this.#subscriptions--
      onEnd(sub)
    })
    e.subs.add(s)
    this.#subscriptions++
    return s
  }

  /** @internal Publishes on `e`: local subscribers first, then the mesh. */
  async publish(e: TopicEntry, data: Uint8Array): Promise<void> {
    checkMessageSize(data, this.maxMessageSize)
    if (this.#closed) throw new WwError(ERR_PUBLISH_FAILED, 'the node is stopping')
    // gossipsub keeps a reference to the payload in its message cache; a copy protects it
    // from a caller that reuses its buffer.
    const payload = new Uint8Array(data)
    this.#deliver(e, { topic: e.name, from: this.peer, data: payload })
    try {
      // Nobody else listening yet is not a failure: the message reached everyone there is
      // (the local subscribers, above). Asked for per call, so it holds whatever the gossipsub
      // was configured with, and no error has to be recognised by its message text.
      await (this.#pubsub.publish as PublishWithOptions).call(this.#pubsub, e.mesh, payload, { allowPublishToZeroTopicPeers: true })
    } catch (err) {
      throw new WwError(ERR_PUBLISH_FAILED, `publish failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
  }

  #onMessage = (evt: CustomEvent<GossipMessage>): void => {
    const msg = evt.detail
    const e = this.#topics.get(msg.topic)
    if (e === undefined || msg.type !== 'signed') return
    const from = msg.from.toString()
    if (from === this.peer) return // delivered locally at publish time
    this.#deliver(e, { topic: e.name, from, data: msg.data })
  }

  #deliver(e: TopicEntry, m: Omit<Message, 'dropped'>): void {
    for (const s of e.subs) {
      const before = s.totalDropped
      s.push(m)
      this.#dropped += s.totalDropped - before
      if (s.peak > this.#peak) this.#peak = s.peak
    }
  }

  #leaveMesh(e: TopicEntry): void {
    if (this.#pubsub.topicValidators.get(e.mesh) === this.#validator) this.#pubsub.topicValidators.delete(e.mesh)
    try {
      this.#pubsub.unsubscribe(e.mesh)
    } catch {
      // gossipsub refuses once stopped; the subscription is gone with it anyway
    }
  }
}

/**
 * One subscriber's queue: an async iterator over its bounded buffer. The consumer (the wire
 * server, under the client's credit, or a local loop) pulls; the mesh pushes.
 */
export class Subscription implements AsyncIterator<Message> {
  readonly #buf: MessageBuffer
  readonly #onEnd: (s: Subscription) => void
  #ended = false

  constructor(buf: MessageBuffer, onEnd: (s: Subscription) => void) {
    this.#buf = buf
    this.#onEnd = onEnd
  }

  get buffered(): number {
    return this.#buf.length
  }
  get peak(): number {
    return this.#buf.peak
  }
  get totalDropped(): number {
    return this.#buf.totalDropped
  }

  /** A message from the mesh (or a local publish); a waiting reader takes it at once. */
  push(m: Omit<Message, 'dropped'>): void {
    this.#buf.push(m)
  }

  /**
   * The next message. Answers synchronously while messages are buffered (so a consumer that
   * accepts both, like the protocol's stream sender and Cursor, packs a backlog into one
   * batch) and with a promise only when it has to wait.
   */
  next(): Promise<IteratorResult<Message>> {
    const r = this.#buf.poll()
    return r instanceof Promise ? r : Promise.resolve(r)
  }

  /** {@link next}, typed honestly: a plain result when one is ready, a promise otherwise. */
  poll(): IteratorResult<Message> | Promise<IteratorResult<Message>> {
    return this.#buf.poll()
  }

  return(): Promise<IteratorResult<Message>> {
    this.end()
    return Promise.resolve({ done: true, value: undefined })
  }

  /** Ends the subscription: pending and later reads see the end; the buffer is freed. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    this.#buf.end()
    this.#onEnd(this)
  }
}

/** One client's PubSub capability over the shared backend. */
export class PubSubScope implements PubSub {
  readonly isNull = false
  readonly #backend: PubSubBackend
  readonly #topics = new Set<LocalTopic>()
  #released = false

  constructor(backend: PubSubBackend) {
    this.#backend = backend
  }

  join(topic: string): LocalTopic {
    if (this.#released) throw new WwError(ERR_CAP_RELEASED, 'the PubSub capability was released')
    const t = new LocalTopic(this.#backend, this.#backend.acquire(topic), (x) => this.#topics.delete(x))
    this.#topics.add(t)
    return t
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    for (const t of [...this.#topics]) t.release()
  }
}

/** A joined topic on the node; releasing it ends its subscriptions and drops its reference. */
export class LocalTopic implements Topic {
  readonly name: string
  readonly #backend: PubSubBackend
  readonly #entry: TopicEntry
  readonly #onRelease: (t: LocalTopic) => void
  readonly #subs = new Set<Subscription>()
  #released = false

  constructor(backend: PubSubBackend, entry: TopicEntry, onRelease: (t: LocalTopic) => void) {
    this.name = entry.name
    this.#backend = backend
    this.#entry = entry
    this.#onRelease = onRelease
  }

  async publish(data: Uint8Array, options: AbortOptions = {}): Promise<void> {
    if (options.signal?.aborted === true) throw abortError(options.signal)
    if (this.#released) throw new WwError(ERR_CAP_RELEASED, `topic '${this.name}' was released`)
    await this.#backend.publish(this.#entry, data)
  }

  subscribe(options: CursorOptions = {}): Cursor<Message> {
    let s: Subscription
    try {
      s = this.open()
    } catch (err) {
      return Cursor.failed(err as Error)
    }
    return new Cursor<Message>(s, options)
  }

  /**
   * A new subscription as a raw iterator (what `subscribe` wraps in a Cursor), for the wire
   * server, which pulls with `poll()`. Throws ERR_CAP_RELEASED / ERR_PUBSUB_LIMIT.
   */
  open(): Subscription {
    if (this.#released) throw new WwError(ERR_CAP_RELEASED, `topic '${this.name}' was released`)
    const s = this.#backend.subscribe(this.#entry, (x) => this.#subs.delete(x))
    this.#subs.add(s)
    return s
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    for (const s of [...this.#subs]) s.end()
    this.#backend.releaseEntry(this.#entry)
    this.#onRelease(this)
  }
}
