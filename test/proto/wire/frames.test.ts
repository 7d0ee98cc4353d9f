import { describe, expect, it } from 'vitest'
import { decode, encode } from '@msgpack/msgpack'
import {
  decodeClientFrame,
  decodeNodeFrame,
  encodeBatch,
  BatchBuilder,
  type ByteSink,
  encodeFrame,
  encodeItem,
  batchOverhead,
  ERR_BAD_FRAME,
  ERR_FRAME_TOO_LARGE,
  toWireError,
  fromWireError,
  ERR_INTERNAL,
  type ClientFrame,
  type NodeFrame,
} from '../../../src/proto/wire/frames.js'
import { WwError } from '../../../src/errors.js'

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (err) {
    return (err as WwError).code
  }
  return undefined
}

describe('frame codec', () => {
  it('decodes a hello from literal bytes', () => {
    // {"t":"hello","v":1}
    const bytes = Uint8Array.from([0x82, 0xa1, 0x74, 0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa1, 0x76, 0x01])
    expect(decodeClientFrame(bytes)).toEqual({ t: 'hello', v: 1 })
  })

  it('round-trips every client frame', () => {
    const frames: ClientFrame[] = [
      { t: 'hello', v: 1, token: 's' },
      { t: 'call', id: 3, cap: 0, m: 'iter', a: { q: { op: 'ls' } }, window: 65536 },
      { t: 'call', id: 4, cap: 0, m: 'reverse', a: {}, bind: 2 },
      { t: 'credit', id: 3, consumed: 1000, window: 131072 },
      { t: 'cancel', id: 3 },
    ]
    for (const f of frames) expect(decodeClientFrame(encodeFrame(f))).toEqual(f)
  })

  it('round-trips every node frame', () => {
    const frames: NodeFrame[] = [
      { t: 'welcome', v: 1, peer: '12D3KooWx', view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } },
      { t: 'result', id: 1, value: ['a', 'b'] },
      { t: 'result', id: 1, error: { code: 'ERR_CAP_UNKNOWN', message: 'no' } },
      { t: 'batch', id: 2, items: [{ a: 1 }, 'x'] },
      { t: 'end', id: 2 },
      { t: 'end', id: 2, error: { code: 'ERR_X', message: 'm' } },
      { t: 'error', code: 'ERR_BAD_FRAME', message: 'm' },
    ]
    for (const f of frames) expect(decodeNodeFrame(encodeFrame(f))).toEqual(f)
  })

  it('builds a batch from pre-encoded items, byte-identical to encoding it whole', () => {
    for (const n of [0, 1, 15, 16, 300, 70_000]) {
      const items = Array.from({ length: n }, (_, i) => ({ i, s: `item-${i}` }))
      const built = encodeBatch(7, items.map(encodeItem))
      expect(Buffer.from(built).equals(Buffer.from(encode({ t: 'batch', id: 7, items })))).toBe(true)
      if (n < 1000) expect(decode(built)).toEqual({ t: 'batch', id: 7, items })
      const itemBytes = items.reduce((s, it) => s + encodeItem(it).length, 0)
      expect(built.length).toBeLessThanOrEqual(batchOverhead(7, n) + itemBytes)
    }
  })

  it('BatchBuilder: items written in place and items taken back out', () => {
    const items = Array.from({ length: 40 }, (_, i) => ({ i, s: 'x'.repeat(i * 37) }))
    // The writer grows the buffer the way an in-place encoder must: copy what is kept.
    const write = (item: unknown, out: ByteSink): void => {
      const b = encodeItem(item)
      if (out.len + b.length > out.buf.length) {
        const next = Buffer.alloc(out.len + b.length)
        out.buf.copy(next, 0, 0, out.len)
        out.buf = next
      }
      out.buf.set(b, out.len)
      out.len += b.length
    }
    const b = new BatchBuilder()
    for (const [k, it] of items.entries()) {
      const start = b.bytes
      expect(b.appendWith(write, it)).toBe(encodeItem(it).length)
      // every third item is taken back out: it must come back whole, and leave no trace
      if (k % 3 === 2) expect(Buffer.from(b.unappend(start)).equals(Buffer.from(encodeItem(it)))).toBe(true)
    }
    const kept = items.filter((_, k) => k % 3 !== 2)
    expect(b.count).toBe(kept.length)
    expect(Buffer.from(b.frame(9)).equals(Buffer.from(encode({ t: 'batch', id: 9, items: kept })))).toBe(true)
    expect(b.count).toBe(0)
    expect(b.bytes).toBe(0)
  })

  it('rejects random bytes with ERR_BAD_FRAME', () => {
    expect(codeOf(() => decodeClientFrame(Uint8Array.from([0xc1, 0xff, 0x00])))).toBe(ERR_BAD_FRAME)
  })

  it('rejects a frame that is not a map', () => {
    expect(codeOf(() => decodeClientFrame(encode([1, 2, 3])))).toBe(ERR_BAD_FRAME)
    expect(codeOf(() => decodeClientFrame(encode('hello')))).toBe(ERR_BAD_FRAME)
  })

  it('rejects an unknown frame type, and a node frame sent by a client', () => {
    expect(codeOf(() => decodeClientFrame(encode({ t: 'bogus' })))).toBe(ERR_BAD_FRAME)
    expect(codeOf(() => decodeClientFrame(encode({ t: 'welcome', v: 1 })))).toBe(ERR_BAD_FRAME)
    expect(codeOf(() => decodeClientFrame(encode({ v: 1 })))).toBe(ERR_BAD_FRAME)
  })

  it('rejects wrong field types, naming the field', () => {
    const cases: unknown[] = [
      { t: 'hello', v: '1' },
      { t: 'hello', v: 1, token: 5 },
      { t: 'call', id: '1', cap: 0, m: 'iter' },
      { t: 'call', id: 1, cap: -1, m: 'iter' },
      { t: 'call', id: 1, cap: 0, m: 7 },
      { t: 'call', id: 1, cap: 0, m: 'iter', a: [1] },
      { t: 'call', id: 1.5, cap: 0, m: 'iter' },
      { t: 'call', id: 2 ** 32, cap: 0, m: 'iter' },
      { t: 'call', id: 1, cap: 0, m: 'iter', window: -4 },
      { t: 'credit', id: 1, consumed: 'x', window: 1 },
      { t: 'cancel' },
    ]
    for (const c of cases) {
      let err: WwError | undefined
      try {
        decodeClientFrame(encode(c))
      } catch (e) {
        err = e as WwError
      }
      expect(err?.code, JSON.stringify(c)).toBe(ERR_BAD_FRAME)
      expect(err?.message).toMatch(/field '\w+'/)
    }
  })

  it('rejects an oversized frame before parsing it', () => {
    const big = encode({ t: 'call', id: 1, cap: 0, m: 'x'.repeat(5000), a: {} })
    expect(codeOf(() => decodeClientFrame(big, { maxFrameBytes: 1024 }))).toBe(ERR_FRAME_TOO_LARGE)
    expect(decodeClientFrame(big, { maxFrameBytes: 8192 }).t).toBe('call')
  })

  it('ignores keys a frame type does not define', () => {
    expect(decodeClientFrame(encode({ t: 'cancel', id: 1, future: true }))).toEqual({ t: 'cancel', id: 1 })
  })

  it('maps errors to the wire and back', () => {
    expect(toWireError(new WwError('ERR_X', 'boom'))).toEqual({ code: 'ERR_X', message: 'boom' })
    expect(toWireError(new Error('plain')).code).toBe(ERR_INTERNAL)
    const e = fromWireError({ code: 'ERR_Y', message: 'm' })
    expect(e).toBeInstanceOf(WwError)
    expect(e.code).toBe('ERR_Y')
  })
})
