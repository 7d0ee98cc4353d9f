/**
 * A MessagePack encoder specialised for RoutingRecord, and the client's shape check.
 *
 * Streaming a table is dominated by encoding records; the generic encoder walks each object
 * and its keys. This one writes the fixed layout directly (keys as constant bytes, ASCII
 * strings byte by byte, others through Buffer), producing exactly the bytes the generic
 * encoder does for the same record — a client can't tell them apart (the codec test checks
 * equality against @msgpack/msgpack).
 */
import { WwError } from '../errors.js'
import type { RoutingRecord } from '../node/record.js'
import { ERR_BAD_FRAME } from './frames.js'

let buf = Buffer.allocUnsafe(64 * 1024)
let pos = 0

function ensure(n: number): void {
  if (pos + n <= buf.length) return
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n))
  buf.copy(next, 0, 0, pos)
  buf = next
}

function str(s: string): void {
  const n = s.length
  // ASCII fast path: one byte per char, header from the char count.
  if (n < 256) {
    ensure(2 + n * 3)
    const start = pos
    if (n < 32) buf[pos++] = 0xa0 | n
    else {
      buf[pos++] = 0xd9
      buf[pos++] = n
    }
    let ascii = true
    if (n < 24) {
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) {
          ascii = false
          break
        }
        buf[pos++] = c
      }
    } else if (Buffer.byteLength(s, 'utf8') === n) {
      // All ASCII (one byte per char): one native copy beats a loop for longer strings.
      pos += buf.write(s, pos, n, 'latin1')
    } else ascii = false
    if (ascii) return
    pos = start
  }
  const len = Buffer.byteLength(s, 'utf8')
  ensure(5 + len)
  if (len < 32) buf[pos++] = 0xa0 | len
  else if (len < 0x100) {
    buf[pos++] = 0xd9
    buf[pos++] = len
  } else if (len < 0x10000) {
    buf[pos++] = 0xda
    buf.writeUInt16BE(len, pos)
    pos += 2
  } else {
    buf[pos++] = 0xdb
    buf.writeUInt32BE(len, pos)
    pos += 4
  }
  pos += buf.write(s, pos, 'utf8')
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
    buf.writeUInt16BE(v, pos)
    pos += 2
  } else if (v < 0x1_0000_0000) {
    buf[pos++] = 0xce
    buf.writeUInt32BE(v, pos)
    pos += 4
  } else {
    buf[pos++] = 0xcf
    buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), pos)
    buf.writeUInt32BE(v >>> 0, pos + 4)
    pos += 8
  }
}

function mapHeader(n: number): void {
  ensure(5)
  if (n < 16) buf[pos++] = 0x80 | n
  else if (n < 0x10000) {
    buf[pos++] = 0xde
    buf.writeUInt16BE(n, pos)
    pos += 2
  } else {
    buf[pos++] = 0xdf
    buf.writeUInt32BE(n, pos)
    pos += 4
  }
}

/**
 * Encodes a (valid) record as the MessagePack map {peer, server, seq, ttl, host, meta}. The
 * bytes are a view of a scratch buffer, valid until the next call: copy them to keep them.
 */
export function encodeRecord(r: RoutingRecord): Uint8Array {
  pos = 0
  ensure(64)
  buf[pos++] = 0x86
  str('peer')
  str(r.peer)
  str('server')
  str(r.server)
  str('seq')
  uint(r.seq)
  str('ttl')
  uint(r.ttl)
  str('host')
  str(r.host)
  str('meta')
  const keys = Object.keys(r.meta)
  mapHeader(keys.length)
  for (const k of keys) {
    str(k)
    str(r.meta[k]!)
  }
  return buf.subarray(0, pos)
}

function isStr(v: unknown): v is string {
  return typeof v === 'string'
}

/**
 * The client's check of a record received from the node: the shape and types of §1 (the
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
  // The decoder made this object for us alone: handed over as is, without a copy.
  return r as unknown as RoutingRecord
}
