/**
 * The client-side PubSub and Topic (src/api.ts) over a ClientConn (docs/pubsub.md,
 * docs/protocol.md "PubSub").
 *
 * `join(topic)` checks the name locally (ERR_TOPIC_NAME, thrown at once, nothing sent),
 * picks the new Topic's capability id and sends `join` with `bind`, returning the Topic
 * without waiting: calls on it are pipelined behind the join. If the node refuses the join
 * (ERR_PUBSUB_LIMIT, ERR_TOO_MANY_CAPS…), that error is what the Topic's calls fail with.
 *
 * `publish` checks the size locally (ERR_MESSAGE_TOO_LARGE) and resolves when the node
 * acknowledges. At most `maxInFlight` publishes per session are on the wire at once; more
 * wait here, in order, so a client publishing in a loop without awaiting can't flood the node.
 * A publish cancelled by its signal stops waiting at once, but keeps its slot until the
 * node's answer arrives: the bound counts what the node is really working on.
 */
import { abortError, WwError } from '../../errors.js'
import { Cursor, type CursorOptions } from '../../iter.js'
import type { Message, PubSub, Topic } from '../../api.js'
import type { AbortOptions } from '../../transport/types.js'
import { checkMessageSize, validateTopicName } from '../../record/topic.js'
import { ERR_CAP_RELEASED, ERR_CAP_UNKNOWN } from '../wire/codes.js'
import type { ClientConn } from './client-conn.js'
import { ERR_BAD_FRAME } from '../wire/frames.js'

/** Publishes a session may have on the wire at once. @default 16 */
export const DEFAULT_MAX_PUBLISH_IN_FLIGHT = 16

/** Options of {@link remotePubSub}. */
export interface RemotePubSubInit {
  /** Publishes on the wire at once, over all topics of the session. @default 16 */
  maxInFlight?: number
}

/** The factory `connect({ pubsub })` takes: builds the PubSub for the welcome's capability. */
export function remotePubSub(init: RemotePubSubInit = {}): (conn: ClientConn, cap: number) => PubSub {
  return (conn, cap) => new RemotePubSub(conn, cap, new Slots(init.maxInFlight ?? DEFAULT_MAX_PUBLISH_IN_FLIGHT))
}

function released(what: string): WwError {
  return new WwError(ERR_CAP_RELEASED, `${what} was released`)
}

/** A PubSub capability held on a connection. */
export class RemotePubSub implements PubSub {
  readonly isNull = false
  readonly #conn: ClientConn
  readonly #cap: number
  readonly #slots: Slots
  readonly #topics = new Set<RemoteTopic>()
  #released = false

  constructor(conn: ClientConn, cap: number, slots: Slots) {
    this.#conn = conn
    this.#cap = cap
    this.#slots = slots
  }

  join(topic: string): Topic {
    validateTopicName(topic)
    if (this.#released) throw released('the PubSub capability')
    const id = this.#conn.newCapId()
    const bound = this.#conn.call(this.#cap, 'join', { topic }, { bind: id })
    bound.catch(() => {})
    const t = new RemoteTopic(this.#conn, id, topic, bound, this.#slots, (x) => this.#topics.delete(x))
    this.#topics.add(t)
    return t
  }

  /** Releases this capability and, on the node, every topic it joined. */
  release(): void {
    if (this.#released) return
    this.#released = true
    for (const t of [...this.#topics]) t.markReleased()
    if (this.#conn.error === undefined) this.#conn.call(this.#cap, 'release', {}).catch(() => {})
  }
}

/** A joined topic held on a connection. */
export class RemoteTopic implements Topic {
  readonly name: string
  readonly #conn: ClientConn
  readonly #cap: number
  readonly #slots: Slots
  readonly #onRelease: (t: RemoteTopic) => void
  #released = false
  #bindError: Error | undefined

  constructor(conn: ClientConn, cap: number, name: string, bound: Promise<unknown>, slots: Slots, onRelease: (t: RemoteTopic) => void) {
    this.#conn = conn
    this.#cap = cap
    this.name = name
    this.#slots = slots
    this.#onRelease = onRelease
    bound.then(undefined, (e: Error) => {
      this.#bindError = e
    })
  }

  // A call on an id the node never bound fails with ERR_CAP_UNKNOWN; report why instead.
  #map = (e: Error): Error => ((e as WwError).code === ERR_CAP_UNKNOWN && this.#bindError !== undefined ? this.#bindError : e)

  async publish(data: Uint8Array, options: AbortOptions = {}): Promise<void> {
    checkMessageSize(data)
    const signal = options.signal
    if (signal?.aborted === true) throw abortError(signal)
    if (this.#released) throw released(`topic '${this.name}'`)
    await this.#slots.acquire(signal)
    let answered: Promise<unknown>
    try {
      if (this.#released) throw released(`topic '${this.name}'`)
      answered = this.#conn.call(this.#cap, 'publish', { data })
    } catch (err) {
      this.#slots.release()
      throw err
    }
    answered.then(
      () => this.#slots.release(),
      () => this.#slots.release(),
    )
    try {
      await raceAbort(answered, signal)
    } catch (err) {
      throw this.#map(err as Error)
    }
  }

  subscribe(options: CursorOptions = {}): Cursor<Message> {
    if (this.#released) return Cursor.failed(released(`topic '${this.name}'`))
    const topic = this.name
    return this.#conn.stream(this.#cap, 'subscribe', {}, (item) => decodeMessage(topic, item), { signal: options.signal, mapError: this.#map })
  }

  release(): void {
    if (this.#released) return
    this.markReleased()
    if (this.#conn.error === undefined) this.#conn.call(this.#cap, 'release', {}).catch(() => {})
  }

  /** @internal Marks the topic released without telling the node (its PubSub was released). */
  markReleased(): void {
    this.#released = true
    this.#onRelease(this)
  }
}

/** Checks a stream item from the node and makes it a Message. Throws ERR_BAD_FRAME. */
export function decodeMessage(topic: string, item: unknown): Message {
  const m = item as { from?: unknown; data?: unknown; dropped?: unknown } | null
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.from !== 'string' ||
    !(m.data instanceof Uint8Array) ||
    typeof m.dropped !== 'number' ||
    !Number.isSafeInteger(m.dropped) ||
    m.dropped < 0
  ) {
    throw new WwError(ERR_BAD_FRAME, 'the node sent an invalid message: expected {from: string, data: bin, dropped: uint}')
  }
  // A copy: the decoder's bytes are a view into the whole batch frame (a Buffer, from the
  // WebSocket), which a kept message would otherwise hold alive.
  return { topic, from: m.from, data: new Uint8Array(m.data), dropped: m.dropped }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e as Error)
      },
    )
  })
}

/** A counting semaphore with a FIFO queue of waiters (each cancellable by its signal). */
export class Slots {
  readonly max: number
  #used = 0
  readonly #waiters: Array<{ go: () => void; signal: AbortSignal | undefined }> = []

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('maxInFlight must be a whole number ≥ 1')
    this.max = max
  }

  /** Slots taken now. */
  get used(): number {
    return this.#used
  }

  /** Takes a slot, waiting in line while all are taken. Rejects with ERR_ABORTED on `signal`. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#used < this.max && this.#waiters.length === 0) {
      this.#used++
      return Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const w = {
        go: () => {
          signal?.removeEventListener('abort', onAbort)
          this.#used++
          resolve()
        },
        signal,
      }
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(w)
        if (i >= 0) this.#waiters.splice(i, 1)
        reject(abortError(signal))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(w)
    })
  }

  /** Gives a slot back; the longest waiter takes it. */
  release(): void {
    this.#used--
    const w = this.#waiters.shift()
    w?.go()
  }
}
