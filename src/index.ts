/**
 * ww: cluster membership with indexed, streamed queries. This is the library's front door
 * (docs/design.md#library-api); the names exported here are the stable surface.
 */
export { WwError, hasCode } from './errors.js'
export { Cursor } from './iter.js'
export type { CursorOptions } from './iter.js'
export type { RoutingRecord } from './record/record.js'
export { validateRecord, RecordError, compareVersion } from './record/record.js'
export type { Statement, Selector, Constraint, Index, FieldName } from './lang/ast.js'
export { parseQuery, tryParseQuery, formatStatement, QueryError } from './lang/index.js'
export type { ParseResult } from './lang/index.js'
export type { View, PubSub, Topic, Message, Session, ConnectOptions, ValuesIndex } from './api.js'
export type { Transport, Connection, Listener, TransportFactory } from './transport/types.js'
export { connect } from './proto/client/client.js'
export type { ConnectInit } from './proto/client/client.js'
export { serve } from './proto/server/server.js'
export type { ServeInit, Server, ServeLimits, ServerStats } from './proto/server/server.js'
export { RoutingTable } from './table/table.js'
export type { TableInit, TableChange, ChangeKind, ChangeListener, Snapshot } from './table/table.js'
export { startNode } from './node/node.js'
export type { Node, NodeInit } from './node/node.js'
export { validateTopicName, MAX_MESSAGE_SIZE, MAX_TOPIC_LENGTH } from './record/topic.js'
export { renderCaret } from './lang/index.js'
