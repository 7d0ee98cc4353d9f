/**
 * Codes of capability errors: the node answers calls with them and the client raises some of
 * them itself (a released or unknown capability), so both sides take them from here.
 */

/** A call named a capability id that this connection doesn't hold (never had, or released). */
export const ERR_CAP_UNKNOWN = 'ERR_CAP_UNKNOWN'
/** The client used a capability it released itself (raised client-side, nothing is sent). */
export { ERR_CAP_RELEASED } from '../../errors.js'
/** A call would take the connection past its capability limit; the new capability was not made. */
export const ERR_TOO_MANY_CAPS = 'ERR_TOO_MANY_CAPS'
/** A streaming call would take the connection past its stream limit; the stream was not opened. */
export const ERR_TOO_MANY_STREAMS = 'ERR_TOO_MANY_STREAMS'
/** More calls in progress on the connection than its limit allows. */
export const ERR_TOO_MANY_CALLS = 'ERR_TOO_MANY_CALLS'
/** The capability has no such method. The connection stays open. */
export const ERR_UNKNOWN_METHOD = 'ERR_UNKNOWN_METHOD'
/** The call needs the real View: this client holds the null one (no token, or a wrong one). */
export const ERR_NOT_AUTHORIZED = 'ERR_NOT_AUTHORIZED'
