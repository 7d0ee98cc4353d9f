/**
 * Node-side capabilities: the generic shape the connection dispatches calls to, and the
 * codes of capability errors (defined in ../wire/codes.ts, since the client raises them too). A capability is an entry in a per-connection table, keyed by a
 * small integer id; the id means nothing on any other connection, so it can't be forged by
 * guessing: a call on an id that isn't in this connection's table fails with ERR_CAP_UNKNOWN.
 *
 * Extension point (PubSub, docs/pubsub.md): a new capability kind implements `ServerCap`. A method
 * answers with `{ value }` (sent in a `result` frame) or `{ stream }` (an iterator of
 * MessagePack-able items, sent as a flow-controlled stream: `subscribe` is one), and creates
 * new capabilities (`join` → Topic) with `ctx.bind(cap)`, synchronously, before any `await`,
 * so a client may pipeline calls on the new id right behind the call that creates it.
 * `release` is handled by the connection for every kind.
 */
import { WwError } from '../../errors.js'
import type { ItemWriter } from '../wire/frames.js'

export { ERR_CAP_UNKNOWN, ERR_CAP_RELEASED, ERR_TOO_MANY_CAPS, ERR_TOO_MANY_STREAMS, ERR_TOO_MANY_CALLS, ERR_UNKNOWN_METHOD } from '../wire/codes.js'
import { ERR_UNKNOWN_METHOD } from '../wire/codes.js'

/** What a capability method gets besides its arguments. */
export interface CallContext {
  /**
   * Binds `cap` under the id the client chose for it (`call.bind`). Throws ERR_BAD_FRAME when
   * the call carries no `bind`, ERR_TOO_MANY_CAPS past the limit. Call it before any `await`.
   */
  bind(cap: ServerCap): void
  /** Aborted when the connection goes away. */
  readonly signal: AbortSignal
}
/** A stream source: sync (a lazy table scan) or async (a subscription). */
export type StreamSource = Iterator<unknown> | AsyncIterator<unknown>

/**
 * How a method answers: one value, or a stream of items. `encode` (optional) turns one item
 * into its MessagePack bytes faster than the generic encoder; the bytes must be the same,
 * and may be a view of the encoder's scratch space (the stream copies them before the next
 * call). `write` (optional, preferred over `encode`) appends those same bytes straight into
 * the batch being built, saving the copy and the view.
 */
export type CallOutcome = { value: unknown } | { stream: StreamSource; encode?: (item: never) => Uint8Array; write?: ItemWriter }

/** A capability as the node holds it. */
export interface ServerCap {
  /** True for a null capability. */
  readonly isNull: boolean
  /**
   * Runs method `m`. Throw a WwError to answer with an error; throwing ERR_BAD_FRAME or
   * ERR_BAD_QUERY (malformed arguments) closes the connection.
   */
  call(m: string, args: Record<string, unknown>, ctx: CallContext): CallOutcome | Promise<CallOutcome>
  /** Called once when the capability is released or its connection ends. */
  close?(): void
}

/** Shorthand for the error of an unknown method. */
export function unknownMethod(kind: string, m: string): WwError {
  return new WwError(ERR_UNKNOWN_METHOD, `${kind} has no method '${m.slice(0, 64)}'`)
}
