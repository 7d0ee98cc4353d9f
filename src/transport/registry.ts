/**
 * Transports by URL scheme. The node and the client dial and listen through a registry, so a
 * plugin adds a scheme by registering its transport; nothing else changes.
 */
import { ERR_DUPLICATE_SCHEME, ERR_UNSUPPORTED_SCHEME, parseUrl, transportError } from './errors.js'
import { memoryTransport, type MemoryTransportInit } from './memory.js'
import type { AbortOptions, Connection, Listener, Transport } from './types.js'
import { webSockets, type WebSocketsInit } from './ws.js'

/** Options of `register`. */
export interface RegisterOptions {
  /**
   * Replace a transport already registered for one of the schemes instead of failing.
   * @default false
   */
  replace?: boolean
}

/** A set of transports, looked up by URL scheme. */
export class TransportRegistry {
  readonly #byScheme = new Map<string, Transport>()

  /** Registered schemes, sorted. */
  get schemes(): string[] {
    return [...this.#byScheme.keys()].sort()
  }

  /**
   * Adds a transport under each of its schemes. Throws ERR_DUPLICATE_SCHEME if one is taken
   * (unless `replace`), and a TypeError for a malformed scheme.
   */
  register(transport: Transport, options: RegisterOptions = {}): this {
    const schemes = transport.schemes.map(normalize)
    if (schemes.length === 0) throw new TypeError('a transport must declare at least one scheme')
    for (const s of schemes) {
      if (!/^[a-z][a-z0-9+.-]*$/.test(s)) throw new TypeError(`invalid URL scheme ${JSON.stringify(s)}`)
      if (options.replace !== true && this.#byScheme.has(s)) {
        throw transportError(ERR_DUPLICATE_SCHEME, `a transport for ${s}:// is already registered`)
      }
    }
    for (const s of schemes) this.#byScheme.set(s, transport)
    return this
  }

  /** The transport for `scheme` (with or without the trailing colon), if any. */
  get(scheme: string): Transport | undefined {
    return this.#byScheme.get(normalize(scheme))
  }

  /**
   * The transport for `url`'s scheme. Throws ERR_INVALID_URL for a malformed URL and
   * ERR_UNSUPPORTED_SCHEME (listing the known schemes) when none handles it.
   */
  for(url: string): Transport {
    const scheme = normalize(parseUrl(url).protocol)
    const t = this.#byScheme.get(scheme)
    if (t === undefined) {
      const known = this.schemes.map((s) => `${s}://`).join(', ')
      throw transportError(ERR_UNSUPPORTED_SCHEME, `no transport for ${scheme}:// URLs (known: ${known === '' ? 'none' : known})`)
    }
    return t
  }

  /** Dials `url` with the transport for its scheme. */
  connect(url: string, options?: AbortOptions): Promise<Connection> {
    try {
      return this.for(url).connect(url, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Listens on `url` with the transport for its scheme. */
  listen(url: string, onConnection: (conn: Connection) => void, options?: AbortOptions): Promise<Listener> {
    try {
      return this.for(url).listen(url, onConnection, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

function normalize(scheme: string): string {
  return scheme.toLowerCase().replace(/:$/, '')
}

/** Options of `defaultTransports`. */
export interface DefaultTransportsInit {
  /** Options of the WebSocket transport. @default {} */
  ws?: WebSocketsInit
  /** Options of the memory transport. @default {} */
  memory?: MemoryTransportInit
}

/** A registry holding the built-ins: `ws`, `wss` (WebSocket) and `memory`. */
export function defaultTransports(init: DefaultTransportsInit = {}): TransportRegistry {
  return new TransportRegistry().register(webSockets(init.ws)).register(memoryTransport(init.memory))
}
