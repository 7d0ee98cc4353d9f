/**
 * Heartbeat wire format and cadence (docs/design.md#records). A heartbeat is one MessagePack array,
 * versioned by its first element, published as the data of a signed gossipsub message:
 *
 *     [1, peer, server, seq, ttl, host, meta]            (no addresses)
 *     [1, peer, server, seq, ttl, host, meta, addrs]     (addrs: array of str)
 *
 * - `1`      format version (positive fixint). Any other version is rejected.
 * - `peer`   str: base58btc peer ID; must equal the gossipsub message's signing `from`.
 * - `server` uint (normally uint64): the 64 random bits of the instance, shown as 16 hex digits.
 * - `seq`    uint (normally uint64): the sender's clock in µs when it made the heartbeat (never
 *            decreasing), at most 2^53 - 1.
 * - `ttl`    uint: ms until the next heartbeat is due; 0 = leaving now.
 *
 * Integers are read whatever their MessagePack width (fixint … uint64, and integral float64,
 * which some encoders emit for large numbers); negative or fractional values are rejected.
 * - `host`   str: host name, may be empty.
 * - `meta`   array of str, flattened pairs `[k1, v1, k2, v2, …]`; keys unique.
 * - `addrs`  optional array of str: the sender's dialable multiaddrs, each ending in
 *            `/p2p/<peer>`, at most 8 of at most 256 bytes, each a valid multiaddr.
 *
 * Elements after `addrs` are ignored, so a later format can add fields that this version
 * reads past. (Nodes older than `addrs` accept only 7 elements.)
 *
 * Strings must be valid UTF-8. The whole payload is at most {@link MAX_HEARTBEAT_BYTES}.
 * Meta travels as a flat array rather than a map so that decoding is strict (no duplicate
 * or non-string keys silently folded by a map decoder) and the order is the sender's.
 * The full specification, with byte examples, is in docs/scaling.md ("Heartbeat format").
 */
import { Decoder, Encoder } from '@msgpack/msgpack'
import { multiaddr } from '@multiformats/multiaddr'
import { WwError } from '../errors.js'
import { LIMITS, RESERVED_META_KEY, validateRecord, type RoutingRecord } from '../record/record.js'

/** Largest heartbeat payload, in bytes; larger ones are rejected. @default 8192 */
export const MAX_HEARTBEAT_BYTES = 8192
/** Current heartbeat format version (first array element). */
export const HEARTBEAT_VERSION = 1

/** The payload is larger than {@link MAX_HEARTBEAT_BYTES} (on decode, or a record too large to send). */
export const ERR_HEARTBEAT_TOO_LARGE = 'ERR_HEARTBEAT_TOO_LARGE'
/** The payload is not a well-formed heartbeat: bad MessagePack, wrong shape or types, bad UTF-8. */
export const ERR_HEARTBEAT_MALFORMED = 'ERR_HEARTBEAT_MALFORMED'
/** The payload is a heartbeat of a version this node does not read. */
export const ERR_HEARTBEAT_VERSION = 'ERR_HEARTBEAT_VERSION'

const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: false })
// Strings are taken raw and decoded with a fatal UTF-8 decoder below: the MessagePack decoder
// would otherwise replace invalid sequences silently.
const decoder = new Decoder({
  useBigInt64: true,
  rawStrings: true,
  maxStrLength: MAX_HEARTBEAT_BYTES,
  maxBinLength: MAX_HEARTBEAT_BYTES,
  maxArrayLength: 2 * 64 + 8,
  maxMapLength: 0,
  maxExtLength: 0,
})
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const MAX_U64 = (1n << 64n) - 1n

/**
 * Encodes a record as a heartbeat. The record is validated first (RecordError on a bad one);
 * throws ERR_HEARTBEAT_TOO_LARGE when the result exceeds {@link MAX_HEARTBEAT_BYTES}.
 */
export function encodeHeartbeat(record: RoutingRecord): Uint8Array {
  const r = validateRecord(record)
  const meta: string[] = []
  for (const [k, v] of Object.entries(r.meta)) meta.push(k, v)
  const fields: unknown[] = [HEARTBEAT_VERSION, r.peer, BigInt(`0x${r.server}`), BigInt(r.seq), r.ttl, r.host, meta]
  if (r.addrs !== undefined) fields.push(r.addrs)
  const bytes = encoder.encode(fields)
  if (bytes.length > MAX_HEARTBEAT_BYTES) {
    throw new WwError(ERR_HEARTBEAT_TOO_LARGE, `heartbeat of ${bytes.length} bytes exceeds ${MAX_HEARTBEAT_BYTES} bytes: shorten host or meta`)
  }
  return bytes
}

/**
 * Decodes and validates a heartbeat payload. Returns a fresh record that passed
 * `validateRecord`. Throws WwError ERR_HEARTBEAT_TOO_LARGE / ERR_HEARTBEAT_MALFORMED /
 * ERR_HEARTBEAT_VERSION, or a RecordError (ERR_INVALID_RECORD) for a well-formed heartbeat
 * whose record breaks docs/design.md#records. Never throws anything else.
 */
export function decodeHeartbeat(bytes: Uint8Array): RoutingRecord {
  if (bytes.length > MAX_HEARTBEAT_BYTES) {
    throw new WwError(ERR_HEARTBEAT_TOO_LARGE, `heartbeat of ${bytes.length} bytes exceeds ${MAX_HEARTBEAT_BYTES} bytes`)
  }
  let value: unknown
  try {
    value = decoder.decode(bytes)
  } catch (err) {
    throw malformed(`not a single MessagePack value: ${(err as Error).message}`, err)
  }
  if (!Array.isArray(value) || value.length === 0) throw malformed('expected an array')
  if (value[0] !== HEARTBEAT_VERSION) {
    throw new WwError(ERR_HEARTBEAT_VERSION, `unsupported heartbeat version ${describe(value[0])}`)
  }
  if (value.length < 7) throw malformed(`expected at least 7 elements, got ${value.length}`)
  const [, peer, server, seq, ttl, host, meta, addrs] = value as unknown[]
  const record: Record<string, unknown> = {
    peer: str(peer, 'peer'),
    server: hex64(server),
    seq: uint(seq, 'seq'),
    ttl: uint(ttl, 'ttl'),
    host: str(host, 'host'),
    meta: metaMap(meta),
  }
  if (addrs !== undefined) record.addrs = addrList(addrs)
  return validateRecord(record)
}

function str(v: unknown, field: string): string {
  if (!(v instanceof Uint8Array)) throw malformed(`${field}: expected a string`)
  try {
    return utf8.decode(v)
  } catch (err) {
    throw malformed(`${field}: invalid UTF-8`, err)
  }
}

function uint(v: unknown, field: string): number {
  if (typeof v === 'bigint') {
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${field}: out of range`)
    return Number(v)
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(`${field}: expected an unsigned integer`)
  return v
}

function hex64(v: unknown): string {
  let n: bigint
  if (typeof v === 'bigint') n = v
  else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
  else throw malformed('server: expected an unsigned 64-bit integer')
  if (n < 0n || n > MAX_U64) throw malformed('server: out of range')
  return n.toString(16).padStart(16, '0')
}

function metaMap(v: unknown): Record<string, string> {
  if (!Array.isArray(v)) throw malformed('meta: expected an array of key, value strings')
  if (v.length % 2 !== 0) throw malformed('meta: odd number of elements')
  const out: Record<string, string> = {}
  for (let i = 0; i < v.length; i += 2) {
    const key = str(v[i], 'meta key')
    const val = str(v[i + 1], `meta.${key}`)
    if (Object.prototype.hasOwnProperty.call(out, key)) throw malformed(`meta: duplicate key '${key}'`)
    // Refused here, before the assignment below could set the map's prototype instead.
    if (key === RESERVED_META_KEY) throw malformed(`meta: key '${key}' is reserved`)
    out[key] = val
  }
  return out
}

function addrList(v: unknown): string[] {
  if (!Array.isArray(v)) throw malformed('addrs: expected an array of strings')
  if (v.length > LIMITS.addrs) throw malformed(`addrs: more than ${LIMITS.addrs} addresses`)
  const out: string[] = []
  for (const a of v) {
    // The bound is on the encoded bytes, as validateRecord counts it: a string's .length
    // counts UTF-16 units, so 200 two-byte characters would pass it and reach multiaddr().
    if (a instanceof Uint8Array && a.length > LIMITS.addrBytes) throw malformed(`addrs: an address longer than ${LIMITS.addrBytes} bytes`)
    const text = str(a, 'addrs')
    try {
      multiaddr(text)
    } catch (err) {
      throw malformed(`addrs: '${text.slice(0, 64)}' is not a multiaddr`, err)
    }
    out.push(text)
  }
  return out
}

function malformed(message: string, cause?: unknown): WwError {
  return new WwError(ERR_HEARTBEAT_MALFORMED, `malformed heartbeat: ${message}`, cause === undefined ? undefined : { cause })
}

function describe(v: unknown): string {
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : typeof v
}

/**
 * Delay before the next regular heartbeat: uniformly jittered in [ttl/4, ttl/2], so one lost
 * heartbeat never expires a live peer and nodes started together drift apart.
 * @param random source in [0, 1). @default Math.random
 */
export function nextHeartbeatDelay(ttl: number, random: () => number = Math.random): number {
  return Math.round(ttl / 4 + random() * (ttl / 4))
}

/** 16 lowercase hex digits of fresh randomness: an instance's `server` (docs/design.md#records). */
export function newServerId(): string {
  const b = new Uint8Array(8)
  crypto.getRandomValues(b)
  return Buffer.from(b).toString('hex')
}

/**
 * The wall clock in whole microseconds since the Unix epoch: `Date.now()`, the clock NTP
 * keeps right and receivers compare seq with, its microseconds taken from the monotonic
 * clock's fraction of a millisecond. Not `performance.timeOrigin + performance.now()`: that
 * is the wall clock at process start plus monotonic time, which drifts from the wall clock
 * (21 ms seen in a test run) and stops while the host is suspended, so a node that slept
 * longer than ttl plus the skew bound would have every heartbeat ignored as a replay.
 */
export function wallMicros(): number {
  return Date.now() * 1000 + Math.floor((performance.now() % 1) * 1000)
}

/**
 * The sequence numbers of one process: the sender's wall clock in microseconds, and never
 * less than one more than the last number handed out. So seq says when a heartbeat was made
 * (receivers check that against their own clock: see docs/design.md, "Membership"), a
 * restarted instance outranks every record of its previous life, and a clock stepped back
 * never makes seq go backwards.
 */
export class SeqClock {
  private value: number
  readonly #clock: () => number

  /** @param clock the time in µs. @default wallMicros */
  constructor(clock: () => number = wallMicros) {
    this.#clock = clock
    this.value = Math.floor(clock()) - 1
  }

  /** The next sequence number: the clock's time, or the last number plus one if that is larger. */
  next(): number {
    this.value = Math.max(this.value + 1, Math.floor(this.#clock()))
    return this.value
  }

  /** The last number handed out (before the first call: the start time minus one). */
  get current(): number {
    return this.value
  }
}
