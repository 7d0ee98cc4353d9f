/**
 * The wire frames of the client↔node protocol (docs/protocol.md) and their codec.
 *
 * Every frame is one MessagePack map carried as one transport frame, with its type in `t`.
 * The set is small on purpose:
 *
 *   client → node   hello · call · credit · cancel
 *   node → client   welcome · result · batch · end · error
 *
 * A connection starts with `hello` → `welcome` (or `error`). After that the client sends
 * `call`s on capability ids it holds; a streaming call (`iter`, later `subscribe`) is answered
 * by `batch` frames and exactly one `end`, any other call by exactly one `result`. Streams
 * run under credit (`credit` frames, see window.ts) and stop on `cancel`. `error` is
 * connection-level: the node sends it, then closes that connection.
 *
 * Decoding is strict, because the node's input comes from an untrusted client: a frame that
 * is not a map, has an unknown `t`, or a field of the wrong type raises ERR_BAD_FRAME naming
 * the problem; one past the size limit raises ERR_FRAME_TOO_LARGE before it is parsed. Keys a
 * frame type does not define are ignored, so a later version may add optional fields.
 * Method arguments (`call.a`) are validated by the capability that receives them.
 */
import { Decoder, Encoder } from '@msgpack/msgpack'
import { WwError } from '../../errors.js'
import { readArrayHead } from '../../msgpack-head.js'

/** The newest query language this implementation speaks (hello.lang / welcome.lang). */
export const LANG_VERSION = 2

/** The protocol version this implementation speaks (hello.v / welcome.v). */
export const PROTOCOL_VERSION = 1

/** A frame could not be decoded or broke the frame rules; the connection is closed. */
export const ERR_BAD_FRAME = 'ERR_BAD_FRAME'
/** A frame was larger than the receiver's frame limit; the connection is closed. */
export const ERR_FRAME_TOO_LARGE = 'ERR_FRAME_TOO_LARGE'
/** The two ends speak different protocol versions (both are named in the message). */
export const ERR_PROTOCOL_VERSION = 'ERR_PROTOCOL_VERSION'

/** An error as carried in `result.error`, `end.error` and the `error` frame. */
export interface WireError {
  code: string
  message: string
}

/** A capability as handed out in `welcome`: its per-connection id, and whether it is null. */
export interface WireCap {
  cap: number
  null: boolean
}

/** First frame of a connection, client → node. */
export interface HelloFrame {
  t: 'hello'
  /** Protocol version the client speaks. */
  v: number
  /** Presented to a node that requires one; absent otherwise. */
  token?: string
  /**
   * The newest query language the client speaks (docs/language.md): 2 adds `where` to a
   * Statement and the View methods `count` and `explain`. Absent: 1, the original language.
   */
  lang?: number
  /**
   * True: the client accepts several node frames in one transport message (`packFrames`,
   * docs/protocol.md#1-transport-and-encoding). Absent or false: one frame per message.
   */
  pack?: boolean
}

/** Answer to `hello`, node → client. */
export interface WelcomeFrame {
  t: 'welcome'
  v: number
  /** The node's peer ID. */
  peer: string
  view: WireCap
  pubsub: WireCap
  /**
   * The query language of this connection: the lower of the client's `hello.lang` and the
   * node's. Sent only when the hello carried `lang`, so a client of the original protocol
   * gets exactly the welcome it always got; absent means 1.
   */
  lang?: number
  /**
   * True when the node packs frames after this `welcome` (which always travels alone): a
   * message may then hold several whole frames back to back. Sent only when the hello
   * carried `pack: true`, so a client that didn't ask gets the welcome it always got.
   */
  pack?: boolean
}

/** A method call on a capability, client → node. */
export interface CallFrame {
  t: 'call'
  /** Client-chosen id, unique among this connection's calls and streams still open. */
  id: number
  /** The capability called. */
  cap: number
  /** Method name (`iter`, `lookup`, `reverse`, `values`, `release`, …). */
  m: string
  /** Method arguments (a map; shape per method). */
  a: Record<string, unknown>
  /** Promise pipelining: the client-chosen id of the capability this call creates. */
  bind?: number
  /** Streaming methods: the first credit window in bytes (see `credit`). @default 65_536 */
  window?: number
}

/** Credit for a stream, receiver → sender: the sender may have `window` bytes past `consumed` in flight. */
export interface CreditFrame {
  t: 'credit'
  id: number
  /** Total batch bytes of this stream the receiver has consumed so far (never decreases). */
  consumed: number
  /** Bytes the sender may have in flight beyond `consumed`. */
  window: number
}

/** Stops a stream, client → node. */
export interface CancelFrame {
  t: 'cancel'
  id: number
}

/** Outcome of a non-streaming call, node → client: exactly one of `value` / `error`. */
export interface ResultFrame {
  t: 'result'
  id: number
  value?: unknown
  error?: WireError
}

/** Items of a stream, node → client. */
export interface BatchFrame {
  t: 'batch'
  id: number
  items: unknown[]
}

/** Last frame of a stream, node → client; with `error` when the stream failed. */
export interface EndFrame {
  t: 'end'
  id: number
  error?: WireError
}

/** Connection-level failure, node → client; the node closes the connection after it. */
export interface ErrorFrame {
  t: 'error'
  code: string
  message: string
}

/** Frames a client sends. */
export type ClientFrame = HelloFrame | CallFrame | CreditFrame | CancelFrame
/** Frames a node sends. */
export type NodeFrame = WelcomeFrame | ResultFrame | BatchFrame | EndFrame | ErrorFrame

/** Largest id (call, stream or capability) on the wire: ids are unsigned 32-bit integers. */
export const MAX_ID = 0xffff_ffff

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Largest frame accepted, in bytes. @default 1_048_576 */
  maxFrameBytes?: number
  /**
   * Deepest nesting of arrays and maps accepted (the frame's own map is depth 1); deeper →
   * ERR_BAD_FRAME, found by a scan of the bytes before anything is decoded.
   * @default 16
   */
  maxDepth?: number
  /**
   * Most MessagePack values in one frame (every key, value and element counts); more →
   * ERR_BAD_FRAME, found by the same scan. `decodeClientFrame` defaults it to
   * DEFAULT_MAX_CLIENT_ITEMS, `decodeNodeFrame` to no limit (a batch holds many records).
   * @default Infinity
   */
  maxItems?: number
}

/** Default largest frame a node accepts from a client (and a client from a node). */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20
/**
 * Default deepest nesting of a frame. The deepest legitimate frame (a `call` carrying a
 * Statement: frame → a → q → constraints → constraint → index) is 6 deep.
 */
export const DEFAULT_MAX_DEPTH = 16
/**
 * Default most values in one client frame. A client frame is a hello, a credit, a cancel or
 * a call whose largest argument is a Statement or a binary message: a few dozen values.
 */
export const DEFAULT_MAX_CLIENT_ITEMS = 4096

const encoder = new Encoder({ ignoreUndefined: true })
// Bounds every container so a hostile frame can't make the decoder allocate more than the
// frame itself implies (the frame size limit is checked first).
const decoder = new Decoder({
  maxStrLength: DEFAULT_MAX_FRAME_BYTES,
  maxBinLength: DEFAULT_MAX_FRAME_BYTES,
  maxArrayLength: 1 << 16,
  maxMapLength: 1 << 12,
  maxExtLength: 0,
})

/** Encodes any frame (a fresh buffer the transport may keep). */
export function encodeFrame(frame: ClientFrame | NodeFrame): Uint8Array {
  return encoder.encode(frame)
}

/** Encodes one stream item on its own (its size is what a batch's size is counted from). */
export function encodeItem(item: unknown): Uint8Array {
  return encoder.encode(item)
}

/**
 * Builds a `batch` frame around items already encoded by `encodeItem`, without decoding or
 * re-encoding them: `{t:'batch', id, items:[…]}` with the item bytes copied in place.
 */
export function encodeBatch(id: number, items: readonly Uint8Array[]): Uint8Array {
  const b = new BatchBuilder()
  for (const it of items) b.append(it)
  return b.frame(id)
}

/**
 * A growable byte buffer that an encoder appends to in place: bytes `[0, len)` are kept; an
 * encoder that needs more room replaces `buf` with a larger copy of them.
 */
export interface ByteSink {
  buf: Buffer
  len: number
}

/**
 * Writes one item's MessagePack bytes at the end of `out` (the same bytes `encodeItem` would
 * produce), growing it as needed.
 */
export type ItemWriter = (item: never, out: ByteSink) => void

/** Appends one byte to `out` (through {@link putBytes} only when the buffer is full). */
export function putByte(out: ByteSink, b: number): void {
  if (out.len < out.buf.length) out.buf[out.len++] = b
  else putBytes(out, Uint8Array.of(b))
}

/** Copies `bytes` to the end of `out`, growing its buffer (at least doubling) when they don't fit. */
export function putBytes(out: ByteSink, bytes: Uint8Array): void {
  if (out.len + bytes.length > out.buf.length) {
    const next = Buffer.allocUnsafe(Math.max(out.buf.length * 2, out.len + bytes.length))
    out.buf.copy(next, 0, 0, out.len)
    out.buf = next
  }
  out.buf.set(bytes, out.len)
  out.len += bytes.length
}

/**
 * Accumulates encoded items in one growing buffer (each `append` copies, so the caller may
 * reuse its bytes at once; `appendWith` has the encoder write in place, with no copy), then
 * writes the `batch` frame around them in one allocation.
 */
export class BatchBuilder {
  readonly #sink: ByteSink = { buf: Buffer.allocUnsafe(16 * 1024), len: 0 }
  #count = 0

  /** Items appended since the last `frame()`. */
  get count(): number {
    return this.#count
  }

  /** Bytes of the items appended since the last `frame()`. */
  get bytes(): number {
    return this.#sink.len
  }

  /** Copies one encoded item in. */
  append(item: Uint8Array): void {
    putBytes(this.#sink, item)
    this.#count++
  }

  /** Has `write` encode one item straight into the batch; returns its size in bytes. */
  appendWith(write: ItemWriter, item: unknown): number {
    const start = this.#sink.len
    write(item as never, this.#sink)
    this.#count++
    return this.#sink.len - start
  }

  /** Takes the last item back out (it starts at byte `start`) and returns a copy of its bytes. */
  unappend(start: number): Uint8Array {
    const sink = this.#sink
    const out = new Uint8Array(sink.buf.subarray(start, sink.len))
    sink.len = start
    this.#count--
    return out
  }

  /** The `batch` frame of the items appended so far; the builder is empty again afterwards. */
  frame(id: number): Uint8Array {
    const head = encoder.encode({ t: 'batch', id, items: null })
    // `head` ends with the nil (0xc0) standing for the array; swap it for the array header.
    const n = this.#count
    const arrHead = n < 16 ? 1 : n < 0x10000 ? 3 : 5
    const out = new Uint8Array(head.length - 1 + arrHead + this.#sink.len)
    out.set(head.subarray(0, head.length - 1), 0)
    let pos = head.length - 1
    if (n < 16) {
      out[pos++] = 0x90 | n
    } else if (n < 0x10000) {
      out[pos++] = 0xdc
      out[pos++] = n >>> 8
      out[pos++] = n & 0xff
    } else {
      out[pos++] = 0xdd
      out[pos++] = (n >>> 24) & 0xff
      out[pos++] = (n >>> 16) & 0xff
      out[pos++] = (n >>> 8) & 0xff
      out[pos++] = n & 0xff
    }
    out.set(this.#sink.buf.subarray(0, this.#sink.len), pos)
    this.#sink.len = 0
    this.#count = 0
    return out
  }
}

/** Size in bytes that `encodeBatch` will produce for items of `itemBytes` total (for credit planning). */
export function batchOverhead(id: number, count: number): number {
  const idBytes = id < 128 ? 1 : id < 0x100 ? 2 : id < 0x10000 ? 3 : 5
  // fixmap(1) + "t"(2) + "batch"(6) + "id"(3) + id + "items"(6) + array header
  return 1 + 2 + 6 + 3 + idBytes + 6 + (count < 16 ? 1 : count < 0x10000 ? 3 : 5)
}

// Bytes that follow each MessagePack type byte before the next value (payload lengths are
// added separately): -1 marks the one byte that is never used (0xc1).
function headLength(b: number): number {
  if (b <= 0xbf || b >= 0xe0) return 0 // fixint, fixmap, fixarray, fixstr (payload added apart)
  switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 0
    case 0xc4: case 0xd9: case 0xcc: case 0xd0: return 1
    case 0xc5: case 0xda: case 0xcd: case 0xd1: case 0xdc: case 0xde: return 2
    case 0xc6: case 0xdb: case 0xca: case 0xce: case 0xd2: case 0xdd: case 0xdf: return 4
    case 0xcb: case 0xcf: case 0xd3: return 8
    case 0xc7: return 2 // ext8: length, type
    case 0xc8: return 3
    case 0xc9: return 5
    case 0xd4: return 2 // fixext 1: type, data
    case 0xd5: return 3
    case 0xd6: return 5
    case 0xd7: return 9
    case 0xd8: return 17
    default: return -1
  }
}

function readLength(bytes: Uint8Array, pos: number, n: number): number {
  let v = 0
  for (let i = 0; i < n; i++) v = v * 256 + bytes[pos + i]!
  return v
}

/**
 * Walks the MessagePack structure of `bytes` without building anything: one step per value,
 * skipping string and binary payloads by their length, so its cost is bounded by `maxItems`
 * and never by how the bytes nest. Throws ERR_BAD_FRAME when the frame nests deeper than
 * `maxDepth`, holds more than `maxItems` values, or is cut short. The decoder, which
 * allocates a stack entry and an object per level, only ever sees frames that passed.
 */
export function scanFrame(bytes: Uint8Array, maxDepth: number, maxItems: number): number {
  const len = bytes.length
  // remaining[d]: values still to read at depth d (depth 0: the one top-level value).
  const remaining: number[] = [1]
  let pos = 0
  let items = 0
  while (remaining.length > 0) {
    const top = remaining.length - 1
    if (remaining[top] === 0) {
      remaining.pop()
      continue
    }
    remaining[top]!--
    if (pos >= len) throw new WwError(ERR_BAD_FRAME, 'frame is not valid MessagePack: it ends in the middle of a value')
    if (++items > maxItems) throw new WwError(ERR_BAD_FRAME, `frame holds more than ${maxItems} values`)
    const b = bytes[pos++]!
    let children = 0
    let payload = 0
    if (b >= 0x80 && b <= 0x8f) children = (b & 0x0f) * 2
    else if (b >= 0x90 && b <= 0x9f) children = b & 0x0f
    else if (b >= 0xa0 && b <= 0xbf) payload = b & 0x1f
    else {
      const head = headLength(b)
      if (head < 0) throw new WwError(ERR_BAD_FRAME, `frame is not valid MessagePack: byte 0x${b.toString(16)} at ${pos - 1}`)
      if (pos + head > len) throw new WwError(ERR_BAD_FRAME, 'frame is not valid MessagePack: it ends in the middle of a value')
      switch (b) {
        case 0xc4: case 0xc5: case 0xc6: case 0xd9: case 0xda: case 0xdb:
          payload = readLength(bytes, pos, head)
          break
        case 0xc7: case 0xc8: case 0xc9:
          payload = readLength(bytes, pos, head - 1)
          break
        case 0xdc: case 0xdd:
          children = readLength(bytes, pos, head)
          break
        case 0xde: case 0xdf:
          children = readLength(bytes, pos, head) * 2
          break
      }
      pos += head
    }
    pos += payload
    if (children > 0) {
      // Every value takes at least one byte: a count beyond the bytes left is a lie.
      if (children > len - pos) throw new WwError(ERR_BAD_FRAME, 'frame is not valid MessagePack: it ends in the middle of a value')
      if (remaining.length > maxDepth) throw new WwError(ERR_BAD_FRAME, `frame nests deeper than ${maxDepth} levels`)
      remaining.push(children)
    }
  }
  if (pos > len) throw new WwError(ERR_BAD_FRAME, 'frame is not valid MessagePack: it ends in the middle of a value')
  return pos
}

function decodeMap(bytes: Uint8Array, limits: DecodeLimits): Record<string, unknown> {
  const max = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  if (bytes.length > max) {
    throw new WwError(ERR_FRAME_TOO_LARGE, `frame of ${bytes.length} bytes is larger than the limit of ${max} bytes`)
  }
  scanFrame(bytes, limits.maxDepth ?? DEFAULT_MAX_DEPTH, limits.maxItems ?? Infinity)
  let v: unknown
  try {
    v = decoder.decode(bytes)
  } catch (err) {
    throw new WwError(ERR_BAD_FRAME, `frame is not valid MessagePack: ${(err as Error).message}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || v instanceof Date) {
    throw new WwError(ERR_BAD_FRAME, 'frame is not a MessagePack map')
  }
  return v as Record<string, unknown>
}

function bad(t: string, field: string, expected: string): WwError {
  return new WwError(ERR_BAD_FRAME, `${t} frame: field '${field}' must be ${expected}`)
}

function id(f: Record<string, unknown>, t: string, field = 'id'): number {
  const v = f[field]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_ID) throw bad(t, field, 'an integer from 0 to 4294967295')
  return v
}

function count(f: Record<string, unknown>, t: string, field: string): number {
  const v = f[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(t, field, 'a non-negative integer')
  return v
}

function str(f: Record<string, unknown>, t: string, field: string): string {
  const v = f[field]
  if (typeof v !== 'string') throw bad(t, field, 'a string')
  return v
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date)
}

function wireError(v: unknown, t: string): WireError {
  if (!isMap(v) || typeof v.code !== 'string' || typeof v.message !== 'string') throw bad(t, 'error', 'a map {code: string, message: string}')
  return { code: v.code, message: v.message }
}

function wireCap(f: Record<string, unknown>, field: string): WireCap {
  const v = f[field]
  if (!isMap(v) || typeof v.null !== 'boolean') throw bad('welcome', field, 'a map {cap: id, null: boolean}')
  return { cap: id(v, 'welcome', 'cap'), null: v.null }
}

/** Decodes and checks a frame a client sent. Throws WwError ERR_BAD_FRAME / ERR_FRAME_TOO_LARGE. */
export function decodeClientFrame(bytes: Uint8Array, limits: DecodeLimits = {}): ClientFrame {
  const f = decodeMap(bytes, { ...limits, maxItems: limits.maxItems ?? DEFAULT_MAX_CLIENT_ITEMS })
  switch (f.t) {
    case 'hello': {
      const v = f.v
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('hello', 'v', 'an integer')
      if (f.token !== undefined && f.token !== null && typeof f.token !== 'string') throw bad('hello', 'token', 'a string')
      const out: HelloFrame = typeof f.token === 'string' ? { t: 'hello', v, token: f.token } : { t: 'hello', v }
      if (f.lang !== undefined && f.lang !== null) out.lang = count(f, 'hello', 'lang')
      if (f.pack !== undefined && f.pack !== null) {
        if (typeof f.pack !== 'boolean') throw bad('hello', 'pack', 'a boolean')
        out.pack = f.pack
      }
      return out
    }
    case 'call': {
      const out: CallFrame = { t: 'call', id: id(f, 'call'), cap: id(f, 'call', 'cap'), m: str(f, 'call', 'm'), a: {} }
      if (f.a !== undefined && f.a !== null) {
        if (!isMap(f.a)) throw bad('call', 'a', 'a map')
        out.a = f.a
      }
      if (f.bind !== undefined && f.bind !== null) out.bind = id(f, 'call', 'bind')
      if (f.window !== undefined && f.window !== null) out.window = count(f, 'call', 'window')
      return out
    }
    case 'credit':
      return { t: 'credit', id: id(f, 'credit'), consumed: count(f, 'credit', 'consumed'), window: count(f, 'credit', 'window') }
    case 'cancel':
      return { t: 'cancel', id: id(f, 'cancel') }
    default:
      throw new WwError(ERR_BAD_FRAME, typeof f.t === 'string' ? `unknown frame type '${f.t.slice(0, 32)}'` : "frame has no string type field 't'")
  }
}

// `{t: 'batch', id: ` as the node's encoder writes it (BatchBuilder.frame), then `items`.
const BATCH_HEAD = Uint8Array.from([0x83, 0xa1, 0x74, 0xa5, ...Array.from('batch', (c) => c.charCodeAt(0)), 0xa2, 0x69, 0x64])
const ITEMS_KEY = Uint8Array.from([0xa5, ...Array.from('items', (c) => c.charCodeAt(0))])

/** Where a batch frame's items start: the stream id, the item count and the byte offset. */
export interface BatchHead {
  id: number
  count: number
  pos: number
}

/**
 * Reads the head of a `batch` frame at byte `at` of `bytes` in the exact layout a node writes
 * (`{t, id, items}` in that order), without decoding anything: a receiver that reads the
 * items itself (`decodeRecordItems`) starts at `pos`. Undefined for any other frame or
 * layout, which then goes through `decodeNodeFrame` as usual. Checks nothing beyond the head:
 * the item reader must check the items, and where they end.
 */
export function readBatchHead(bytes: Uint8Array, at = 0): BatchHead | undefined {
  const n = BATCH_HEAD.length
  const len = bytes.length
  if (len - at < n + 2 + ITEMS_KEY.length) return undefined
  for (let i = 0; i < n; i++) if (bytes[at + i] !== BATCH_HEAD[i]) return undefined
  let p = at + n
  const h = bytes[p]!
  let id: number
  if (h < 0x80) {
    id = h
    p += 1
  } else if (h === 0xcc) {
    id = bytes[p + 1]!
    p += 2
  } else if (h === 0xcd && p + 3 <= len) {
    id = (bytes[p + 1]! << 8) | bytes[p + 2]!
    p += 3
  } else if (h === 0xce && p + 5 <= len) {
    id = readLength(bytes, p + 1, 4)
    p += 5
  } else return undefined
  if (p + ITEMS_KEY.length + 1 > len) return undefined
  for (let i = 0; i < ITEMS_KEY.length; i++) if (bytes[p + i] !== ITEMS_KEY[i]) return undefined
  p += ITEMS_KEY.length
  const a = readArrayHead(bytes, p, len)
  if (a === undefined || a === 'short') return undefined
  return { id, count: a.count, pos: a.at }
}

/** Decodes and checks a frame a node sent. Throws WwError ERR_BAD_FRAME / ERR_FRAME_TOO_LARGE. */
export function decodeNodeFrame(bytes: Uint8Array, limits: DecodeLimits = {}): NodeFrame {
  const f = decodeMap(bytes, limits)
  switch (f.t) {
    case 'welcome': {
      const v = f.v
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('welcome', 'v', 'an integer')
      const out: WelcomeFrame = { t: 'welcome', v, peer: str(f, 'welcome', 'peer'), view: wireCap(f, 'view'), pubsub: wireCap(f, 'pubsub') }
      if (f.lang !== undefined && f.lang !== null) out.lang = count(f, 'welcome', 'lang')
      if (f.pack !== undefined && f.pack !== null) {
        if (typeof f.pack !== 'boolean') throw bad('welcome', 'pack', 'a boolean')
        out.pack = f.pack
      }
      return out
    }
    case 'result': {
      const out: ResultFrame = { t: 'result', id: id(f, 'result') }
      if (f.error !== undefined && f.error !== null) out.error = wireError(f.error, 'result')
      else out.value = f.value ?? undefined
      return out
    }
    case 'batch': {
      if (!Array.isArray(f.items)) throw bad('batch', 'items', 'an array')
      return { t: 'batch', id: id(f, 'batch'), items: f.items }
    }
    case 'end': {
      const out: EndFrame = { t: 'end', id: id(f, 'end') }
      if (f.error !== undefined && f.error !== null) out.error = wireError(f.error, 'end')
      return out
    }
    case 'error':
      return { t: 'error', code: str(f, 'error', 'code'), message: str(f, 'error', 'message') }
    default:
      throw new WwError(ERR_BAD_FRAME, typeof f.t === 'string' ? `unknown frame type '${f.t.slice(0, 32)}'` : "frame has no string type field 't'")
  }
}

/**
 * Most bytes a node packs into one transport message (docs/protocol.md#1-transport-and-encoding):
 * frames are packed while the message stays within this; a frame larger than it travels alone.
 */
export const MAX_PACK_BYTES = 64 * 1024

/** Most frames a node packs into one transport message. */
export const MAX_PACK_FRAMES = 1024

/**
 * Concatenates whole encoded frames into transport messages for a client that asked for
 * packing: each message holds at most MAX_PACK_FRAMES frames and MAX_PACK_BYTES bytes, except
 * that a frame larger than MAX_PACK_BYTES travels alone. Frames keep their order.
 */
export function packFrames(frames: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let i = 0
  while (i < frames.length) {
    let bytes = frames[i]!.length
    let j = i + 1
    while (j < frames.length && j - i < MAX_PACK_FRAMES && bytes + frames[j]!.length <= MAX_PACK_BYTES) bytes += frames[j++]!.length
    if (j === i + 1) out.push(frames[i]!)
    else {
      const m = new Uint8Array(bytes)
      let pos = 0
      for (let k = i; k < j; k++) {
        m.set(frames[k]!, pos)
        pos += frames[k]!.length
      }
      out.push(m)
    }
    i = j
  }
  return out
}

/**
 * Decodes a transport message of a node that packs frames: one or more whole frames back to
 * back, each checked as `decodeNodeFrame` checks one (its own size against the frame limit).
 * Returns each frame with its length in bytes (what stream credit counts). A message that is
 * empty or ends inside a frame is ERR_BAD_FRAME.
 */
export function decodeNodeFrames(bytes: Uint8Array, limits: DecodeLimits = {}): { frame: NodeFrame; bytes: number }[] {
  if (bytes.length === 0) throw new WwError(ERR_BAD_FRAME, 'empty message: a message holds at least one frame')
  const out: { frame: NodeFrame; bytes: number }[] = []
  let pos = 0
  while (pos < bytes.length) {
    const { frame, end } = decodeNodeFrameAt(bytes, pos, limits)
    out.push({ frame, bytes: end - pos })
    pos = end
  }
  return out
}

/**
 * Decodes the one frame that starts at byte `pos` of a packed message, as `decodeNodeFrame`
 * decodes a whole message, and says where it ends. ERR_BAD_FRAME when the message ends inside it.
 */
export function decodeNodeFrameAt(msg: Uint8Array, pos: number, limits: DecodeLimits = {}): { frame: NodeFrame; end: number } {
  const rest = msg.subarray(pos)
  // Where this frame ends: the scan stops at the end of the first value, so it reads this
  // frame's bytes only (decodeNodeFrame then checks them against the frame limit).
  const len = scanFrame(rest, limits.maxDepth ?? DEFAULT_MAX_DEPTH, limits.maxItems ?? Infinity)
  return { frame: decodeNodeFrame(rest.subarray(0, len), limits), end: pos + len }
}

/** The wire form of an error: its code when it has one, else ERR_INTERNAL. */
export function toWireError(err: unknown): WireError {
  if (err instanceof WwError) return { code: err.code, message: err.message }
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('ERR_')) return { code, message: String((err as Error).message ?? err) }
  return { code: ERR_INTERNAL, message: err instanceof Error ? err.message : String(err) }
}

/** The node failed in a way it did not foresee (the message says how). */
export const ERR_INTERNAL = 'ERR_INTERNAL'

/** Turns a wire error back into a WwError. */
export function fromWireError(e: WireError): WwError {
  return new WwError(e.code, e.message)
}
