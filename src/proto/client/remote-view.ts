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
import { formatStatement, parseQuery } from '../../lang/index.js'
import type { RoutingRecord } from '../../record/record.js'
import { decodeRecord, decodeRecordItems } from '../wire/record-codec.js'
import { checkWatchable, type IterOptions, type ListedRecord, type Message, type NodeInfo, type PubSub, type QueryPlan, type Topic, type ValuesIndex, type View, type WatchEvent, type WatchOptions } from '../../api.js'
import { decodeWatchEvent } from '../wire/watch-codec.js'
import { decodeTimes } from '../wire/times-codec.js'
import type { AbortOptions } from '../../transport/types.js'
import { ERR_CAP_RELEASED, ERR_CAP_UNKNOWN, ERR_NOT_AUTHORIZED } from '../wire/codes.js'
import { checkNodeInfo } from '../wire/info-codec.js'
import type { ClientConn } from './client-conn.js'
import type { ItemsReader } from './remote-stream.js'
import { ERR_BAD_FRAME } from '../wire/frames.js'
import { checkMessageSize, validateTopicName } from '../../record/topic.js'

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

/** The Statement for a query argument (parsed when text; throws QueryError). */
export function toStatement(q: string | Statement | undefined): Statement {
  if (q === undefined) return ALL
  return typeof q === 'string' ? parseQuery(q) : q
}

/** The node speaks only the original query language: no `where`, no `count`/`explain` there. */
export const ERR_NODE_LANG = 'ERR_NODE_LANG'

// A Statement with `where` to a node that did not negotiate language 2 would be refused (and
// the connection closed): say why here instead, before anything is sent.
function checkLang(conn: ClientConn, s: Statement): Statement {
  if (s.where !== undefined && conn.lang < 2) {
    throw new WwError(ERR_NODE_LANG, 'this node speaks the original query language: one WHERE f=v, no AND, != or IN (upgrade the node)')
  }
  return s
}

// A record with the node's optional `age` / `seen` (the rule of watch events too).
function decodeListed(v: unknown): ListedRecord {
  const r = decodeRecord(v) as ListedRecord
  decodeTimes(r as unknown as Record<string, unknown>, r, 'record')
  return r
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
  // Why the node refused to bind this capability (pipelined reverse), once known: set in the
  // same synchronous step that receives the refusal, so a call on this View answered in the
  // same transport message (a node that packs frames) already sees it.
  #bindError: Error | undefined

  constructor(conn: ClientConn, cap: number) {
    this.#conn = conn
    this.#cap = cap
  }

  // A call on an id the node never bound fails with ERR_CAP_UNKNOWN; report why instead.
  #map = (e: Error): Error => ((e as WwError).code === ERR_CAP_UNKNOWN && this.#bindError !== undefined ? this.#bindError : e)

  iter(query?: string | Statement, options: IterOptions = {}): Cursor<ListedRecord> {
    const q = checkLang(this.#conn, toStatement(query))
    if (this.#released) return Cursor.failed(released())
    // The batches are read straight from their bytes (decodeRecordItems checks every field as
    // decodeRecord / decodeListed do, age and seen included); any frame it can't read goes
    // through the generic decoder and these.
    const decodeItems = decodeRecordItems as ItemsReader<ListedRecord>
    if (options.times === true) return this.#conn.stream(this.#cap, 'iter', { q, times: true }, decodeListed, { signal: options.signal, mapError: this.#map, decodeItems })
    return this.#conn.stream(this.#cap, 'iter', { q }, decodeRecord, { signal: options.signal, mapError: this.#map, decodeItems })
  }

  watch(query?: string | Statement, options: WatchOptions = {}): Cursor<WatchEvent> {
    const q = toStatement(query)
    checkWatchable(q)
    if (this.#released) return Cursor.failed(released())
    const a: Record<string, unknown> = { q }
    if (options.heartbeats === true) a.heartbeats = true
    if (options.times === true) a.times = true
    return this.#conn.stream(this.#cap, 'watch', a, decodeWatchEvent, { signal: options.signal, mapError: this.#map })
  }

  async lookup(query?: string | Statement, options: AbortOptions = {}): Promise<RoutingRecord | undefined> {
    const q = checkLang(this.#conn, toStatement(query))
    if (this.#released) throw released()
    try {
      const v = await this.#conn.call(this.#cap, 'lookup', { q }, options)
      return v === null || v === undefined ? undefined : decodeRecord(v)
    } catch (err) {
      throw this.#map(err as Error)
    }
  }

  async count(query?: string | Statement, options: AbortOptions = {}): Promise<number> {
    const q = checkLang(this.#conn, toStatement(query))
    if (this.#released) throw released()
    if (this.#conn.lang < 2) {
      // A node of the original language has no `count`: count the stream instead.
      let n = 0
      const c = this.iter(q, options)
      while ((await c.next()) !== undefined) n++
      const err = c.err()
      if (err !== undefined) throw err
      return n
    }
    let v: unknown
    try {
      v = await this.#conn.call(this.#cap, 'count', { q }, options)
    } catch (err) {
      throw this.#map(err as Error)
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new WwError(ERR_BAD_FRAME, 'count: the node did not answer with a count')
    return v
  }

  async explain(query?: string | Statement, options: AbortOptions = {}): Promise<QueryPlan> {
    const q = checkLang(this.#conn, toStatement(query))
    if (this.#released) throw released()
    if (this.#conn.lang < 2) throw new WwError(ERR_NODE_LANG, 'this node speaks the original query language: it has no explain (upgrade the node)')
    let v: unknown
    try {
      v = await this.#conn.call(this.#cap, 'explain', { q }, options)
    } catch (err) {
      throw this.#map(err as Error)
    }
    return checkPlan(v)
  }

  async info(options: AbortOptions = {}): Promise<NodeInfo> {
    if (this.#released) throw released()
    let v: unknown
    try {
      v = await this.#conn.call(this.#cap, 'info', {}, options)
    } catch (err) {
      throw this.#map(err as Error)
    }
    return checkNodeInfo(v)
  }

  reverse(): View {
    if (this.#released) return new ReleasedView()
    const id = this.#conn.newCapId()
    const child = new RemoteView(this.#conn, id)
    // A refusal of this View's own binding carries over to its children: the node answers a
    // reverse on an unbound id with ERR_CAP_UNKNOWN, which #map turns back into the refusal
    // (ERR_TOO_MANY_CAPS), even when the whole chain was pipelined before any answer came.
    this.#conn
      .call(this.#cap, 'reverse', {}, {
        bind: id,
        onError: (e) => {
          child.#bindError = this.#map(e)
        },
      })
      .catch(() => {}) // reported by the child's calls
    return child
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

  iter(query?: string | Statement, options: CursorOptions = {}): Cursor<ListedRecord> {
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

  async count(query?: string | Statement): Promise<number> {
    toStatement(query)
    if (this.#released) throw released()
    return 0
  }

  async info(): Promise<NodeInfo> {
    if (this.#released) throw released()
    throw new WwError(ERR_NOT_AUTHORIZED, "the node's information is for clients holding the real View: present the node's token")
  }

  async explain(query?: string | Statement): Promise<QueryPlan> {
    const s = toStatement(query)
    if (this.#released) throw released()
    // Nothing to run: the null View sees no table.
    return { query: formatStatement(s), plan: 'range', index: 'peer', order: 'peer', ranges: [], absentFirst: false, estimatedRows: 0, visitedRows: 0, actualRows: 0, ms: 0 }
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

// A plan as the node sent it: the fields of QueryPlan, checked (the node is trusted less than
// the program that prints it).
function checkPlan(v: unknown): QueryPlan {
  const o = v as Record<string, unknown>
  const str = (k: string): string => {
    if (typeof o?.[k] !== 'string') throw new WwError(ERR_BAD_FRAME, `explain: the node's plan lacks ${k}`)
    return o[k] as string
  }
  const num = (k: string): number => {
    if (typeof o?.[k] !== 'number') throw new WwError(ERR_BAD_FRAME, `explain: the node's plan lacks ${k}`)
    return o[k] as number
  }
  const plan = str('plan')
  if (plan !== 'range' && plan !== 'ordered' && plan !== 'materialized') throw new WwError(ERR_BAD_FRAME, 'explain: unknown plan kind')
  if (!Array.isArray(o.ranges) || !o.ranges.every((r) => typeof r === 'string')) throw new WwError(ERR_BAD_FRAME, "explain: the node's plan lacks ranges")
  return {
    query: str('query'),
    plan,
    index: str('index'),
    order: str('order'),
    ranges: o.ranges as string[],
    absentFirst: o.absentFirst === true,
    estimatedRows: num('estimatedRows'),
    visitedRows: num('visitedRows'),
    actualRows: num('actualRows'),
    ms: num('ms'),
  }
}
