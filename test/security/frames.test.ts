/**
 * The structure scan that runs before any client frame is decoded: it must agree with the
 * MessagePack decoder on every frame the decoder accepts, and refuse deep or crowded frames in
 * time bounded by the limits, not by the frame's size.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Decoder, encode } from '@msgpack/msgpack'
import { decodeClientFrame, ERR_BAD_FRAME, scanFrame, DEFAULT_MAX_DEPTH, encodeFrame } from '../../src/proto/wire/frames.js'
import type { WwError } from '../../src/errors.js'

const plain = new Decoder()

function codeOf(f: () => unknown): string | undefined {
  try {
    f()
  } catch (err) {
    return (err as WwError).code
  }
  return undefined
}

/** `n` one-element arrays nested, around a nil: n + 1 bytes. */
function nested(n: number): Uint8Array {
  const b = new Uint8Array(n + 1).fill(0x91)
  b[n] = 0xc0
  return b
}

/** The median of `runs` timings of `f`, in ms. */
function medianMs(f: () => void, runs = 5): number {
  const t: number[] = []
  for (let i = 0; i < runs; i++) {
    const s = performance.now()
    f()
    t.push(performance.now() - s)
  }
  return t.sort((a, b) => a - b)[runs >> 1]!
}

describe('scanFrame', () => {
  it('passes every value the encoder makes (within the depth), with no item limit', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const bytes = encode(v)
        expect(() => scanFrame(bytes, 64, Infinity)).not.toThrow()
      }),
      { numRuns: 2000 },
    )
  })

  it('agrees with the decoder: whatever the decoder reads, the scan passes', () => {
    const bytesOf = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.jsonValue({ maxDepth: 4 }).chain((v) => {
        const b = encode(v)
        return fc.tuple(fc.nat(b.length), fc.integer({ min: 0, max: 255 })).map(([i, x]) => {
          const c = Uint8Array.from(b)
          if (i < c.length) c[i] = x
          return c
        })
      }),
    )
    fc.assert(
      fc.property(bytesOf, (bytes) => {
        let decoded = true
        try {
          plain.decode(bytes)
        } catch {
          decoded = false
        }
        if (decoded) expect(() => scanFrame(bytes, 1000, Infinity)).not.toThrow()
      }),
      { numRuns: 5000 },
    )
  })

  it('a frame one level deeper than the limit is refused, one at the limit passes', () => {
    expect(() => scanFrame(nested(DEFAULT_MAX_DEPTH), DEFAULT_MAX_DEPTH, Infinity)).not.toThrow()
    expect(codeOf(() => scanFrame(nested(DEFAULT_MAX_DEPTH + 1), DEFAULT_MAX_DEPTH, Infinity))).toBe(ERR_BAD_FRAME)
  })

  it('counts that claim more values than bytes left, and cut-short frames, are refused', () => {
    expect(codeOf(() => scanFrame(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 16, Infinity))).toBe(ERR_BAD_FRAME)
    expect(codeOf(() => scanFrame(Uint8Array.from([0xdb, 0x00, 0x10, 0x00, 0x00, 0x61]), 16, Infinity))).toBe(ERR_BAD_FRAME)
    expect(codeOf(() => scanFrame(Uint8Array.from([0x82, 0xa1, 0x74]), 16, Infinity))).toBe(ERR_BAD_FRAME)
  })

  it('a 1 MiB deeply nested client frame is refused in a few ms (the decoder alone took ~360 ms)', () => {
    const deep = nested(1 << 20)
    expect(codeOf(() => decodeClientFrame(deep, { maxFrameBytes: 2 << 20 }))).toBe(ERR_BAD_FRAME)
    expect(medianMs(() => codeOf(() => decodeClientFrame(deep, { maxFrameBytes: 2 << 20 })))).toBeLessThan(5)
  })

  it('a 1 MiB client frame of a million tiny values is refused in a few ms', () => {
    // An array of 65 535 arrays of 15 empty maps each: shallow, every count within the
    // decoder's own limits, but a million objects for it to build.
    const frame = new Uint8Array(3 + 65_535 * 16).fill(0x80)
    frame.set([0xdc, 0xff, 0xff], 0)
    for (let i = 0; i < 65_535; i++) frame[3 + i * 16] = 0x9f
    expect(codeOf(() => decodeClientFrame(frame, { maxFrameBytes: 2 << 20 }))).toBe(ERR_BAD_FRAME)
    expect(medianMs(() => codeOf(() => decodeClientFrame(frame, { maxFrameBytes: 2 << 20 })))).toBeLessThan(5)
  })

  it('a large binary payload costs nothing to scan (skipped by its length)', () => {
    const f = encodeFrame({ t: 'call', id: 1, cap: 2, m: 'publish', a: { data: new Uint8Array(900_000) } })
    expect(decodeClientFrame(f)).toMatchObject({ t: 'call', m: 'publish' })
    expect(medianMs(() => scanFrame(f, DEFAULT_MAX_DEPTH, 4096))).toBeLessThan(1)
  })
})
