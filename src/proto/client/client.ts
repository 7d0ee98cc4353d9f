/**
 * `connect(url)`: dials a node through the transport registry (the URL's scheme picks the
 * transport; ws:// and wss:// by default), runs the handshake and returns a Session holding
 * the View and PubSub capabilities the node handed out (docs/protocol.md, docs/design.md#library-api).
 *
 *   const session = await connect('ws://127.0.0.1:8420')
 *   for await (const r of session.view.iter('WHERE region=us-east-1')) …
 *   await session.close()
 */
import { abortError, ERR_ABORTED, hasCode, WwError } from '../../errors.js'
import { ERR_CONNECT_FAILED } from '../../transport/errors.js'
import type { ConnectOptions, PubSub, Session, View } from '../../api.js'
import { defaultTransports, type TransportRegistry } from '../../transport/registry.js'
import { ClientConn, type ClientConnInit } from './client-conn.js'
import { NullPubSub, NullView, RemoteView } from './remote-view.js'
import { remotePubSub } from './remote-pubsub.js'

export { ERR_CONNECTION_LOST, ERR_SESSION_CLOSED, ERR_FLOW_CONTROL, ClientConn } from './client-conn.js'

/** Default time for dialing plus the handshake when no signal is given: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000

/** Options of `connect` beyond the stable ones of `ConnectOptions`. */
export interface ConnectInit extends ConnectOptions, ClientConnInit {
  /** Transports by URL scheme. @default defaultTransports() */
  transports?: TransportRegistry
  /**
   * Builds the client side of a non-null PubSub capability `cap` on `conn` (docs/pubsub.md).
   * @default remotePubSub() (src/proto/pubsub-client.ts)
   */
  pubsub?: (conn: ClientConn, cap: number) => PubSub
  /** Milliseconds for dialing plus the handshake, when no `signal` is given. @default 10_000 */
  timeout?: number
}

const defaultPubSub = remotePubSub()

class RemoteSession implements Session {
  readonly view: View
  readonly pubsub: PubSub
  readonly peer: string
  readonly closed: Promise<Error | undefined>
  readonly #conn: ClientConn

  constructor(conn: ClientConn, init: ConnectInit) {
    this.#conn = conn
    const w = conn.welcome
    this.peer = w.peer
    this.closed = conn.closed
    const giveBack = (cap: number) => () => {
      if (conn.error === undefined) conn.call(cap, 'release', {}).catch(() => {})
    }
    this.view = w.view.null ? new NullView(giveBack(w.view.cap)) : new RemoteView(conn, w.view.cap)
    this.pubsub = w.pubsub.null ? new NullPubSub(giveBack(w.pubsub.cap)) : (init.pubsub ?? defaultPubSub)(conn, w.pubsub.cap)
  }

  close(): Promise<void> {
    return this.#conn.close()
  }
}

/**
 * Connects to the node at `url`. Rejects with ERR_INVALID_URL / ERR_UNSUPPORTED_SCHEME for
 * a URL no transport handles, ERR_CONNECT_FAILED when nothing answers or the handshake does
 * not complete within `timeout`, the node's error for a refused handshake
 * (ERR_PROTOCOL_VERSION, …), ERR_ABORTED when the caller's `signal` fires.
 */
export async function connect(url: string, options: ConnectInit = {}): Promise<Session> {
  if (options.signal?.aborted === true) throw abortError(options.signal)
  const transports = options.transports ?? defaultTransports()
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT
  const signal = options.signal ?? AbortSignal.timeout(timeout)
  try {
    const conn = await transports.connect(url, { signal })
    const token = options.token
    const c = await ClientConn.open(conn, { signal, ...(token === undefined ? {} : { token }), window: options.window, maxFrameBytes: options.maxFrameBytes, pack: options.pack })
    return new RemoteSession(c, options)
  } catch (err) {
    // Our own deadline (not the caller's signal) means the node could not be reached.
    if (options.signal === undefined && signal.aborted && hasCode(err, ERR_ABORTED)) {
      throw new WwError(ERR_CONNECT_FAILED, `no session with ${url} within ${timeout} ms`, { cause: err })
    }
    throw err
  }
}
