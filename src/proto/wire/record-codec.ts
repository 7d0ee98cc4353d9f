/**
 * A MessagePack encoder specialised for RoutingRecord, and the client's shape check.
 *
 * Streaming a table is dominated by encoding records; the generic encoder walks each object
 * and its keys. This one writes the fixed layout directly (keys as constant bytes, ASCII
 * strings byte by byte, others through Buffer), producing exactly the bytes the generic
 * encoder does for the same record — a client can't tell them apart (the codec test checks
 * equality against @msgpack/msgpack).
 *
 * The client's side has the same two forms: `decodeRecord` checks a record the generic
 * MessagePack decoder built, and `decodeRecordItems` reads the records of a `batch` frame
 * straight from its bytes, checking each field as it goes (one pass: no generic decode, then
 * a second pass over the objects). Both apply the same checks (RECORD_BOUNDS).
 */
import { isUtf8 } from 'node:buffer'
import { WwError } from '../../errors.js'
import { LIMITS, RESERVED_META_KEY, type RoutingRecord } from '../../record/record.js'
import { type ByteSink, ERR_BAD_FRAME } from './frames.js'

// Buffer's own UTF-8 writer (node's binding, without `write()`'s argument juggling): returns
// the bytes written, never splitting a char.
type Scratch = Buffer & { utf8Write(s: string, offset: number): number }

const scratch: ByteSink = { buf: Buffer.allocUnsafe(64 * 1024), len: 0 }
// The buffer being written and the write position: the scratch buffer, or a batch's buffer
// (writeRecord), for the span of one synchronous call.
let buf = scratch.buf as Scratch
let pos = 0

function ensure(n: number): void {
  if (pos + n <= buf.length) return
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n)) as Scratch
  buf.copy(next, 0, 0, pos)
  buf = next
}

// The fixed keys, header byte included. Written by an indexed loop: for a handful of bytes
// that beats any native copy (each native call costs more than the bytes it moves).
function key(s: string): Uint8Array {
  return Uint8Array.from([0xa0 | s.length, ...Array.from(s, (c) => c.charCodeAt(0))])
}
const K_PEER = key('peer')
const K_SERVER = key('server')
const K_SEQ = key('seq')
const K_TTL = key('ttl')
const K_HOST = key('host')
const K_META = key('meta')
const K_ADDRS = key('addrs')

function bytes(k: Uint8Array): void {
  const n = k.length
  ensure(n)
  const b = buf
  const p = pos
  for (let i = 0; i < n; i++) b[p + i] = k[i]!
  pos = p + n
}

function str(s: string): void {
  const n = s.length
  if (n < 16) {
    // Short strings (tags, hex ids): a JS loop with no native call, ASCII only; a char
    // ≥ 0x80 falls back to the UTF-8 path below, which rewrites from the same start.
    ensure(1 + n)
    const b = buf
    const p = pos + 1
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) break
      b[p + i] = c
    }
    if (i === n) {
      b[pos] = 0xa0 | n
      pos = p + n
      return
    }
  } else if (n < 256) {
    // Longer ones in one native write, after a header guessed from the char count (the
    // byte length is at least that): right unless multi-byte chars push the length into
    // the next header size, which the UTF-8 path below then redoes.
    const head = n < 32 ? 1 : 2
    ensure(head + 3 * n)
    const w = buf.utf8Write(s, pos + head)
    if (head === 1 && w < 32) {
      buf[pos] = 0xa0 | w
      pos += 1 + w
      return
    }
    if (head === 2 && w < 0x100) {
      buf[pos] = 0xd9
      buf[pos + 1] = w
      pos += 2 + w
      return
    }
  }
  const len = Buffer.byteLength(s, 'utf8')
  ensure(5 + len)
  if (len < 32) buf[pos++] = 0xa0 | len
  else if (len < 0x100) {
    buf[pos++] = 0xd9
    buf[pos++] = len
  } else if (len < 0x10000) {
    buf[pos++] = 0xda
    buf[pos++] = len >>> 8
    buf[pos++] = len & 0xff
  } else {
    buf[pos++] = 0xdb
    be32(len)
  }
  pos += buf.write(s, pos, 'utf8')
}

function be32(v: number): void {
  const b = buf
  const p = pos
  b[p] = v >>> 24
  b[p + 1] = (v >>> 16) & 0xff
  b[p + 2] = (v >>> 8) & 0xff
  b[p + 3] = v & 0xff
  pos = p + 4
}

// Non-negative safe integers, as @msgpack/msgpack writes them.
function uint(v: number): void {
  ensure(9)
  if (v < 0x80) buf[pos++] = v
  else if (v < 0x100) {
    buf[pos++] = 0xcc
    buf[pos++] = v
  } else if (v < 0x10000) {
    buf[pos++] = 0xcd
    buf[pos++] = v >>> 8
    buf[pos++] = v & 0xff
  } else if (v < 0x1_0000_0000) {
    buf[pos++] = 0xce
    be32(v >>> 0)
  } else {
    buf[pos++] = 0xcf
    be32(Math.floor(v / 0x1_0000_0000))
    be32(v >>> 0)
  }
}

function mapHeader(n: number): void {
  ensure(5)
  if (n < 16) buf[pos++] = 0x80 | n
  else if (n < 0x10000) {
    buf[pos++] = 0xde
    buf[pos++] = n >>> 8
    buf[pos++] = n & 0xff
  } else {
    buf[pos++] = 0xdf
    be32(n)
  }
}

/**
 * Encodes a (valid) record as the MessagePack map {peer, server, seq, ttl, host, meta}, plus
 * `addrs` (an array of strings) when the record has addresses. The
 * bytes are a view of a scratch buffer, valid until the next call: copy them to keep them.
 */
export function encodeRecord(r: RoutingRecord): Uint8Array {
  scratch.len = 0
  writeRecord(r, scratch)
  return scratch.buf.subarray(0, scratch.len)
}

/** Appends the bytes `encodeRecord` would return to `out`, in place (an ItemWriter). */
export function writeRecord(r: RoutingRecord, out: ByteSink): void {
  buf = out.buf as Scratch
  pos = out.len
  const addrs = r.addrs
  ensure(1)
  buf[pos++] = addrs === undefined ? 0x86 : 0x87
  bytes(K_PEER)
  str(r.peer)
  bytes(K_SERVER)
  str(r.server)
  bytes(K_SEQ)
  uint(r.seq)
  bytes(K_TTL)
  uint(r.ttl)
  bytes(K_HOST)
  str(r.host)
  bytes(K_META)
  const meta = r.meta
  const keys = Object.keys(meta)
  mapHeader(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    str(k)
    str(meta[k]!)
  }
  if (addrs !== undefined) {
    bytes(K_ADDRS)
    ensure(1)
    // At most LIMITS.addrs (8) entries: always a fixarray.
    buf[pos++] = 0x90 | addrs.length
    for (let i = 0; i < addrs.length; i++) str(addrs[i]!)
  }
  out.buf = buf
  out.len = pos
  // Don't keep a stream's batch buffer alive after its stream is gone.
  buf = scratch.buf as Scratch
}

/** Appends a MessagePack uint (`v` a safe non-negative integer) to `out`, in place. */
export function writeUint(v: number, out: ByteSink): void {
  buf = out.buf as Scratch
  pos = out.len
  uint(v)
  out.buf = buf
  out.len = pos
  buf = scratch.buf as Scratch
}

function isStr(v: unknown): v is string {
  return typeof v === 'string'
}

function badRecord(what: string): WwError {
  return new WwError(ERR_BAD_FRAME, `the node sent a record whose ${what}`)
}

// A UTF-16 code unit is at most 3 UTF-8 bytes: only strings that could be too long are measured.
function tooLong(s: string, limit: number): boolean {
  return s.length * 3 > limit && Buffer.byteLength(s, 'utf8') > limit
}

/**
 * What the client checks of every field of every record it receives (the shape and the
 * bounds of docs/design.md#records; the node enforced the finer rules, base58 and hex
 * digits, when it took the record in): peer 1–128 chars, server 16 chars, seq a safe
 * integer ≥ 0, ttl whole ms up to a day, host ≤ 255 bytes, meta at most 64 entries of keys
 * 1–128 bytes without `=` and values ≤ 1024 bytes, addrs at most 8 strings of ≤ 256 bytes.
 */
export const RECORD_BOUNDS = { serverChars: 16, ...LIMITS } as const

/**
 * The client's check of a record the generic decoder built: every field of RECORD_BOUNDS.
 * Throws ERR_BAD_FRAME. Keys a later node may add are passed through.
 */
export function decodeRecord(v: unknown): RoutingRecord {
  const r = v as Record<string, unknown> | null
  if (
    typeof r !== 'object' ||
    r === null ||
    !isStr(r.peer) ||
    !isStr(r.server) ||
    typeof r.seq !== 'number' ||
    typeof r.ttl !== 'number' ||
    !isStr(r.host) ||
    typeof r.meta !== 'object' ||
    r.meta === null ||
    Array.isArray(r.meta)
  ) {
    throw new WwError(ERR_BAD_FRAME, 'the node sent something that is not a routing record')
  }
  if (r.peer.length === 0 || r.peer.length > LIMITS.peerChars) throw badRecord(`peer is not 1 to ${LIMITS.peerChars} characters`)
  if (r.server.length !== RECORD_BOUNDS.serverChars) throw badRecord(`server is not ${RECORD_BOUNDS.serverChars} characters`)
  if (!Number.isSafeInteger(r.seq) || r.seq < 0) throw badRecord('seq is not a safe integer ≥ 0')
  if (!Number.isSafeInteger(r.ttl) || r.ttl < 0 || r.ttl > LIMITS.ttlMs) throw badRecord(`ttl is not whole ms from 0 to ${LIMITS.ttlMs}`)
  if (tooLong(r.host, LIMITS.hostBytes)) throw badRecord(`host is longer than ${LIMITS.hostBytes} bytes`)
  const meta = r.meta as Record<string, unknown>
  let n = 0
  for (const k in meta) {
    if (++n > LIMITS.metaEntries) throw badRecord(`meta has more than ${LIMITS.metaEntries} entries`)
    checkMetaKey(k)
    const val = meta[k]
    if (!isStr(val)) throw badRecord(`meta.${k.slice(0, 32)} is not a string`)
    if (tooLong(val, LIMITS.metaValueBytes)) throw badRecord(`meta.${k.slice(0, 32)} is longer than ${LIMITS.metaValueBytes} bytes`)
  }
  const addrs = r.addrs
  if (addrs !== undefined) {
    if (!Array.isArray(addrs) || !addrs.every(isStr)) throw badRecord('addrs is not an array of strings')
    if (addrs.length > LIMITS.addrs) throw badRecord(`addrs has more than ${LIMITS.addrs} entries`)
    for (const a of addrs as string[]) if (tooLong(a, LIMITS.addrBytes)) throw badRecord(`addrs has one longer than ${LIMITS.addrBytes} bytes`)
  }
  // The decoder made this object for us alone: handed over as is, without a copy.
  return r as unknown as RoutingRecord
}

function checkMetaKey(k: string): void {
  if (k.length === 0) throw badRecord('meta has an empty key')
  if (tooLong(k, LIMITS.metaKeyBytes)) throw badRecord(`meta key ${k.slice(0, 32)}… is longer than ${LIMITS.metaKeyBytes} bytes`)
  if (k.includes('=')) throw badRecord(`meta key ${k.slice(0, 32)} contains '='`)
  if (k === RESERVED_META_KEY) throw badRecord(`meta key ${k} is reserved`)
}

// ---- The batch reader ----------------------------------------------------------------------
//
// Reads the records of a batch straight from the frame's bytes. It knows the one layout the
// node writes (writeRecord: a map of peer, server, seq, ttl, host, meta, then addrs, age and
// seen when present, in that order); anything else, valid or not (keys in another order, a
// key a later node adds, a float, invalid UTF-8, a bad record), makes it give up on the whole
// frame, which then takes the generic path (decodeNodeFrame, then decodeRecord per item) and
// gets exactly the answer that path gives, errors included. So this is only ever a faster
// way to the same records, never a second set of rules.

type Bytes = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string }

// The frame being read, the read position and its end.
let rb: Bytes = Buffer.alloc(0) as Bytes
let rp = 0
let rend = 0

// Gives up on the frame (see above).
class Unreadable {}
const UNREADABLE = new Unreadable()

// Short strings that repeat across records (meta keys and values: regions, roles, versions)
// come from a small cache keyed by their bytes, so a stream makes each of them once; the
// check a key needs (no `=`) is made once, when it enters the cache. Only ASCII strings are
// cached: a cached string is compared with the bytes char by char.
const CACHE_SLOTS = 4096
const MAX_CACHED = 32
const cachedStr: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined)
const cachedKey: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined)

function matches(s: string, b: Bytes, start: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== b[start + i]) return false
  return true
}

// The length of the string whose header is at rp (rp then at its bytes); -1 if not a string.
function strLen(): number {
  const b = rb
  const h = b[rp]!
  if (h >= 0xa0 && h <= 0xbf) {
    rp++
    return h & 0x1f
  }
  if (h === 0xd9 && rp + 2 <= rend) {
    rp += 2
    return b[rp - 1]!
  }
  if (h === 0xda && rp + 3 <= rend) {
    rp += 3
    return (b[rp - 2]! << 8) | b[rp - 1]!
  }
  return -1 // str32 is longer than any field may be
}

// The string of bytes [start, end): an ASCII one (most are: IDs, names, tags) is its bytes
// as chars, one native latin1 slice; any other must be valid UTF-8 (else the generic path
// decides), and is decoded as such.
function text(start: number, end: number, ascii: boolean): string {
  if (ascii) return rb.latin1Slice(start, end)
  if (!isUtf8(rb.subarray(start, end))) throw UNREADABLE
  return rb.utf8Slice(start, end)
}

// Steps over a string header and its bytes (at most `max`, all inside the frame); returns
// where the bytes start (they end at the new `rp`).
function strSpan(max: number): number {
  if (rp >= rend) throw UNREADABLE
  const n = strLen()
  if (n < 0 || n > max) throw UNREADABLE
  const start = rp
  if (start + n > rend) throw UNREADABLE
  rp = start + n
  return start
}

// A string of at most `max` bytes.
function readStr(max: number): string {
  const start = strSpan(max)
  const end = rp
  const b = rb
  let or = 0
  for (let i = start; i < end; i++) or |= b[i]!
  return text(start, end, or < 0x80)
}

// A meta key (`isKey`, checked) or value of at most `max` bytes, from the cache when short.
function readShort(max: number, isKey: boolean): string {
  const start = strSpan(max)
  const end = rp
  const n = end - start
  const b = rb
  let or = 0
  let h = n
  if (n > MAX_CACHED) {
    for (let i = start; i < end; i++) or |= b[i]!
  } else {
    for (let i = start; i < end; i++) {
      const c = b[i]!
      or |= c
      h = Math.imul(h ^ c, 0x9e3779b1)
    }
  }
  if (n > MAX_CACHED || or >= 0x80) {
    const s = text(start, end, or < 0x80)
    if (isKey && (s.includes('=') || s === RESERVED_META_KEY)) throw UNREADABLE
    return s
  }
  const slot = h >>> 20 // 12 bits: CACHE_SLOTS
  const cache = isKey ? cachedKey : cachedStr
  const hit = cache[slot]
  if (hit !== undefined && hit.length === n && matches(hit, b, start, n)) return hit
  const s = b.latin1Slice(start, end)
  if (isKey && (n === 0 || s.includes('=') || s === RESERVED_META_KEY)) throw UNREADABLE
  cache[slot] = s
  return s
}

// A non-negative integer (MessagePack uint or positive fixint) no larger than `max`.
function readUint(max: number): number {
  if (rp >= rend) throw UNREADABLE
  const b = rb
  const h = b[rp]!
  let v: number
  if (h < 0x80) {
    rp += 1
    return h
  } else if (h === 0xcc) {
    if (rp + 2 > rend) throw UNREADABLE
    v = b[rp + 1]!
    rp += 2
  } else if (h === 0xcd) {
    if (rp + 3 > rend) throw UNREADABLE
    v = (b[rp + 1]! << 8) | b[rp + 2]!
    rp += 3
  } else if (h === 0xce) {
    if (rp + 5 > rend) throw UNREADABLE
    v = b[rp + 1]! * 0x100_0000 + ((b[rp + 2]! << 16) | (b[rp + 3]! << 8) | b[rp + 4]!)
    rp += 5
  } else if (h === 0xcf) {
    if (rp + 9 > rend) throw UNREADABLE
    const hi = b[rp + 1]! * 0x100_0000 + ((b[rp + 2]! << 16) | (b[rp + 3]! << 8) | b[rp + 4]!)
    const lo = b[rp + 5]! * 0x100_0000 + ((b[rp + 6]! << 16) | (b[rp + 7]! << 8) | b[rp + 8]!)
    if (hi >= 0x20_0000) throw UNREADABLE // 2^53 or more: not a safe integer
    v = hi * 0x1_0000_0000 + lo
    rp += 9
  } else throw UNREADABLE
  if (v > max) throw UNREADABLE
  return v
}

// True (and past it) when the fixed key `k` (header byte included) is at rp.
function isKey(k: Uint8Array): boolean {
  const n = k.length
  if (rp + n > rend) return false
  const b = rb
  const p = rp
  for (let i = 0; i < n; i++) if (b[p + i] !== k[i]) return false
  rp = p + n
  return true
}

function expectKey(k: Uint8Array): void {
  if (!isKey(k)) throw UNREADABLE
}

const K_AGE = key('age')
const K_SEEN = key('seen')

function readRecord(): RoutingRecord {
  if (rp >= rend) throw UNREADABLE
  const h = rb[rp++]!
  // A fixmap of the six fields, plus addrs, age and seen when present.
  if (h < 0x86 || h > 0x89) throw UNREADABLE
  let rest = (h & 0x0f) - 6
  expectKey(K_PEER)
  const peer = readStr(LIMITS.peerChars)
  if (peer.length === 0) throw UNREADABLE
  expectKey(K_SERVER)
  const server = readStr(RECORD_BOUNDS.serverChars)
  if (server.length !== RECORD_BOUNDS.serverChars) throw UNREADABLE
  expectKey(K_SEQ)
  const seq = readUint(Number.MAX_SAFE_INTEGER)
  expectKey(K_TTL)
  const ttl = readUint(LIMITS.ttlMs)
  expectKey(K_HOST)
  const host = readStr(LIMITS.hostBytes)
  expectKey(K_META)
  if (rp >= rend) throw UNREADABLE
  const mh = rb[rp]!
  let entries: number
  if (mh >= 0x80 && mh <= 0x8f) {
    entries = mh & 0x0f
    rp += 1
  } else if (mh === 0xde && rp + 3 <= rend) {
    entries = (rb[rp + 1]! << 8) | rb[rp + 2]!
    rp += 3
  } else throw UNREADABLE
  if (entries > LIMITS.metaEntries) throw UNREADABLE
  const meta: Record<string, string> = {}
  for (let i = 0; i < entries; i++) {
    // A repeated key: the last one wins, as with the generic decoder.
    meta[readShort(LIMITS.metaKeyBytes, true)] = readShort(LIMITS.metaValueBytes, false)
  }
  if (rest === 0) return { peer, server, seq, ttl, host, meta }
  const r: RoutingRecord & { age?: number; seen?: number } = { peer, server, seq, ttl, host, meta }
  if (isKey(K_ADDRS)) {
    rest--
    if (rp >= rend) throw UNREADABLE
    const ah = rb[rp++]!
    if (ah < 0x90 || ah > 0x90 + LIMITS.addrs) throw UNREADABLE
    const addrs: string[] = []
    for (let i = 0; i < (ah & 0x0f); i++) addrs.push(readStr(LIMITS.addrBytes))
    r.addrs = addrs
  }
  if (rest > 0 && isKey(K_AGE)) {
    rest--
    r.age = readUint(Number.MAX_SAFE_INTEGER)
  }
  if (rest > 0 && isKey(K_SEEN)) {
    rest--
    r.seen = readUint(Number.MAX_SAFE_INTEGER)
  }
  if (rest !== 0) throw UNREADABLE
  return r
}

const EMPTY = Buffer.alloc(0) as Bytes

/**
 * Reads the `count` records of a batch frame whose items array starts at byte `pos` of
 * `bytes`, going no further than its end (a message may hold more frames after this one),
 * checking every field as `decodeRecord` does (and `age` / `seen`, when present, as whole
 * ms): the records, and the byte where the last one ends. Returns undefined when the items
 * are not all in the layout the node writes, or are not valid: the frame then takes the
 * generic path, which accepts or refuses it as it always did. Never throws.
 */
export function decodeRecordItems(bytes: Uint8Array, pos: number, count: number): { items: RoutingRecord[]; end: number } | undefined {
  // Every record takes more than one byte: a count beyond the bytes left is a lie.
  if (count > bytes.length - pos) return undefined
  rb = (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as Bytes
  rp = pos
  rend = bytes.length
  const items: RoutingRecord[] = []
  try {
    for (let i = 0; i < count; i++) items.push(readRecord())
    return { items, end: rp }
  } catch (err) {
    if (err === UNREADABLE) return undefined
    throw err
  } finally {
    rb = EMPTY // don't keep the frame alive
  }
}
