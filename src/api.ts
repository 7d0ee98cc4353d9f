/**
 * The capability interfaces a client holds (docs/protocol.md). A `Session` is one connection to a
 * node; it carries a `View` of the node's routing table and a `PubSub`. The same interfaces
 * are implemented remotely (src/proto/client.ts) and may be implemented locally over a
 * RoutingTable, so code written against them runs either way.
 */
import { WwError } from './errors.js'
import type { Statement } from './lang/ast.js'
import type { RoutingRecord } from './record/record.js'
import type { Cursor, CursorOptions } from './iter.js'
import type { AbortOptions } from './transport/types.js'

/** Which index `View.values` lists: a field, or the meta keys themselves (`meta` without key). */
export interface ValuesIndex {
  field: 'host' | 'peer' | 'server' | 'meta'
  /** With `field: 'meta'`: list the values of this key; without it, list the meta keys. */
  key?: string
}

/** The kinds of change a watch reports after `synced` (see {@link WatchEvent}). */
export type WatchEventKind = 'joined' | 'updated' | 'left' | 'expired' | 'unmatched'

/**
 * One event of `View.watch` (docs/table.md#watch): first the current matches as `record`
 * events in the query's order, then one `synced`, then the changes to the match set:
 *
 * - `joined`: a peer starts matching (new, or its record now matches); `record` is it.
 * - `updated`: a matching peer's indexed fields (server, host, meta) changed; with
 *   `heartbeats: true` also a heartbeat that only advanced seq/ttl. `previous` is the record
 *   the watcher held.
 * - `left`: the peer left (ttl 0); `record` is the leave, `previous` the record held.
 * - `expired`: its ttl ran out; `record` is the expired record, `previous` the record held.
 * - `unmatched`: still live but no longer matching; `record` is the new record.
 *
 * `coalesced` is how many table changes the event stands for: more than 1 when the watcher
 * read slower than the peer changed and the changes were merged (the latest state wins). A
 * removal of a peer the watcher held is never merged away: a peer that left and came back
 * before the watcher read gives the removal, then `joined`.
 */
export type WatchEvent =
  | ({ kind: 'record'; record: RoutingRecord } & WatchTimes)
  | { kind: 'synced' }
  | ({ kind: WatchEventKind; record: RoutingRecord; previous?: RoutingRecord; coalesced: number } & WatchTimes)

/**
 * What a watch with `times: true` adds to an event whose `record` is the live instance when
 * the event is sent (`record`, `joined`, `updated`, `unmatched`): the node's own view of it,
 * in whole ms on its clock. Absent on removals (`left`, `expired`) and when the instance was
 * replaced or gone by the time the event was sent.
 */
export interface WatchTimes {
  /** Since the node first took in this instance (peer and server). */
  age?: number
  /** Since the node received its latest record (heartbeat) of it. */
  seen?: number
}

/** A watch was asked of a statement with LIMIT, or of a LOOKUP: a live set has no first n. */
export const ERR_WATCH_LIMIT = 'ERR_WATCH_LIMIT'

/**
 * Refuses a statement `View.watch` can't run, LIMIT or LOOKUP, with ERR_WATCH_LIMIT (the
 * client checks before sending, the node again when the call arrives).
 */
export function checkWatchable(s: Statement): void {
  if (s.op === 'lookup') throw new WwError(ERR_WATCH_LIMIT, 'watch runs an ls query: LOOKUP takes the first match, which a live set does not have')
  if (s.constraints.some((c) => c.kind === 'limit')) throw new WwError(ERR_WATCH_LIMIT, 'watch takes no LIMIT: a live match set has no first n (drop LIMIT, or use ls)')
}

/** Options of `View.watch`. */
export interface WatchOptions extends CursorOptions {
  /**
   * Also report heartbeats that change no indexed field (as `updated`): about one event per
   * matching peer every few seconds.
   * @default false
   */
  heartbeats?: boolean
  /**
   * Ask the node for `age` and `seen` of the instance each event is about (see
   * {@link WatchTimes}); nodes that don't know them send events without them.
   * @default false
   */
  times?: boolean
}

/** How a query ran: the answer of `explain` (like EXPLAIN ANALYZE); docs/language.md. */
export interface QueryPlan {
  /** The canonical query text. */
  query: string
  /** `range`: one walk of one index (the original form); `ordered`/`materialized`: see plan.ts. */
  plan: 'range' | 'ordered' | 'materialized'
  /** The index walked: `host`, `peer`, `server` or `meta.KEY`. */
  index: string
  /** The field that orders the results. */
  order: string
  /** The ranges walked, as `[lo, hi)` value bounds (`-∞`/`+∞` when open). */
  ranges: string[]
  /** Records lacking the ordering field come first (found by a walk of the peer index). */
  absentFirst: boolean
  /** Index entries the plan was expected to visit (range counts, before LIMIT for `range`). */
  estimatedRows: number
  /** Index entries visited. */
  visitedRows: number
  /** Records yielded. */
  actualRows: number
  /** Planning and running, milliseconds. */
  ms: number
}

/**
 * A record as `View.iter` yields it with `times: true`: the node's own view of the instance,
 * in whole ms on its clock when the record was sent.
 */
export type ListedRecord = RoutingRecord & {
  /** Since the node first took in this instance (peer and server). */
  age?: number
  /** Since the node received its latest record (heartbeat). */
  seen?: number
}

/** Options of `View.iter`. */
export interface IterOptions extends CursorOptions {
  /** Ask the node for `age` and `seen` of each record (see {@link ListedRecord}). @default false */
  times?: boolean
}

/**
 * What a node says about itself (`View.info`, `ww info`): identity, addresses, uptime, the
 * table, its peers, heartbeat rates and its clients (docs/protocol.md#info).
 */
export interface NodeInfo {
  /** Peer ID. */
  peer: string
  /** This process's instance ID. */
  server: string
  /** The ww version the node runs. */
  version: string
  /** Cluster namespace. */
  ns: string
  /** libp2p multiaddrs, each ending in `/p2p/<peer>`. */
  p2p: string[]
  /** The client protocol URL. */
  listen: string
  /** Milliseconds since the node started. */
  uptimeMs: number
  /** Peers listed in the table, the node included. */
  tablePeers: number
  /** Other nodes it has a libp2p connection to. */
  connectedPeers: number
  /** Peers in its gossipsub mesh of the heartbeat topic. */
  meshPeers: number
  /** Heartbeats: totals since start, and per second over the last ~10 s. */
  heartbeats: { in: number; out: number; rejected: number; inPerSec: number; outPerSec: number; rejectedPerSec: number }
  /** Open client connections. */
  clients: number
  /** Open streams over all client connections. */
  streams: number
  /**
   * How busy the node's process is, over the last ~10 s: `cpu`, its CPU time (user + system)
   * as a share of one core (0.03 is 3 %; the nodes of one process, as in `ww dev`, all report
   * that process); `lagMs`, the longest its event loop was late to a 1 s timer. A lag near a
   * quarter of the TTL means heartbeats go out and are taken in late, and live peers can
   * expire. Absent in the answer of a node that predates it.
   */
  load?: { cpu: number; lagMs: number }
}

/** A read capability on a routing table. */
export interface View {
  /** True for the null capability: `iter` is exhausted at once and `lookup` yields nothing. */
  readonly isNull: boolean
  /** Streams every record matching the query (LS semantics); a string is parsed first. */
  iter(query?: string | Statement, options?: IterOptions): Cursor<ListedRecord>
  /**
   * A live query: the current matches, `synced`, then every change to the match set, until
   * cancelled (see {@link WatchEvent}). LIMIT and LOOKUP are refused with ERR_WATCH_LIMIT;
   * REVERSE orders the initial matches only. The null View yields `synced` and ends.
   */
  watch(query?: string | Statement, options?: WatchOptions): Cursor<WatchEvent>
  /** The first match, or undefined. */
  lookup(query?: string | Statement, options?: AbortOptions): Promise<RoutingRecord | undefined>
  /** A new View capability whose results come in the opposite order. */
  reverse(): View
  /** Distinct values of an index starting with `prefix` (for completion), at most `limit`. */
  values(index: ValuesIndex, prefix?: string, options?: AbortOptions & { limit?: number }): Promise<string[]>
  /**
   * How many records the query yields (LIMIT included), counted where the table is, without
   * streaming them (`count QUERY`).
   */
  count(query?: string | Statement, options?: AbortOptions): Promise<number>
  /** Runs the query where the table is and reports its plan and rows (`explain QUERY`). */
  explain(query?: string | Statement, options?: AbortOptions): Promise<QueryPlan>
  /**
   * What the node serving this View says about itself (`ww info`). A null View fails with
   * ERR_NOT_AUTHORIZED; a server without node information with ERR_UNKNOWN_METHOD.
   */
  info(options?: AbortOptions): Promise<NodeInfo>
  /** Gives the capability back; later calls fail with ERR_CAP_RELEASED. */
  release(): void
}

/** One message received on a topic. */
export interface Message {
  topic: string
  /** Peer ID of the node that published it into the mesh. */
  from: string
  data: Uint8Array
  /** Messages this subscriber lost to its bounded buffer since the previous one it got. */
  dropped: number
}

/** A joined topic. */
export interface Topic {
  readonly name: string
  /** Publishes one message into the mesh. */
  publish(data: Uint8Array, options?: AbortOptions): Promise<void>
  /** Streams messages as they arrive, under flow control. */
  subscribe(options?: CursorOptions): Cursor<Message>
  release(): void
}

/** The publish/subscribe capability. */
export interface PubSub {
  readonly isNull: boolean
  join(topic: string): Topic
  release(): void
}

/** One connection to a node, with the capabilities it handed out. */
export interface Session {
  readonly view: View
  readonly pubsub: PubSub
  /** The node's peer ID, from the handshake. */
  readonly peer: string
  /** Closes the connection; every stream and capability of it ends. */
  close(): Promise<void>
  /** Settles when the connection is gone: undefined after close(), or the error that ended it. */
  readonly closed: Promise<Error | undefined>
}

/** Options for `connect`. */
export interface ConnectOptions extends AbortOptions {
  /** Presented in the handshake; a node that requires a token hands null capabilities without it. */
  token?: string
}
