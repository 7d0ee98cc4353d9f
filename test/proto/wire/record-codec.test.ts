import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode, encode } from '@msgpack/msgpack'
import { decodeRecord, decodeRecordItems, encodeRecord, writeRecord } from '../../../src/proto/wire/record-codec.js'
import { decodeNodeFrame, encodeBatch, encodeFrame, encodeItem, readBatchHead } from '../../../src/proto/wire/frames.js'
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

describe('reading a batch of records from its bytes (decodeRecordItems)', () => {
  // What a node sends: records that passed validateRecord (bounded fields), some with addrs,
  // and with `times` age/seen after them.
  const arbValid: fc.Arbitrary<Record<string, unknown>> = fc
    .record({
      peer: fc.oneof(fc.string({ minLength: 1, maxLength: 128 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })),
      server: fc.stringMatching(/^[0-9a-f]{16}$/),
      seq: fc.maxSafeNat(),
      ttl: fc.nat({ max: 86_400_000 }),
      host: fc.oneof(fc.string({ maxLength: 255 }), fc.string({ unit: 'grapheme', maxLength: 40 })),
      meta: fc.dictionary(
        fc.oneof(fc.constantFrom('region', 'role', 'zone'), fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' })).filter((k) => !k.includes('=') && k !== '__proto__' && Buffer.byteLength(k) <= 128),
        fc.oneof(fc.constantFrom('eu-west-1', 'db', ''), fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 30 })),
        { maxKeys: 20 },
      ),
      addrs: fc.array(fc.string({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 8 }),
      age: fc.maxSafeNat(),
      seen: fc.nat(),
    }, { requiredKeys: ['peer', 'server', 'seq', 'ttl', 'host', 'meta'] })
    .map((r) => {
      // writeRecord's order: the six fields, addrs, then age and seen (iter with times).
      const { age, seen, ...rest } = r
      const out: Record<string, unknown> = { ...rest }
      if (age !== undefined) out.age = age
      if (seen !== undefined) out.seen = seen
      return out
    })

  function batchOf(items: Uint8Array[], id = 5): Uint8Array {
    return encodeBatch(id, items)
  }

  // The generic path: the whole frame through decodeNodeFrame, then decodeRecord per item
  // (undefined items: it refused the frame or a record, `error` says with what code).
  function generic(frame: Uint8Array): { records?: unknown[]; error?: string } {
    try {
      const f = decodeNodeFrame(frame)
      if (f.t !== 'batch') return { error: 'not a batch' }
      return { records: f.items.map(decodeRecord) }
    } catch (err) {
      return { error: (err as { code?: string }).code ?? String(err) }
    }
  }

  // The reader's answer for a frame that is a whole message: its items, when it read them
  // all and they end where the frame ends.
  function fast(frame: Uint8Array): unknown[] | undefined {
    const h = readBatchHead(frame)
    expect(h).toBeDefined()
    const r = decodeRecordItems(frame, h!.pos, h!.count)
    if (r !== undefined) expect(r.end).toBe(frame.length)
    return r?.items
  }

  it('reads exactly the records the generic path gives, for any records a node sends', () => {
    fc.assert(
      fc.property(fc.array(arbValid, { maxLength: 40 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (rs, id) => {
        const frame = batchOf(rs.map((r) => encodeItem(r)), id)
        expect(readBatchHead(frame)).toMatchObject({ id, count: rs.length })
        const g = generic(frame)
        expect(g.error).toBeUndefined()
        expect(fast(frame)).toEqual(g.records)
        expect(g.records).toEqual(rs)
      }),
      { numRuns: 200 },
    )
  }, 60_000)

  it('the same records again read the same (its string cache answers, never a wrong string)', () => {
    const rs = Array.from({ length: 600 }, (_, i) => ({ ...record(i), meta: { [`k${i % 50}`]: `v${i % 70}`, region: i % 2 === 0 ? 'eu' : 'us' } }))
    const frame = batchOf(rs.map((r) => encodeItem(r)))
    expect(fast(frame)).toEqual(rs)
    expect(fast(frame)).toEqual(rs)
  })

  // A record that breaks a bound, or a layout this reader does not know: it gives the frame
  // up (undefined), never an answer the generic path would not give.
  const good = { ...record(3), meta: { region: 'eu' } }
  const bad: [string, Record<string, unknown>, boolean][] = [
    // [what, record, the generic path refuses it too]
    ['empty peer', { ...good, peer: '' }, true],
    ['peer of 129 chars', { ...good, peer: 'a'.repeat(129) }, true],
    ['server of 15 chars', { ...good, server: 'a'.repeat(15) }, true],
    ['server a number', { ...good, server: 7 }, true],
    ['seq negative', { ...good, seq: -1 }, true],
    ['seq a float', { ...good, seq: 1.5 }, true],
    ['seq past 2^53', { ...good, seq: 2 ** 60 }, true],
    ['seq a string', { ...good, seq: '1' }, true],
    ['ttl past a day', { ...good, ttl: 86_400_001 }, true],
    ['host of 256 bytes', { ...good, host: 'h'.repeat(256) }, true],
    ['host of 128 two-byte chars', { ...good, host: 'é'.repeat(128) }, true],
    ['host nil', { ...good, host: null }, true],
    ['meta of 65 entries', { ...good, meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, true],
    ['meta key of 129 bytes', { ...good, meta: { ['k'.repeat(129)]: 'v' } }, true],
    ['meta key with =', { ...good, meta: { 'a=b': 'v' } }, true],
    ['meta empty key', { ...good, meta: { '': 'v' } }, true],
    ['meta value of 1025 bytes', { ...good, meta: { a: 'v'.repeat(1025) } }, true],
    ['meta value a number', { ...good, meta: { a: 1 } }, true],
    ['meta an array', { ...good, meta: ['a'] }, true],
    ['9 addrs', { ...good, addrs: Array.from({ length: 9 }, () => '/ip4/1.2.3.4') }, true],
    ['an addr of 257 bytes', { ...good, addrs: ['/'.repeat(257)] }, true],
    ['addrs a string', { ...good, addrs: '/ip4/1.2.3.4' }, true],
    ['age negative', { ...good, age: -5 }, false],
    ['a key a later node adds', { ...good, zone: 'x' }, false],
    ['keys in another order', { server: good.server, peer: good.peer, seq: good.seq, ttl: good.ttl, host: good.host, meta: good.meta }, false],
  ]
  it.each(bad)('gives the frame up: %s', (_what, r, refused) => {
    const frame = batchOf([encodeItem(good), encodeItem(r)])
    expect(fast(frame)).toBeUndefined()
    const g = generic(frame)
    if (refused) expect(g.error).toBe('ERR_BAD_FRAME')
    else expect(g.records).toEqual([good, r])
  })

  it('gives up on invalid UTF-8, a meta key __proto__, a lying count and bytes past the last item', () => {
    const ok = encodeItem(good)
    const hostAt = Buffer.from(ok).indexOf(Buffer.from(good.host))
    const broken = Uint8Array.from(ok)
    broken[hostAt] = 0xff // not UTF-8
    expect(fast(batchOf([broken]))).toBeUndefined()
    // A key __proto__ (the encoder would not write one from an object): swapped in by bytes.
    const proto = Buffer.from(encodeItem({ ...good, meta: { XXXXXXXXX: 'x' } }))
    Buffer.from('__proto__').copy(proto, proto.indexOf(Buffer.from('XXXXXXXXX')))
    const protoFrame = batchOf([proto])
    expect(fast(protoFrame)).toBeUndefined()
    expect(generic(protoFrame).error).toBe('ERR_BAD_FRAME')
    const two = batchOf([ok, ok])
    const h = readBatchHead(two)!
    expect(decodeRecordItems(two, h.pos, 3)).toBeUndefined()
    expect(decodeRecordItems(two, h.pos, 1)).toEqual({ items: [good], end: h.pos + ok.length })
    expect(decodeRecordItems(two, h.pos, 2)).toEqual({ items: [good, good], end: two.length })
    expect(decodeRecordItems(two.subarray(0, two.length - 1), h.pos, 2)).toBeUndefined()
  })

  it('readBatchHead takes only the layout a node writes', () => {
    expect(readBatchHead(encodeFrame({ t: 'end', id: 1 }))).toBeUndefined()
    expect(readBatchHead(encode({ id: 1, t: 'batch', items: [] }))).toBeUndefined()
    expect(readBatchHead(encode({ t: 'batch', id: -1, items: [] }))).toBeUndefined()
    expect(readBatchHead(encode({ t: 'batch', id: 300, items: [1, 2] }))).toMatchObject({ id: 300, count: 2 })
    expect(readBatchHead(Uint8Array.from([0x83]))).toBeUndefined()
    // Packed after another frame: read where it starts.
    const end = encodeFrame({ t: 'end', id: 1 })
    const msg = Buffer.concat([end, encode({ t: 'batch', id: 9, items: [1] })])
    expect(readBatchHead(msg, end.length)).toEqual({ id: 9, count: 1, pos: msg.length - 1 })
  })
})
