/**
 * The routing record (docs/design.md#records) and its validation. A record is the unit of membership:
 * what a heartbeat carries, what the table stores and what a query yields.
 */
import { WwError } from '../errors.js'

/** One peer's latest heartbeat, as stored and as yielded by queries. */
export interface RoutingRecord {
  /** libp2p peer ID, base58btc text (`12D3KooW…`). */
  peer: string
  /** 16 lowercase hex digits, random per process start. */
  server: string
  /** Version: the sender's clock in µs when it made the record (never decreasing); a safe non-negative integer. */
  seq: number
  /** Milliseconds within which the next heartbeat is due; 0 means "leaving now". */
  ttl: number
  /** Host name; may be empty (then absent from the host index). */
  host: string
  /** key → value; keys non-empty, without `=`, and never {@link RESERVED_META_KEY}. */
  meta: Record<string, string>
  /**
   * Where the peer can be dialled: full libp2p multiaddrs, each ending in `/p2p/<peer>`, at
   * most {@link LIMITS}.addrs of at most {@link LIMITS}.addrBytes each. Absent (never empty)
   * when the peer announced none. Not part of `meta`: not indexed, not queried.
   */
  addrs?: string[]
}

/** A record was refused: `field` names the part of it that broke the rules of docs/design.md#records. */
export const ERR_INVALID_RECORD = 'ERR_INVALID_RECORD'

export class RecordError extends WwError {
  /** Which field broke the rules: peer, server, seq, ttl, host, meta, meta.KEY. */
  readonly field: string
  constructor(field: string, message: string) {
    super(ERR_INVALID_RECORD, `invalid record: ${field}: ${message}`)
    this.name = 'RecordError'
    this.field = field
  }
}

/**
 * The one meta key a record may not carry. Records cross the client protocol as MessagePack
 * maps, and common decoders refuse a map key `__proto__` (ours, @msgpack/msgpack, throws on
 * it) or treat it as the object's prototype: one peer announcing it would make every listing
 * that includes it unreadable. So it is refused where a record is made or received.
 */
export const RESERVED_META_KEY = '__proto__'

/** Limits of a record (docs/design.md#records), in UTF-8 bytes. */
export const LIMITS = {
  /** Longest host name. @default 255 */
  hostBytes: 255,
  /** Most meta entries per record. @default 64 */
  metaEntries: 64,
  /** Longest meta key. @default 128 */
  metaKeyBytes: 128,
  /** Longest meta value. @default 1024 */
  metaValueBytes: 1024,
  /** Longest peer ID text. @default 128 */
  peerChars: 128,
  /** Longest TTL: one day. @default 86_400_000 */
  ttlMs: 86_400_000,
  /** Most addresses per record. @default 8 */
  addrs: 8,
  /** Longest address, in bytes of its text. @default 256 */
  addrBytes: 256,
} as const

const BASE58 = /^[1-9A-HJ-NP-Za-km-z]+$/
const SERVER = /^[0-9a-f]{16}$/

/**
 * Checks `value` against docs/design.md#records and returns a fresh, plain `RoutingRecord` that shares nothing
 * mutable with the input (meta copied into a new plain object). Throws a
 * `RecordError` naming the first bad field; nothing partial is ever returned.
 */
export function validateRecord(value: unknown): RoutingRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordError('record', 'expected an object')
  }
  const v = value as Record<string, unknown>
  const { peer, server, seq, ttl, host, meta, addrs } = v
  if (typeof peer !== 'string' || peer.length === 0 || peer.length > LIMITS.peerChars || !BASE58.test(peer)) {
    throw new RecordError('peer', 'expected a base58btc peer ID')
  }
  if (typeof server !== 'string' || !SERVER.test(server)) {
    throw new RecordError('server', 'expected 16 lowercase hex digits')
  }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new RecordError('seq', 'expected a safe non-negative integer')
  }
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0 || ttl > LIMITS.ttlMs) {
    throw new RecordError('ttl', `expected whole milliseconds from 0 to ${LIMITS.ttlMs}`)
  }
  if (typeof host !== 'string' || tooLong(host, LIMITS.hostBytes)) {
    throw new RecordError('host', `expected a string of at most ${LIMITS.hostBytes} bytes`)
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || meta instanceof Map) {
    throw new RecordError('meta', 'expected a map of strings')
  }
  const out: Record<string, string> = {}
  let n = 0
  for (const key of Object.keys(meta)) {
    const val = (meta as Record<string, unknown>)[key]
    if (++n > LIMITS.metaEntries) throw new RecordError('meta', `more than ${LIMITS.metaEntries} entries`)
    if (key.length === 0) throw new RecordError('meta', 'empty key')
    if (key.includes('=')) throw new RecordError(`meta.${key}`, "key contains '='")
    if (key === RESERVED_META_KEY) throw new RecordError(`meta.${key}`, 'key is reserved (MessagePack and JSON decoders refuse or misread it)')
    if (tooLong(key, LIMITS.metaKeyBytes)) throw new RecordError(`meta.${key.slice(0, 32)}`, `key longer than ${LIMITS.metaKeyBytes} bytes`)
    if (typeof val !== 'string') throw new RecordError(`meta.${key}`, 'value is not a string')
    if (tooLong(val, LIMITS.metaValueBytes)) throw new RecordError(`meta.${key}`, `value longer than ${LIMITS.metaValueBytes} bytes`)
    out[key] = val
  }
  if (addrs === undefined) return { peer, server, seq, ttl, host, meta: out }
  if (!Array.isArray(addrs)) throw new RecordError('addrs', 'expected an array of multiaddr strings')
  if (addrs.length > LIMITS.addrs) throw new RecordError('addrs', `more than ${LIMITS.addrs} addresses`)
  const suffix = `/p2p/${peer}`
  const list: string[] = []
  for (const a of addrs as unknown[]) {
    if (typeof a !== 'string' || a[0] !== '/' || tooLong(a, LIMITS.addrBytes) || /\s/.test(a)) {
      throw new RecordError('addrs', `expected multiaddr strings of at most ${LIMITS.addrBytes} bytes`)
    }
    if (!a.endsWith(suffix)) throw new RecordError('addrs', `every address must end in /p2p/<the record's peer>`)
    list.push(a)
  }
  return list.length === 0 ? { peer, server, seq, ttl, host, meta: out } : { peer, server, seq, ttl, host, meta: out, addrs: list }
}

/**
 * Replacement order (docs/design.md#routing-table): negative when `a` is older than `b`, positive when newer, 0 when
 * `(seq, server)` are equal (a duplicate). Servers are fixed-width hex, so string order is
 * numeric order.
 */
export function compareVersion(a: Pick<RoutingRecord, 'seq' | 'server'>, b: Pick<RoutingRecord, 'seq' | 'server'>): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  return a.server < b.server ? -1 : a.server > b.server ? 1 : 0
}

// A UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair, 2 units, is 4 bytes), so a
// string with length * 3 ≤ limit can't exceed it: only longer strings are measured.
function tooLong(s: string, limit: number): boolean {
  return s.length * 3 > limit && Buffer.byteLength(s, 'utf8') > limit
}
