/**
 * The hand-read MessagePack array header against the reference encoder: every array length
 * form (fixarray, array 16, array 32) at any offset, every cut inside a header, and every
 * byte that starts something else.
 */
import { encode } from '@msgpack/msgpack'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readArrayHead } from '../src/msgpack-head.js'

// The header @msgpack/msgpack writes for an array of `n` items (items are nil, one byte each).
function header(n: number): Uint8Array {
  const whole = encode(new Array(n).fill(null))
  return whole.subarray(0, whole.length - n)
}

describe('readArrayHead', () => {
  it('reads the count and the start of the items of every array form, at any offset', () => {
    for (const [n, size] of [[0, 1], [15, 1], [16, 3], [0xffff, 3], [0x10000, 5]] as const) {
      const h = header(n)
      expect(h.length).toBe(size)
      expect(readArrayHead(h)).toEqual({ count: n, at: size })
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (n, before, after) => {
        const h = header(n)
        const bytes = Uint8Array.from([...before, ...h, ...after])
        expect(readArrayHead(bytes, before.length)).toEqual({ count: n, at: before.length + h.length })
        // Cut anywhere inside the header (by `end` or by the bytes' end): short, never a count.
        for (let cut = before.length; cut < before.length + h.length; cut++) {
          expect(readArrayHead(bytes, before.length, cut)).toBe('short')
          expect(readArrayHead(bytes.subarray(0, cut), before.length)).toBe('short')
        }
      }),
      { numRuns: 200 },
    )
  })

  it('reads a 32-bit count above 2^31 as a positive number', () => {
    expect(readArrayHead(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff))).toEqual({ count: 0xffff_ffff, at: 5 })
  })

  it('refuses every byte that starts something other than an array', () => {
    for (let b = 0; b < 256; b++) {
      const isArray = (b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd
      const got = readArrayHead(Uint8Array.of(b, 0, 0, 0, 0))
      if (isArray) expect(got, `0x${b.toString(16)}`).toMatchObject({ at: b === 0xdc ? 3 : b === 0xdd ? 5 : 1 })
      else expect(got, `0x${b.toString(16)}`).toBeUndefined()
    }
    expect(readArrayHead(new Uint8Array(0))).toBe('short')
  })
})
