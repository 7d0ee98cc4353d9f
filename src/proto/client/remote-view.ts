/**
 * The client-side View (src/api.ts) over a ClientConn, and the client-side null capabilities.
 *
 * Queries given as text are parsed here, before anything is sent: `iter` throws the
 * QueryError synchronously (so a command line reports exit 1 before any stream starts),
 * `lookup` rejects with it. `reverse()` uses promise pipelining: it picks the new
 * capability's id, sends `reverse` with `bind`, and returns the new View at once; if the
 * node refuses (e.g. ERR_TOO_MANY_CAPS) that error surfaces on the new View's first use.
 * A null View answers locally without a round trip.
 */
import { WwError } from '../../errors.js'
import { Cursor, type CursorOptions } from '../../iter.js'
import type { Statement } from '../../lang/ast.js'
import { parseQuery } from '../../lang/index.js'
import type { RoutingRecord } from '../../record/record.js'
import { decodeRecord } from '../wire/record-codec.js'
import { checkWatchable, type Message, type PubSub, type Topic, type ValuesIndex, type View, type WatchEvent, type WatchOptions } from '../../api.js'
import { decodeWatchEvent } from '../wire/watch-codec.js'
import type { AbortOptions } from '../../transport/types.js'
import { ERR_CAP_RELEASED, ERR_CAP_UNKNOWN } from '../wire/codes.js'
import type { ClientConn } from './client-conn.js'
import { ERR_BAD_FRAME } from '../wire/frames.js'
import { checkMessageSize, validateTopicName } from '../../record/topic.js'

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

/** The Statement for a query argument (parsed when text; throws QueryError). */
export function toStatement(q: string | Statement | undefined): Statement {
  if (q === undefined) return ALL
  return typeof q === 'string' ? parseQuery(q) : q
}

function released(): WwError {
  return new WwError(ERR_CAP_RELEASED, 'this capability was released')
}


/** A View capability held on a connection. */
export class RemoteView implements View {
  readonly isNull = false
  readonly #conn: ClientConn
  readonly #cap: number
  #released = false
  // Why the node refused to bind this capability (pipelined reverse), once known.
  #bindError: Error | undefined

  /** `bound`: the pipelined call that binds `cap`, when this View came from `reverse()`. */
  constructor(conn: ClientConn, cap: number, bound?: Promise<unknown>) {
    this.#conn = conn
    this.#cap = cap
    bound?.then(undefined, (e: Error) => {
      this.#bindError = e
    })
  }

  // A call on an id the node never bound fails with ERR_CAP_UNKNOWN; report why instead.
  #map = (e: Error): Error => ((e as WwError).code === ERR_CAP_UNKNOWN && this.#bindError !== undefined ? this.#bindError : e)

  iter(query?: string | Statement, options: CursorOptions = {}): Cursor<RoutingRecord> {
    const q = toStatement(query)
    if (this.#released) return Cursor.failed(released())
    return this.#conn.stream(this.#cap, 'iter', { q }, decodeRecord, { signal: options.signal, mapError: this.#map })
  }

  watch(query?: string | Statement, options: WatchOptions = {}): Cursor<WatchEvent> {
    const q = toStatement(query)
    checkWatchable(q)
    if (this.#released) return Cursor.failed(released())
    const a: Record<string, unknown> = { q }
    if (options.heartbeats === true) a.heartbeats = true
    return this.#conn.stream(this.#cap, 'watch', a, decodeWatchEvent, { signal: options.signal, mapError: this.#map })
  }

  async lookup(query?: string | Statement, options: AbortOptions = {}): Promise<RoutingRecord | undefined> {
    const q = toStatement(query)
    if (this.#released) throw released()
    try {
      const v = await this.#conn.call(this.#cap, 'lookup', { q }, options)
      return v === null || v === undefined ? undefined : decodeRecord(v)
    } catch (err) {
      throw this.#map(err as Error)
    }
  }

  reverse(): View {
    if (this.#released) return new ReleasedView()
    const id = this.#conn.newCapId()
    const bound = this.#conn.call(this.#cap, 'reverse', {}, { bind: id })
    // A refusal of this View's own binding carries over to its children: the node answers a
    // reverse on an unbound id with ERR_CAP_UNKNOWN, which #map turns back into the refusal
    // (ERR_TOO_MANY_CAPS), even when the whole chain was pipelined before any answer came.
    return new RemoteView(this.#conn, id, bound.then(undefined, (e: Error) => {
      throw this.#map(e)
    }))
  }

  async values(index: ValuesIndex, prefix = '', options: AbortOptions & { limit?: number } = {}): Promise<string[]> {
    if (this.#released) throw released()
    const a: Record<string, unknown> = { index: index.key === undefined ? { field: index.field } : { field: index.field, key: index.key }, prefix }
    if (options.limit !== undefined) a.limit = options.limit
    let v: unknown
    try {
      v = await this.#conn.call(this.#cap, 'values', a, { signal: options.signal })
    } catch (err) {
      throw this.#map(err as Error)
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new WwError(ERR_BAD_FRAME, 'values: the node did not answer with strings')
    return v as string[]
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    if (this.#conn.error === undefined) this.#conn.call(this.#cap, 'release', {}).catch(() => {})
  }
}

/** The null View: `iter` is exhausted at once, `watch` yields `synced` and ends, `lookup` yields nothing, `values` []. */
export class NullView implements View {
  readonly isNull = true
  readonly #onRelease: (() => void) | undefined
  #released = false

  /** `onRelease`: gives the node's capability back (for the welcome's null View). */
  constructor(onRelease?: () => void) {
    this.#onRelease = onRelease
  }

  iter(query?: string | Statement, options: CursorOptions = {}): Cursor<RoutingRecord> {
    toStatement(query)
    if (this.#released) return Cursor.failed(released())
    return new Cursor<RoutingRecord>([], options)
  }

  watch(query?: string | Statement, options: WatchOptions = {}): Cursor<WatchEvent> {
    checkWatchable(toStatement(query))
    if (this.#released) return Cursor.failed(released())
    return new Cursor<WatchEvent>([{ kind: 'synced' }], options)
  }

  async lookup(query?: string | Statement): Promise<RoutingRecord | undefined> {
    toStatement(query)
    if (this.#released) throw released()
    return undefined
  }

  reverse(): View {
    return this.#released ? new ReleasedView() : new NullView()
  }

  async values(): Promise<string[]> {
    if (this.#released) throw released()
    return []
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    this.#onRelease?.()
  }
}

// What reverse() of a released View returns: every use fails with ERR_CAP_RELEASED.
class ReleasedView extends NullView {
  constructor() {
    super()
    this.release()
  }
}

/**
 * The null Topic: `publish` checks its payload (ERR_MESSAGE_TOO_LARGE) as a real Topic does,
 * then does nothing; `subscribe` is exhausted at once.
 */
export class NullTopic implements Topic {
  readonly name: string
  #released = false
  constructor(name: string) {
    this.name = name
  }
  async publish(data: Uint8Array): Promise<void> {
    checkMessageSize(data)
    if (this.#released) throw released()
  }
  subscribe(options: CursorOptions = {}): Cursor<Message> {
    if (this.#released) return Cursor.failed(released())
    return new Cursor<Message>([], options)
  }
  release(): void {
    this.#released = true
  }
}

/**
 * The null PubSub: `join` checks the topic name (ERR_TOPIC_NAME, thrown at once) as a real
 * PubSub does, then hands a null Topic; after `release()` it throws ERR_CAP_RELEASED.
 */
export class NullPubSub implements PubSub {
  readonly isNull = true
  readonly #onRelease: (() => void) | undefined
  #released = false
  /** `onRelease`: gives the node's capability back (for the welcome's null PubSub). */
  constructor(onRelease?: () => void) {
    this.#onRelease = onRelease
  }
  join(topic: string): Topic {
    validateTopicName(topic)
    if (this.#released) throw released()
    return new NullTopic(topic)
  }
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#onRelease?.()
  }
}
