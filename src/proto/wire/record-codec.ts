/**
 * A MessagePack encoder specialised for RoutingRecord, and the client's shape check.
 *
 * Streaming a table is dominated by encoding records; the generic encoder walks each object
 * and its keys. This one writes the fixed layout directly (keys as constant bytes, ASCII
 * strings byte by byte, others through Buffer), producing exactly the bytes the generic
 * encoder does for the same record — a client can't tell them apart (the codec test checks
 * equality against @msgpack/msgpack).
 */
import { WwError } from '../../errors.js'
import type { RoutingRecord } from '../../record/record.js'
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

function isStr(v: unknown): v is string {
  return typeof v === 'string'
}

/**
 * The client's check of a record received from the node: the shape and types of docs/design.md#records (the
 * node enforced the finer rules when it took the record in). Throws ERR_BAD_FRAME. Keys a
 * later node may add are passed through.
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
  const meta = r.meta as Record<string, unknown>
  for (const k in meta) if (!isStr(meta[k])) throw new WwError(ERR_BAD_FRAME, `the node sent a record whose meta.${k.slice(0, 32)} is not a string`)
  const addrs = r.addrs
  if (addrs !== undefined && (!Array.isArray(addrs) || !addrs.every(isStr))) throw new WwError(ERR_BAD_FRAME, 'the node sent a record whose addrs is not an array of strings')
  // The decoder made this object for us alone: handed over as is, without a copy.
  return r as unknown as RoutingRecord
}
