/**
 * Error codes raised by the transport layer (src/transport/). Every transport, built-in or
 * plugin, reports failures with these codes so the protocol above can react without knowing
 * which transport carried the bytes. Listed in docs/errors.md.
 */
import { WwError } from '../errors.js'

/** Dialing failed: nothing listens there, the handshake was refused, or it timed out. */
export const ERR_CONNECT_FAILED = 'ERR_CONNECT_FAILED'
/** Listening failed: the address is taken, not local, or malformed. */
export const ERR_LISTEN_FAILED = 'ERR_LISTEN_FAILED'
/** The connection is closed (or closing): sending is no longer possible, or the peer went away. */
export const ERR_CONNECTION_CLOSED = 'ERR_CONNECTION_CLOSED'
/** A frame is larger than the receiver's (or the sender's own) maximum payload. */
export const ERR_FRAME_TOO_LARGE = 'ERR_FRAME_TOO_LARGE'
/** The read buffer passed its hard bound although reading was paused; the connection was reset. */
export const ERR_READ_BUFFER_FULL = 'ERR_READ_BUFFER_FULL'
/** The peer sent a text frame; only binary frames are allowed. */
export const ERR_TEXT_FRAME = 'ERR_TEXT_FRAME'
/** The peer broke the framing protocol (bad opcode, bad masking, invalid close code, …). */
export const ERR_PROTOCOL_VIOLATION = 'ERR_PROTOCOL_VIOLATION'
/** No transport handles the URL's scheme. */
export const ERR_UNSUPPORTED_SCHEME = 'ERR_UNSUPPORTED_SCHEME'
/** The string is not a URL a transport can use. */
export const ERR_INVALID_URL = 'ERR_INVALID_URL'
/** A transport for this scheme is already registered. */
export const ERR_DUPLICATE_SCHEME = 'ERR_DUPLICATE_SCHEME'

/** Shorthand for `new WwError(code, message, { cause })`. */
export function transportError(code: string, message: string, cause?: unknown): WwError {
  return new WwError(code, message, cause === undefined ? undefined : { cause })
}

/** Parses `url`, throwing ERR_INVALID_URL with the offending text when it is not a URL. */
export function parseUrl(url: string): URL {
  try {
    return new URL(url)
  } catch (err) {
    throw transportError(ERR_INVALID_URL, `not a valid URL: ${JSON.stringify(url)}`, err)
  }
}
