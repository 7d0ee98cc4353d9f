import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode } from '@msgpack/msgpack'
import type { WatchEvent } from '../../../src/api.js'
import { type ByteSink, encodeItem } from '../../../src/proto/wire/frames.js'
import { decodeWatchEvent, writeWatchEvent } from '../../../src/proto/wire/watch-codec.js'
import type { RoutingRecord } from '../../../src/record/record.js'

const arbRecord: fc.Arbitrary<RoutingRecord> = fc.record(
  {
    peer: fc.string({ minLength: 1, maxLength: 60 }),
    server: fc.stringMatching(/^[0-9a-f]{16}$/),
    seq: fc.maxSafeNat(),
    ttl: fc.nat({ max: 86_400_000 }),
    host: fc.string({ unit: 'grapheme', maxLength: 80 }),
    meta: fc.dictionary(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((k) => !k.includes('=') && k !== '__proto__'), fc.string({ maxLength: 300 }), { maxKeys: 10 }),
    addrs: fc.array(fc.string({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 }),
  },
  { requiredKeys: ['peer', 'server', 'seq', 'ttl', 'host', 'meta'] },
)
const arbTimes = fc.record({ age: fc.maxSafeNat(), seen: fc.maxSafeNat() }, { requiredKeys: [] })
const arbEvent: fc.Arbitrary<WatchEvent> = fc.oneof(
  fc.constant({ kind: 'synced' } as WatchEvent),
  fc.tuple(arbRecord, arbTimes).map(([record, t]) => ({ kind: 'record', record, ...t }) as WatchEvent),
  fc
    .tuple(fc.constantFrom('joined', 'updated', 'left', 'expired', 'unmatched'), arbRecord, fc.option(arbRecord, { nil: undefined }), fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), arbTimes)
    .map(([kind, record, previous, coalesced, t]) => ({ kind, record, previous, coalesced, ...t }) as WatchEvent),
)

// Several events written one after the other into a small sink, so it has to grow.
function written(events: unknown[]): Uint8Array[] {
  const sink: ByteSink = { buf: Buffer.allocUnsafe(8), len: 0 }
  const ends: number[] = []
  for (const e of events) {
    writeWatchEvent(e as WatchEvent, sink)
    ends.push(sink.len)
  }
  return ends.map((end, i) => new Uint8Array(sink.buf.subarray(i === 0 ? 0 : ends[i - 1]!, end)))
}

describe('watch event codec', () => {
  it('writes what the generic encoder writes, for any event (undefined fields left out), and the client decodes it', () => {
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 5 }), (events) => {
        const out = written(events)
        events.forEach((e, i) => {
          expect(decode(out[i]!)).toEqual(decode(encodeItem(e)))
          expect(decodeWatchEvent(decode(out[i]!))).toEqual(decodeWatchEvent(decode(encodeItem(e))))
        })
      }),
      { numRuns: 300 },
    )
  })

  it('an event of another shape goes through the generic encoder whole', () => {
    const r: RoutingRecord = { peer: 'p', server: '00000000000000aa', seq: 1, ttl: 1, host: 'h', meta: {} }
    for (const e of [{ kind: 'updated', record: r, coalesced: 1, later: { x: 1 } }, { kind: 'updated', record: r, coalesced: -1 }, { kind: 'other', record: r }]) {
      expect(decode(written([e])[0]!)).toEqual(e)
    }
  })
})
