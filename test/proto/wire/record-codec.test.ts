import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode, encode } from '@msgpack/msgpack'
import { decodeRecord, encodeRecord, writeRecord } from '../../../src/proto/wire/record-codec.js'
import type { RoutingRecord } from '../../../src/record/record.js'
import { record } from '../helpers.js'

const arbRecord: fc.Arbitrary<RoutingRecord> = fc.record({
  peer: fc.string({ minLength: 1, maxLength: 60 }),
  server: fc.stringMatching(/^[0-9a-f]{16}$/),
  seq: fc.maxSafeNat(),
  ttl: fc.nat({ max: 86_400_000 }),
  host: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 80 })),
  meta: fc.dictionary(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), fc.string({ maxLength: 1100 }), { maxKeys: 20 }),
  addrs: fc.array(fc.string({ minLength: 1, maxLength: 256 }), { minLength: 1, maxLength: 8 }),
}, { requiredKeys: ['peer', 'server', 'seq', 'ttl', 'host', 'meta'] })

describe('record codec', () => {
  it('a client that does not know addrs still decodes a record carrying it', () => {
    // What a client of the format before addrs checks: the six fields, extra keys passed through.
    const r = { ...record(5), addrs: ['/ip4/127.0.0.1/tcp/4001/p2p/x', '/dns4/a.example/tcp/4001/p2p/x'] }
    const decoded = decode(encodeRecord(r)) as Record<string, unknown>
    const { addrs, ...old } = decoded
    expect(old).toEqual(record(5))
    expect(addrs).toEqual(r.addrs)
  })

  it('writes the same bytes as @msgpack/msgpack for any record', () => {
    fc.assert(
      fc.property(arbRecord, (r) => {
        expect(Buffer.from(encodeRecord(r)).equals(Buffer.from(encode(r)))).toBe(true)
      }),
      { numRuns: 500 },
    )
    expect(Buffer.from(encodeRecord(record(7))).equals(Buffer.from(encode(record(7))))).toBe(true)
  })

  it('writeRecord appends those same bytes in place, keeping what was there and growing the buffer', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (rs, size) => {
        // A tiny buffer with a prefix already in it: every record makes it grow.
        const out = { buf: Buffer.alloc(size, 0xee), len: Math.min(3, size) }
        for (const r of rs) writeRecord(r, out)
        const want = Buffer.concat([Buffer.alloc(Math.min(3, size), 0xee), ...rs.map((r) => Buffer.from(encode(r)))])
        expect(out.len).toBe(want.length)
        expect(out.buf.subarray(0, out.len).equals(want)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('strings whose UTF-8 length crosses a header size that their char count does not', () => {
    // 31 chars but 33 bytes (fixstr → str8), 255 chars but 257 bytes (str8 → str16).
    for (const host of ['é'.repeat(2) + 'a'.repeat(29), 'é'.repeat(2) + 'a'.repeat(253), 'a'.repeat(15) + 'é', '€'.repeat(11)]) {
      const r = { ...record(2), host }
      expect(Buffer.from(encodeRecord(r)).equals(Buffer.from(encode(r)))).toBe(true)
    }
  })

  it('covers every integer width and a meta map of 16 or more keys', () => {
    for (const seq of [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const r = { ...record(1), seq, meta: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'])) }
      expect(Buffer.from(encodeRecord(r)).equals(Buffer.from(encode(r)))).toBe(true)
    }
  })

  it('decodeRecord accepts records and rejects anything else with ERR_BAD_FRAME', () => {
    expect(decodeRecord(record(3))).toEqual(record(3))
    const withAddrs = { ...record(3), addrs: ['/ip4/127.0.0.1/tcp/1/p2p/x'] }
    expect(decodeRecord(withAddrs)).toEqual(withAddrs)
    for (const bad of [null, 'x', { ...record(3), addrs: '/ip4/1.2.3.4' }, { ...record(3), addrs: [1] }, { ...record(3), seq: '1' }, { ...record(3), meta: { a: 1 } }, { ...record(3), meta: [] }, { ...record(3), host: undefined }, { ...record(3), meta: null }]) {
      expect(() => decodeRecord(bad)).toThrow(expect.objectContaining({ code: 'ERR_BAD_FRAME' }))
    }
  })
})
