/**
 * The capability interfaces a client holds (docs/protocol.md). A `Session` is one connection to a
 * node; it carries a `View` of the node's routing table and a `PubSub`. The same interfaces
 * are implemented remotely (src/proto/client.ts) and may be implemented locally over a
 * RoutingTable, so code written against them runs either way.
 */
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

/** A read capability on a routing table. */
export interface View {
  /** True for the null capability: `iter` is exhausted at once and `lookup` yields nothing. */
  readonly isNull: boolean
  /** Streams every record matching the query (LS semantics); a string is parsed first. */
  iter(query?: string | Statement, options?: CursorOptions): Cursor<RoutingRecord>
  /** The first match, or undefined. */
  lookup(query?: string | Statement, options?: AbortOptions): Promise<RoutingRecord | undefined>
  /** A new View capability whose results come in the opposite order. */
  reverse(): View
  /** Distinct values of an index starting with `prefix` (for completion), at most `limit`. */
  values(index: ValuesIndex, prefix?: string, options?: AbortOptions & { limit?: number }): Promise<string[]>
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
