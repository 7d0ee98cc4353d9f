/**
 * The transport layer (`ww/transport`): the contract, the built-in transports, the registry
 * and the flow-control pieces a plugin may reuse. The conformance suite lives in
 * `./conformance.js` and is not re-exported here because it imports `vitest`, a dev-only
 * dependency that production code importing the transports must not need.
 */
export type { AbortOptions, Connection, Listener, Transport, TransportFactory } from './types.js'
export { WwError, hasCode, ERR_ABORTED } from '../errors.js'
export {
  ERR_CONNECT_FAILED,
  ERR_CONNECTION_CLOSED,
  ERR_DUPLICATE_SCHEME,
  ERR_FRAME_TOO_LARGE,
  ERR_INVALID_URL,
  ERR_LISTEN_FAILED,
  ERR_PROTOCOL_VIOLATION,
  ERR_READ_BUFFER_FULL,
  ERR_TEXT_FRAME,
  ERR_UNSUPPORTED_SCHEME,
} from './errors.js'
export {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_READ_BUFFER_BYTES,
  DEFAULT_READ_BUFFER_FRAMES,
  hardReadBound,
  resolveLimits,
} from './limits.js'
export type { ConnectionLimits, ResolvedLimits } from './limits.js'
export { BoundedQueue } from '../queue.js'
export type { BoundedQueueInit, Overflow, QueueLevels } from '../queue.js'
export { FrameQueue, FRAME_OVERHEAD } from './frame-queue.js'
export type { FrameQueueInit } from './frame-queue.js'
export { SendBuffer } from './send-buffer.js'
export { webSockets, CloseCode, DEFAULT_CONNECT_TIMEOUT } from './ws.js'
export type { WebSocketsInit } from './ws.js'
export { memoryTransport, memoryPair, MemoryConnection, MemoryNetwork, defaultMemoryNetwork, DEFAULT_FRAME_LOG } from './memory.js'
export type { MemoryTransport, MemoryTransportInit, FrameRecord } from './memory.js'
export { TransportRegistry, defaultTransports } from './registry.js'
export type { RegisterOptions, DefaultTransportsInit } from './registry.js'
