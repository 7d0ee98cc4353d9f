/**
 * The transport contract (types only). A transport moves whole binary frames over one
 * connection, in order, with backpressure both ways; the protocol above it (src/proto/)
 * never sees sockets. Transports are chosen by URL scheme; built-ins and plugins implement
 * the same contract and pass the same conformance suite (src/transport/conformance.ts).
 *
 * Shape, after js-libp2p v3's message streams: `send(frame)` returns false when the
 * connection's outgoing buffer is past its high-water mark ("wait for `onDrain()`"); reads
 * are an async iterable of frames whose buffer is bounded: a transport stops reading from
 * the network while the consumer lags (or, if it cannot, resets the connection with
 * ERR_READ_BUFFER_FULL) — never an unbounded queue.
 */

/** Options for any operation that may wait. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** One open connection carrying binary frames. */
export interface Connection extends AsyncIterable<Uint8Array> {
  /** Where the other end is, for logs (e.g. `127.0.0.1:53122`). */
  readonly remoteAddress: string
  /**
   * Queues one frame. Returns false when the outgoing buffer is at or past the high-water
   * mark: the caller should `await onDrain()` before sending more. Throws ERR_CONNECTION_CLOSED
   * after close or abort.
   */
  send(frame: Uint8Array): boolean
  /** Resolves once the outgoing buffer is below the high-water mark (at once if it already is). */
  onDrain(options?: AbortOptions): Promise<void>
  /** Bytes queued for sending and not yet handed to the OS. */
  readonly bufferedAmount: number
  /** Graceful close: queued frames are flushed, then both directions end. */
  close(options?: AbortOptions): Promise<void>
  /** Immediate close: queued frames are dropped; the reader ends with `err`. */
  abort(err: Error): void
  /** Settles when the connection is gone: with undefined after a clean close, or the error. */
  readonly closed: Promise<Error | undefined>
}

/** A listening endpoint. */
export interface Listener {
  /** The URL clients dial, with the real port when port 0 was asked for. */
  readonly url: string
  /** Stops accepting and closes every connection it accepted. */
  close(): Promise<void>
}

/** A transport handles one or more URL schemes. */
export interface Transport {
  /** URL schemes without the colon, e.g. `['ws', 'wss']`. */
  readonly schemes: readonly string[]
  /** Opens a connection to `url`; rejects with ERR_CONNECT_FAILED (or ERR_ABORTED). */
  connect(url: string, options?: AbortOptions): Promise<Connection>
  /** Listens on `url`, calling `onConnection` for each accepted connection. */
  listen(url: string, onConnection: (conn: Connection) => void, options?: AbortOptions): Promise<Listener>
}

/**
 * What a plugin or a built-in exports: a factory taking optional options named `…Init`.
 *
 * Without a type argument (`TransportFactory`, as `WwPlugin.transports` uses it) it is *any*
 * factory, whatever its `Init`: `myTransport(init?: MyTransportInit)` is assignable to it. The
 * parameter is `never` there because a function can only be used where every argument it may
 * receive fits its parameter; with `unknown` a factory declaring its own `Init` would not fit
 * under `strictFunctionTypes`. `TransportFactory<MyTransportInit>` is the factory called with
 * those options.
 */
export type TransportFactory<Init = never> = (init?: Init) => Transport
