/**
 * State sync on join (push/pull): when two nodes connect, each pulls the other's table over a
 * libp2p stream of its namespace's protocol ({@link syncProtocol}), so a joining node lists the whole cluster
 * within about one round trip instead of waiting up to TTL/2 for each peer's next heartbeat.
 *
 * Wire. The puller opens the stream (after identify shows the peer speaks the protocol) and
 * sends one byte, `0x01` (the request of this version); the server writes one MessagePack array of signed heartbeats, each
 * `[from, seqno, data, signature, age]` (see SyncFrame in membership.ts): every live record
 * of its table as the original signed gossip message it came in, and its own record signed
 * with its key; `age` is how many ms ago the server received that heartbeat (0 for its own),
 * and the puller lets the record live `ttl − age` more, so a dead peer's last heartbeat
 * can't be handed on from node to node past its ttl. Then it closes the stream.
 *
 * Trust. Nothing is taken on the server's word: each heartbeat's signature is checked as
 * gossipsub checks it, then the heartbeat topic validator runs on it (freshness, ttl cap,
 * peer = signer, versions). A server that sends anything unsigned, altered or malformed, or
 * more than the bounds, is hung up on, the sync counts it (`stats.refused`), and `punish`
 * (the node's ScoreGuard, src/cluster/scoring.ts) scores it down in gossipsub and refuses it.
 * A body that is only cut short is not malformed: a connection closed gracefully while the
 * table was on its way (the mesh keeper hanging up, the server stopping) ends the stream as if
 * it were complete. Such a pull counts as failed (`stats.failed`) and nobody is punished for
 * the cut; the frames before it are checked one by one all the same, so a forged one there is
 * refused. (Punishing the cut banned honest peers for an hour, and a 64-node cold start fell
 * apart into nodes refusing one another.)
 *
 * Namespaces. Nodes of different namespaces may share connections (src/node/node.ts), and a
 * heartbeat's signature covers its namespace's topic: another namespace's table would fail
 * every check here and get an honest peer punished. So the protocol ID carries the namespace
 * (`/ww/NS/sync/1.0.0`, beside the topic `/ww/NS/heartbeat`), and a node only pulls from
 * peers that speak its own.
 *
 * Stalls. A record that expires while its peer is still connected means heartbeats stopped
 * flowing over a connection that stayed open: the peer was frozen or cut off, or this node's
 * own event loop stood still (a stopped or starved process wakes to find every record
 * expired). Such a peer's table is pulled again at once (the rate limit still applies): when
 * this node is the one that stalled, its first pull brings back the whole cluster, instead of
 * a record at a time as each peer's next heartbeat happens to reach it. One such pull runs at
 * a time: a node that stood still finds every connected peer expired in the same sweep, and
 * one table relists them all where a pull from each would fetch it C times. A peer that died
 * closes its connections, so an ordinary expiry pulls nothing.
 *
 * Bounds. At most {@link SYNC_MAX_RECORDS} heartbeats and {@link SYNC_MAX_BYTES} bytes per
 * stream, each heartbeat ≤ 8 KiB; a node serves one sync per peer per
 * {@link SYNC_MIN_INTERVAL} ms (a second stream within that is reset) and pulls from a peer at
 * most as often. A pull is bounded by {@link SYNC_TIMEOUT} ms.
 */
import { Decoder, Encoder } from '@msgpack/msgpack'
import { byteStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Connection, IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Membership } from './membership.js'
import type { RoutingTable } from '../table/table.js'
import type { TableChange } from '../table/events.js'
import { MAX_HEARTBEAT_BYTES } from './heartbeat.js'
import { silentLogger, type Logger } from './options.js'
import { readArrayHead } from '../msgpack-head.js'

/** The libp2p protocol of state sync in namespace `ns`: `/ww/NS/sync/1.0.0`. */
export function syncProtocol(ns: string): string {
  return `/ww/${ns}/sync/1.0.0`
}
/** The one request of version 1: "send me your table". */
const SYNC_REQUEST = 1
/** Most heartbeats in one sync stream. @default 100_000 */
export const SYNC_MAX_RECORDS = 100_000
/** Most bytes in one sync stream. @default 64 MiB */
export const SYNC_MAX_BYTES = 64 * 1024 * 1024
/** Least time between two syncs with one peer, each way, in ms. @default 2000 */
export const SYNC_MIN_INTERVAL = 2000
/** Bound on one pull, in ms. @default 10_000 */
export const SYNC_TIMEOUT = 10_000

/** Options of {@link Sync}. */
export interface SyncInit {
  /** The node's libp2p host. */
  libp2p: Libp2p
  /** Where records come from and go to. */
  membership: Membership
  /** The namespace (as the membership's): only peers of the same one are pulled from. */
  ns: string
  /** Reports refused peers. @default silentLogger */
  logger?: Logger
  /**
   * Called first for a peer refused for what its sync stream carried (e.g. ScoreGuard.punish:
   * score it down and refuse its connections); the sync then hangs up on it.
   * @default none (only the hang-up)
   */
  punish?: (peer: PeerId, why: string) => void
  /**
   * Called after each completed pull that put heartbeats into the table, with how many (e.g.
   * Mesh.nudge: a newcomer's table has grown, so it can pick neighbours now).
   * @default none
   */
  onPulled?: (peer: PeerId, accepted: number) => void
  /**
   * The routing table whose expiries of connected peers trigger a pull (see "Stalls").
   * @default none (pulls follow identify only)
   */
  table?: RoutingTable
  /** Most heartbeats per stream. @default SYNC_MAX_RECORDS */
  maxRecords?: number
  /** Most bytes per stream. @default SYNC_MAX_BYTES */
  maxBytes?: number
}

/** Counters of state sync. */
export interface SyncStats {
  /** Pulls completed. */
  pulled: number
  /** Heartbeats received that went into the table. */
  accepted: number
  /** Syncs served. */
  served: number
  /** Syncs refused to a peer asking too often. */
  limited: number
  /** Peers hung up on for an unsigned, altered, malformed or oversized sync. */
  refused: number
  /** Pulls that ended without a table and without blame: the peer went away, timed out, or its body was cut short. */
  failed: number
  /** Bytes of sync streams received by completed pulls (the MessagePack body, no framing). */
  bytesPulled: number
  /** Bytes of sync streams served (the MessagePack body, no framing). */
  bytesServed: number
}

const encoder = new Encoder()

/** Serves and pulls state sync; `start()`, then `stop()`. */
export class Sync {
  /** Counters; read-only for callers. */
  readonly stats: SyncStats = { pulled: 0, accepted: 0, served: 0, limited: 0, refused: 0, failed: 0, bytesPulled: 0, bytesServed: 0 }
  readonly #libp2p: Libp2p
  readonly #membership: Membership
  readonly #protocol: string
  readonly #log: Logger
  readonly #punish: ((peer: PeerId, why: string) => void) | undefined
  readonly #onPulled: ((peer: PeerId, accepted: number) => void) | undefined
  readonly #table: RoutingTable | undefined
  readonly #maxRecords: number
  readonly #maxBytes: number
  readonly #decoder: Decoder
  readonly #served = new Map<string, number>()
  readonly #pulled = new Map<string, number>()
  readonly #abort = new AbortController()
  #running = false

  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(this.#protocol)) void this.pull(evt.detail.peerId)
  }

  // The pull a stall started (see "Stalls"), while it runs.
  #stallPull: Promise<void> | undefined

  readonly #onChange = (c: TableChange): void => {
    if (c.kind !== 'expired' || this.#stallPull !== undefined) return
    let peer: PeerId
    try {
      peer = peerIdFromString(c.record.peer)
    } catch {
      return
    }
    if (this.#libp2p.getConnections(peer).length > 0) {
      this.#stallPull = this.pull(peer).finally(() => {
        this.#stallPull = undefined
      })
    }
  }

  constructor(init: SyncInit) {
    this.#libp2p = init.libp2p
    this.#membership = init.membership
    this.#protocol = syncProtocol(init.ns)
    this.#log = init.logger ?? silentLogger
    this.#punish = init.punish
    this.#onPulled = init.onPulled
    this.#table = init.table
    this.#maxRecords = init.maxRecords ?? SYNC_MAX_RECORDS
    this.#maxBytes = init.maxBytes ?? SYNC_MAX_BYTES
    this.#decoder = new Decoder({ maxArrayLength: this.#maxRecords, maxBinLength: MAX_HEARTBEAT_BYTES, maxStrLength: 128, maxMapLength: 0, maxExtLength: 0 })
  }

  /** Serves the protocol and pulls from every peer that identifies as speaking it. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    await this.#libp2p.handle(this.#protocol, this.#serve, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    this.#libp2p.addEventListener('peer:identify', this.#onIdentify)
    this.#table?.on('change', this.#onChange)
  }

  /** Stops serving and pulling. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#abort.abort()
    this.#libp2p.removeEventListener('peer:identify', this.#onIdentify)
    this.#table?.off('change', this.#onChange)
    await this.#libp2p.unhandle(this.#protocol).catch(() => {})
  }

  /** Pulls `peer`'s table now (unless pulled within SYNC_MIN_INTERVAL). Never rejects. */
  async pull(peer: PeerId): Promise<void> {
    const id = peer.toString()
    if (!this.#running || !this.#due(this.#pulled, id)) return
    let stream: Stream | undefined
    try {
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(SYNC_TIMEOUT)])
      stream = await this.#libp2p.dialProtocol(peer, this.#protocol, { signal })
      // The request: one byte, the version. (It also completes the protocol negotiation,
      // which libp2p sends lazily with the dialer's first write.)
      stream.send(Uint8Array.of(SYNC_REQUEST))
      let body: Uint8Array
      try {
        body = await readAll(stream, this.#maxBytes, signal)
      } catch (err) {
        if (err instanceof TooLarge) return await this.#refuse(peer, stream, `more than ${this.#maxBytes} bytes`)
        throw err
      }
      // The body is one MessagePack array of frames. Its header is read here and the frames
      // one at a time, each checked as it comes: a body cut short (see "Trust" above) still
      // has every frame before the cut checked, so a forged one there is refused as in a
      // whole body, and the cut alone fails the pull. Bytes after the last frame are malformed.
      const head = readArrayHead(body)
      if (head === 'short') throw new Error('sync body cut short')
      if (head === undefined) return await this.#refuse(peer, stream, 'not an array')
      if (head.count > this.#maxRecords) return await this.#refuse(peer, stream, `more than ${this.#maxRecords} heartbeats`)
      let taken = 0
      let accepted = 0
      try {
        for (const f of this.#decoder.decodeMulti(body.subarray(head.at))) {
          if (taken === head.count) return await this.#refuse(peer, stream, 'bytes after the last heartbeat')
          taken++
          const verdict = await this.#membership.offerFrame(f)
          if (verdict === TopicValidatorResult.Reject) return await this.#refuse(peer, stream, 'an unsigned, altered or invalid heartbeat')
          if (verdict === TopicValidatorResult.Accept) {
            accepted++
            this.stats.accepted++
          }
        }
      } catch (err) {
        // The decoder runs out of input (a RangeError) only where the body was cut short.
        if (err instanceof RangeError) throw err
        return await this.#refuse(peer, stream, `not MessagePack within the bounds (${(err as Error).message})`)
      }
      if (taken < head.count) throw new Error('sync body cut short')
      this.stats.pulled++
      this.stats.bytesPulled += body.length
      if (accepted > 0) this.#onPulled?.(peer, accepted)
    } catch {
      // The peer went away, timed out, or its body was cut short: heartbeats will still bring its records.
      this.stats.failed++
      stream?.abort(new Error('sync failed'))
    }
  }

  readonly #serve = async (stream: Stream, connection: Connection): Promise<void> => {
    const id = connection.remotePeer.toString()
    if (!this.#due(this.#served, id)) {
      this.stats.limited++
      stream.abort(new Error('sync rate limit'))
      return
    }
    try {
      const request = await byteStream(stream).read({ bytes: 1, signal: AbortSignal.timeout(SYNC_TIMEOUT) })
      if (request.get(0) !== SYNC_REQUEST) throw new Error('unknown sync request')
      const frames = await this.#membership.signedFrames(this.#maxRecords)
      const payload = encoder.encode(frames)
      if (payload.length > this.#maxBytes) throw new Error('table larger than a sync stream may carry')
      if (!stream.send(payload)) await stream.onDrain({ signal: AbortSignal.timeout(SYNC_TIMEOUT) })
      await stream.close({ signal: AbortSignal.timeout(SYNC_TIMEOUT) })
      this.stats.served++
      this.stats.bytesServed += payload.length
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  async #refuse(peer: PeerId, stream: Stream, why: string): Promise<void> {
    this.stats.refused++
    stream.abort(new Error(`sync refused: ${why}`))
    if (this.#punish !== undefined) this.#punish(peer, `sent ${why} in state sync`)
    else this.#log.warn(`peer ${peer.toString()} sent ${why} in state sync; disconnected`)
    await this.#libp2p.hangUp(peer).catch(() => {})
  }

  // True (and noted) when the last sync with `id` in `seen` is SYNC_MIN_INTERVAL old.
  #due(seen: Map<string, number>, id: string): boolean {
    const now = performance.now()
    const last = seen.get(id)
    if (last !== undefined && now - last < SYNC_MIN_INTERVAL) return false
    seen.set(id, now)
    if (seen.size > 4096) for (const [k, t] of seen) if (now - t >= SYNC_MIN_INTERVAL) seen.delete(k)
    return true
  }
}

class TooLarge extends Error {}

// Everything the remote writes until it closes its end, at most `max` bytes (byteStream
// buffers from the moment it wraps the stream, so bytes that came with the protocol
// negotiation are not lost).
async function readAll(stream: Stream, max: number, signal: AbortSignal): Promise<Uint8Array> {
  const bytes = byteStream(stream)
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const chunk = await bytes.read({ signal })
    if (chunk === null) return Buffer.concat(chunks)
    total += chunk.byteLength
    if (total > max) throw new TooLarge()
    chunks.push(chunk.subarray())
  }
}
