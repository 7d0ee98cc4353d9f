import { describe, expect, it } from 'vitest'
import { connect } from '../../src/proto/client/client.js'
import { text } from '../../src/format/text.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable } from '../../src/table/table.js'
import { peerId, serveTable } from '../proto/helpers.js'

function rec(i: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peerId(i), server: '00000000000000aa', seq: 1, ttl: 60_000, host: `h${i}`, meta: { role: 'db' }, ...over }
}

describe('age and last-seen', () => {
  it('the table knows when it first took in an instance and when its last record came', () => {
    let t = 1_000_000
    const tb = new RoutingTable({ now: () => t, sweep: false })
    tb.upsert(rec(1))
    t += 5000
    tb.upsert(rec(1, { seq: 2 })) // heartbeat
    t += 2000
    expect(tb.times(peerId(1), '00000000000000aa')).toEqual({ age: 7000, seen: 2000 })
    tb.upsert(rec(1, { seq: 3, host: 'moved' })) // same instance, other fields: keeps its age
    t += 1000
    expect(tb.times(peerId(1), '00000000000000aa')).toEqual({ age: 8000, seen: 1000 })
    tb.upsert(rec(1, { seq: 4, server: '00000000000000bb' })) // a restart: a new instance
    t += 500
    expect(tb.times(peerId(1), '00000000000000aa')).toBeUndefined()
    expect(tb.times(peerId(1), '00000000000000bb')).toEqual({ age: 500, seen: 500 })
    t += 60_001
    expect(tb.times(peerId(1), '00000000000000bb')).toBeUndefined() // expired
    tb.close()
  })

  it('iter with times carries age and seen over the protocol; the text format shows AGE and SEEN', async () => {
    let t = 1_000_000
    const tb = new RoutingTable({ now: () => t, sweep: false })
    tb.upsert(rec(1))
    t += 60_000 - 1
    tb.upsert(rec(1, { seq: 2 }))
    t += 1
    tb.upsert(rec(2))
    t += 3000
    const server = await serveTable(tb)
    const session = await connect(server.url)
    try {
      const got = await session.view.iter('WHERE role=db', { times: true }).toArray()
      expect(got).toEqual([
        { ...rec(1, { seq: 2 }), age: 63_000, seen: 3001 },
        { ...rec(2), age: 3000, seen: 3000 },
      ])
      // Without asking, records are exactly as before.
      expect(await session.view.iter('WHERE role=db').toArray()).toEqual([rec(1, { seq: 2 }), rec(2)])
      let out = ''
      const f = text({ write: (s: string) => void (out += s) })
      f.begin()
      for (const r of got) f.record(r)
      f.end({ count: 2, elapsedMs: 1 })
      const lines = out.trim().split('\n')
      expect(lines[0]).toMatch(/^PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META$/)
      expect(lines[1]).toMatch(/\sh1\s+1m\s+3s\s+role=db$/)
      expect(lines[2]).toMatch(/\sh2\s+3s\s+3s\s+role=db$/)
    } finally {
      await session.close()
      await server.close()
      tb.close()
    }
  })

  it('watch with times stamps each event of a live instance with age and seen when it is sent, over the protocol too', async () => {
    let t = 1_000_000
    const tb = new RoutingTable({ now: () => t, sweep: false })
    tb.upsert(rec(1))
    t += 4000
    const server = await serveTable(tb)
    const session = await connect(server.url)
    try {
      const w = session.view.watch('WHERE role=db', { times: true, heartbeats: true })
      const plain = session.view.watch('WHERE role=db')
      expect(await w.next()).toEqual({ kind: 'record', record: rec(1), age: 4000, seen: 4000 })
      expect(await w.next()).toEqual({ kind: 'synced' })
      expect(await plain.next()).toEqual({ kind: 'record', record: rec(1) }) // not asked: exactly as before
      expect(await plain.next()).toEqual({ kind: 'synced' })
      t += 1000
      tb.upsert(rec(1, { seq: 2 })) // a heartbeat: seen starts again, age goes on
      expect(await w.next()).toMatchObject({ kind: 'updated', record: rec(1, { seq: 2 }), age: 5000, seen: 0 })
      t += 250
      tb.upsert(rec(2))
      expect(await w.next()).toEqual({ kind: 'joined', record: rec(2), coalesced: 1, age: 0, seen: 0 })
      tb.upsert(rec(1, { seq: 3, ttl: 0 })) // a leave: the instance is gone, no times
      const left = await w.next()
      expect(left).toMatchObject({ kind: 'left', record: rec(1, { seq: 3, ttl: 0 }) })
      expect(left).not.toHaveProperty('age')
      expect(left).not.toHaveProperty('seen')
      tb.upsert(rec(2, { host: 'moved', seq: 2 }))
      // Without times the events are exactly as before, with no age or seen keys.
      expect(await plain.next()).toEqual({ kind: 'joined', record: rec(2), coalesced: 1 })
      // (coalesced 1 or 2: whether the heartbeat was merged into it depends on when it was read)
      const plainLeft = await plain.next()
      expect(plainLeft).toMatchObject({ kind: 'left', record: rec(1, { seq: 3, ttl: 0 }) })
      expect(Object.keys(plainLeft!).sort()).toEqual(['coalesced', 'kind', 'previous', 'record'])
      expect(await plain.next()).toEqual({ kind: 'updated', record: rec(2, { host: 'moved', seq: 2 }), previous: rec(2), coalesced: 1 })
      w.cancel()
      plain.cancel()
    } finally {
      await session.close()
      await server.close()
      tb.close()
    }
  })
})
