/**
 * The node-side PubSub and Topic capabilities (docs/protocol.md "PubSub"): the
 * wire face of a {@link PubSubBackend}. Each connection gets its own PubSub capability, a
 * scope of the shared backend, so whatever a connection joined is released with it.
 *
 * Methods (arguments are the `a` map of a `call` frame):
 *   PubSub.join      {topic: string}  (with `bind`)  → nil; binds a Topic capability
 *   Topic.publish    {data: bin}                      → nil, once the node handed it to the mesh
 *   Topic.subscribe  {}                               → stream of {from: string, data: bin, dropped: uint}
 *   release (either)                                  → handled by the connection: a released
 *                    PubSub releases every Topic it joined; a released Topic ends its streams
 *
 * Quotas: one connection holds at most `maxTopics` joined topics and `maxSubscriptions`
 * subscriptions (PubSubQuotas), well under the node-wide caps of the backend, so a single
 * client cannot take every place an honest client needs.
 *
 * A bad topic name (ERR_TOPIC_NAME), an oversized message (ERR_MESSAGE_TOO_LARGE), a full
 * node or a connection at its quota (ERR_PUBSUB_LIMIT) is answered as the call's error and the connection stays open;
 * arguments of the wrong type (`topic` not a string, `data` not binary) break the protocol
 * (ERR_BAD_FRAME) and close the connection. The null PubSub and Topic check their arguments
 * the same way (joinArgs, publishArgs), so a client learns of its bug whatever it is allowed.
 *
 * Flow control: `publish` is an ordinary asynchronous call, so the connection's limit on
 * calls in progress bounds how many publishes a client can have the node working on.
 * `subscribe` is a stream: the sender pulls from the subscription's bounded buffer only
 * within the client's credit; while the client lags, that buffer absorbs the mesh's pace by
 * dropping its oldest messages (counted in the next item's `dropped`).
 */
import { WwError } from '../../errors.js'
import type { Message } from '../../api.js'
import { checkMessageSize, validateTopicName } from '../../record/topic.js'
import { ERR_BAD_FRAME } from '../wire/frames.js'
import { ERR_PUBSUB_LIMIT } from '../../record/topic.js'
import { type CallContext, type CallOutcome, type ServerCap, type StreamSource, unknownMethod } from './caps.js'

/** The wire form of a message in a `subscribe` stream (the topic is the capability's). */
export interface WireMessage {
  from: string
  data: Uint8Array
  dropped: number
}

/**
 * What the server needs of a node's pub/sub: a scope per connection, so that whatever one
 * connection joined is released with it. The cluster's `PubSubBackend` has this shape; the
 * server knows nothing else of it.
 */
export interface ServedPubSub {
  open(): ServedPubSubScope
}

/** One connection's share of a {@link ServedPubSub}. */
export interface ServedPubSubScope {
  join(topic: string): ServedTopic
  release(): void
}

/** A topic joined through a {@link ServedPubSubScope}. */
export interface ServedTopic {
  publish(data: Uint8Array): Promise<void>
  /** A new subscription, fed from now on. */
  open(): ServedSubscription
  release(): void
}

/** A subscription the stream sender pulls from: `poll` answers at once while it holds messages. */
export interface ServedSubscription {
  poll(): IteratorResult<Message> | Promise<IteratorResult<Message>>
  return(): Promise<IteratorResult<Message>>
}

/** One connection's share of the node's pub/sub. */
export interface PubSubQuotas {
  /** Topics one connection holds joined at once (each `join` counts until released). @default 16 */
  maxTopics?: number
  /** Subscriptions one connection holds open at once. @default 32 */
  maxSubscriptions?: number
}

/** Default topics per connection. */
export const DEFAULT_CONNECTION_TOPICS = 16
/** Default subscriptions per connection. */
export const DEFAULT_CONNECTION_SUBSCRIPTIONS = 32

// What one connection holds, shared by its PubSub and Topic capabilities.
interface Held {
  topics: number
  subscriptions: number
  readonly maxTopics: number
  readonly maxSubscriptions: number
}

/** What `serve({ pubsub })` takes: a factory of one PubSub capability per connection. */
export function pubsubCaps(backend: ServedPubSub, quotas: PubSubQuotas = {}): () => ServerCap {
  const maxTopics = quotas.maxTopics ?? DEFAULT_CONNECTION_TOPICS
  const maxSubscriptions = quotas.maxSubscriptions ?? DEFAULT_CONNECTION_SUBSCRIPTIONS
  return () => new PubSubCap(backend.open(), { topics: 0, subscriptions: 0, maxTopics, maxSubscriptions })
}

/**
 * The topic of a `join`: ERR_BAD_FRAME (fatal) when it is not a string, ERR_TOPIC_NAME (an
 * answer) when it breaks the naming rule.
 */
function joinArgs(a: Record<string, unknown>): string {
  if (typeof a.topic !== 'string') throw new WwError(ERR_BAD_FRAME, "join: 'topic' must be a string")
  return validateTopicName(a.topic)
}

/**
 * The payload of a `publish`: ERR_BAD_FRAME (fatal) when it is not binary,
 * ERR_MESSAGE_TOO_LARGE (an answer) past the size limit.
 */
function publishArgs(a: Record<string, unknown>): Uint8Array {
  if (!(a.data instanceof Uint8Array)) throw new WwError(ERR_BAD_FRAME, "publish: 'data' must be binary")
  return checkMessageSize(a.data)
}

/**
 * The null PubSub: what a node without a pubsub backend, or a client without the token, gets.
 * `join` checks its topic as a real PubSub does, then binds a null Topic, on which
 * `subscribe` ends at once and `publish` checks its payload, then does nothing.
 */
export class NullPubSubCap implements ServerCap {
  readonly isNull = true
  call(m: string, a: Record<string, unknown>, ctx: CallContext): CallOutcome {
    if (m !== 'join') throw unknownMethod('PubSub', m)
    joinArgs(a)
    ctx.bind(new NullTopicCap())
    return { value: null }
  }
}

/** The null Topic handed by the null PubSub. */
export class NullTopicCap implements ServerCap {
  readonly isNull = true
  call(m: string, a: Record<string, unknown>): CallOutcome {
    if (m === 'subscribe') return { stream: [][Symbol.iterator]() }
    if (m === 'publish') {
      publishArgs(a)
      return { value: null }
    }
    throw unknownMethod('Topic', m)
  }
}

/** A connection's PubSub capability. */
export class PubSubCap implements ServerCap {
  readonly isNull = false
  readonly #scope: ServedPubSubScope
  readonly #held: Held

  /** `held`: the connection's quota counters. @default 16 topics, 32 subscriptions */
  constructor(scope: ServedPubSubScope, held: Held = { topics: 0, subscriptions: 0, maxTopics: DEFAULT_CONNECTION_TOPICS, maxSubscriptions: DEFAULT_CONNECTION_SUBSCRIPTIONS }) {
    this.#scope = scope
    this.#held = held
  }

  call(m: string, a: Record<string, unknown>, ctx: CallContext): CallOutcome {
    if (m !== 'join') throw unknownMethod('PubSub', m)
    const name = joinArgs(a)
    const held = this.#held
    if (held.topics >= held.maxTopics) throw new WwError(ERR_PUBSUB_LIMIT, `this connection already holds ${held.maxTopics} topics`)
    const topic = this.#scope.join(name)
    try {
      ctx.bind(new TopicCap(topic, held))
    } catch (err) {
      topic.release()
      throw err
    }
    held.topics++
    return { value: null }
  }

  close(): void {
    this.#scope.release()
  }
}

/** A joined topic, held by one connection. */
export class TopicCap implements ServerCap {
  readonly isNull = false
  readonly #topic: ServedTopic
  readonly #held: Held | undefined
  #closed = false

  /** `held`: the connection's quota counters (none: no quota). */
  constructor(topic: ServedTopic, held?: Held) {
    this.#topic = topic
    this.#held = held
  }

  call(m: string, a: Record<string, unknown>): CallOutcome | Promise<CallOutcome> {
    switch (m) {
      case 'publish':
        return this.#topic.publish(publishArgs(a)).then(() => ({ value: null }))
      case 'subscribe': {
        const held = this.#held
        if (held === undefined) return { stream: wireSource(this.#topic.open()) }
        if (held.subscriptions >= held.maxSubscriptions) throw new WwError(ERR_PUBSUB_LIMIT, `this connection already holds ${held.maxSubscriptions} subscriptions`)
        const source = wireSource(this.#topic.open(), () => held.subscriptions--)
        held.subscriptions++
        return { stream: source }
      }
      default:
        throw unknownMethod('Topic', m)
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#held !== undefined) this.#held.topics--
    this.#topic.release()
  }
}

function toWire(r: IteratorResult<Message>): IteratorResult<WireMessage> {
  return r.done === true ? r : { done: false, value: { from: r.value.from, data: r.value.data, dropped: r.value.dropped } }
}

/**
 * Adapts a subscription to the stream sender. Buffered messages are handed over
 * synchronously, so the sender packs a backlog into full batches; only an empty buffer
 * makes it wait (on a promise).
 */
function wireSource(sub: ServedSubscription, onEnd?: () => void): StreamSource {
  let ended = false
  return {
    next: () => {
      const r = sub.poll()
      return r instanceof Promise ? r.then(toWire) : toWire(r)
    },
    return: () => {
      if (!ended) {
        ended = true
        onEnd?.()
      }
      return sub.return()
    },
  } as StreamSource
}
