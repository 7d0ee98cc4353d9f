// Heartbeats that keep every indexed field add a version to the stored entry instead of
// re-indexing it; snapshots read the version of their own generation. These tests hold many
// snapshots across such heartbeats (and field changes), let some of them be collected, and
// check that every snapshot still yields exactly what the table held when it was taken.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import type { Statement } from '../../src/lang/ast.js'
import { hasCode } from '../../src/errors.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable, type Snapshot, type TableChange } from '../../src/table/table.js'

const P = (s: string): string => `12D3KooW${s}`
const S1 = '0000000000000001'
const S2 = '0000000000000002'
const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }
const where = (field: 'host' | 'server', value: string, prefix = false): Statement => ({
  op: 'ls',
  selector: { kind: 'match', index: { field, value, prefix } },
  constraints: [],
  reverse: false,
})
const whereMeta = (key: string, value: string, reverse = false): Statement => ({
  op: 'ls',
  selector: { kind: 'match', index: { field: 'meta', key, value, prefix: false } },
  constraints: [],
  reverse,
})

const tables: RoutingTable[] = []
function table(now: () => number): RoutingTable {
  const t = new RoutingTable({ now, sweep: false })
  tables.push(t)
  return t
}
afterEach(() => {
  for (const t of tables.splice(0)) t.close()
})

// A real collection, so that FinalizationRegistry callbacks run and the table cuts versions.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 0))
  }
}

describe('heartbeats with the same fields (versions)', () => {
  it('a snapshot keeps yielding the record of its time; later snapshots see the new one', () => {
    let now = 1000
    const t = table(() => now)
    const meta = { region: 'eu', role: 'web' }
    t.upsert({ peer: P('A'), server: S1, seq: 1, ttl: 100, host: 'h', meta })
    const s1 = t.snapshot()
    now += 10
    expect(t.upsert({ peer: P('A'), server: S1, seq: 2, ttl: 100, host: 'h', meta: { role: 'web', region: 'eu' } })).toBe(true)
    const s2 = t.snapshot()
    now += 10
    t.upsert({ peer: P('A'), server: S1, seq: 3, ttl: 500, host: 'h', meta })
    const s3 = t.snapshot()
    for (const [s, seq] of [
      [s1, 1],
      [s2, 2],
      [s3, 3],
    ] as const) {
      expect([...s.scan(ALL)].map((r) => r.seq)).toEqual([seq])
      expect([...s.scan(whereMeta('region', 'eu'))].map((r) => r.seq)).toEqual([seq])
      expect([...s.scan(whereMeta('role', 'web', true))].map((r) => r.seq)).toEqual([seq])
      expect([...s.scan(where('host', 'h'))].map((r) => r.seq)).toEqual([seq])
    }
    expect(t.get(P('A'))?.seq).toBe(3)
    // the refreshed expiry counts: live at 1020 + 500, gone 1 ms later
    now = 1520
    expect(t.size).toBe(1)
    expect([...t.snapshot().scan(ALL)].map((r) => r.seq)).toEqual([3])
    // s1 was taken at 1000 and expires by its own clock: still yields its record
    expect(s1.size).toBe(1)
    now = 1521
    expect(t.size).toBe(0)
    expect(t.sweep()).toBe(1)
    expect([...t.snapshot().scan(ALL)]).toEqual([])
    expect([...s2.scan(ALL)].map((r) => r.seq)).toEqual([2])
  })

  it('a heartbeat that changes one meta value moves the peer in that index only, old snapshots unchanged', () => {
    const now = 1000
    const t = table(() => now)
    const events: TableChange[] = []
    t.on('change', (c) => events.push(c))
    t.upsert({ peer: P('A'), server: S1, seq: 1, ttl: 100, host: 'h', meta: { region: 'eu', version: '1' } })
    t.upsert({ peer: P('B'), server: S1, seq: 1, ttl: 100, host: 'h', meta: { region: 'eu', version: '1' } })
    const before = t.snapshot()
    t.upsert({ peer: P('A'), server: S1, seq: 2, ttl: 100, host: 'h', meta: { region: 'eu', version: '2' } })
    const after = t.snapshot()
    expect([...after.scan(whereMeta('version', '1'))].map((r) => r.peer)).toEqual([P('B')])
    expect([...after.scan(whereMeta('version', '2'))].map((r) => [r.peer, r.seq])).toEqual([[P('A'), 2]])
    expect([...after.scan(whereMeta('region', 'eu'))].map((r) => r.seq)).toEqual([2, 1])
    expect([...before.scan(whereMeta('version', '1'))].map((r) => [r.peer, r.seq])).toEqual([
      [P('A'), 1],
      [P('B'), 1],
    ])
    expect([...before.scan(whereMeta('version', '2'))]).toEqual([])
    expect(after.values({ field: 'meta', key: 'version' })).toEqual(['1', '2'])
    // a meta key dropped or added is a field change too
    t.upsert({ peer: P('A'), server: S1, seq: 3, ttl: 100, host: 'h', meta: { region: 'eu' } })
    t.upsert({ peer: P('B'), server: S1, seq: 2, ttl: 100, host: 'h', meta: { region: 'eu', version: '1', az: 'a' } })
    const last = t.snapshot()
    expect([...last.scan(whereMeta('version', '2'))]).toEqual([])
    expect([...last.scan(whereMeta('az', 'a'))].map((r) => r.peer)).toEqual([P('B')])
    expect(last.values({ field: 'meta' })).toEqual(['az', 'region', 'version'])
    expect(events.map((e) => [e.kind, e.record.seq, e.previous?.seq])).toEqual([
      ['joined', 1, undefined],
      ['joined', 1, undefined],
      ['updated', 2, 1],
      ['updated', 3, 2],
      ['updated', 2, 1],
    ])
  })

  it('a restart (new server) re-indexes; the old instance stays in old snapshots', () => {
    const now = 1000
    const t = table(() => now)
    t.upsert({ peer: P('A'), server: S1, seq: 1, ttl: 100, host: 'h', meta: {} })
    const s1 = t.snapshot()
    t.upsert({ peer: P('A'), server: S2, seq: 5, ttl: 100, host: 'h', meta: {} })
    expect([...t.snapshot().scan(where('server', S1))]).toEqual([])
    expect([...t.snapshot().scan(where('server', S2))].map((r) => r.seq)).toEqual([5])
    expect([...s1.scan(where('server', S1))].map((r) => r.seq)).toEqual([1])
  })

  it('snapshots collected while heartbeats go on: the live ones still read their versions', async () => {
    let now = 1000
    const t = table(() => now)
    const peers = ['A', 'B', 'C', 'D'].map(P)
    const seq = new Map(peers.map((p) => [p, 0]))
    const beat = (p: string): void => {
      const s = (seq.get(p) as number) + 1
      seq.set(p, s)
      t.upsert({ peer: p, server: S1, seq: s, ttl: 10_000, host: `h-${p}`, meta: { role: 'web' } })
    }
    for (const p of peers) beat(p)
    const kept: Array<{ s: Snapshot; want: number[] }> = []
    for (let round = 0; round < 30; round++) {
      now += 1
      // many snapshots, most dropped at once; every fifth is kept with what it must yield
      for (let i = 0; i < 5; i++) {
        const s = t.snapshot()
        if (i === 0 && round % 5 === 0) kept.push({ s, want: peers.map((p) => seq.get(p) as number) })
        beat(peers[(round + i) % peers.length] as string)
      }
      if (round % 7 === 0) await collect()
    }
    await collect()
    for (let i = 0; i < 20; i++) for (const p of peers) beat(p)
    for (const { s, want } of kept) {
      expect([...s.scan(ALL)].map((r) => r.seq)).toEqual(want)
      expect([...s.scan(whereMeta('role', 'web'))].map((r) => r.seq)).toEqual(want)
    }
    expect([...t.snapshot().scan(ALL)].map((r) => r.seq)).toEqual(peers.map((p) => seq.get(p)))
  })

  it('a running scan keeps its snapshot (and versions) after the snapshot object is dropped', async () => {
    const now = 1000
    const t = table(() => now)
    for (let i = 0; i < 50; i++) t.upsert({ peer: P(`A${'B'.repeat(i)}`), server: S1, seq: 1, ttl: 10_000, host: 'h', meta: {} })
    const it = t.snapshot().scan(ALL)
    const first = it.next().value as RoutingRecord
    for (let round = 2; round < 6; round++) {
      for (let i = 0; i < 50; i++) t.upsert({ peer: P(`A${'B'.repeat(i)}`), server: S1, seq: round, ttl: 10_000, host: 'h', meta: {} })
      t.snapshot() // a newer snapshot, dropped at once
      await collect()
    }
    const rest = [...it]
    expect(first.seq).toBe(1)
    expect(rest).toHaveLength(49)
    expect(rest.every((r) => r.seq === 1)).toBe(true)
  })
})

// The record `t` stores for `peer` now, held only weakly (made in its own frame so that no
// strong reference lingers in the test's).
function weakRecord(t: RoutingTable, peer: string): WeakRef<RoutingRecord> {
  return new WeakRef(t.get(peer) as RoutingRecord)
}

const released = (f: () => unknown): boolean => {
  try {
    f()
  } catch (err) {
    return hasCode(err, 'ERR_SNAPSHOT_RELEASED')
  }
  return false
}

describe('explicit release', () => {
  const rec = (p: string, seq: number): RoutingRecord => ({ peer: P(p), server: S1, seq, ttl: 10_000, host: 'h', meta: { role: 'web' } })

  it('release() lets the next heartbeat drop the versions only that snapshot read, with the snapshot still referenced', async () => {
    const t = table(() => 1000)
    t.upsert(rec('A', 1))
    t.upsert(rec('B', 1))
    const oldA = weakRecord(t, P('A'))
    const oldB = weakRecord(t, P('B'))
    const freed = t.snapshot()
    const kept = t.snapshot()
    freed.release()
    kept.release() // …and taken again below: only the second one holds
    const holder = t.snapshot()
    t.upsert(rec('A', 2)) // heartbeats: each makes a new version of its entry
    t.upsert(rec('B', 2))
    holder.release()
    t.upsert(rec('A', 3)) // trims A's chain: nobody reads seq 1 or 2 any more
    await collect()
    expect(oldA.deref()).toBeUndefined()
    // B's chain was trimmed only while `holder` was live: seq 1 is still linked behind seq 2
    // until B's next heartbeat.
    expect(oldB.deref()).toBeDefined()
    t.upsert(rec('B', 3))
    await collect()
    expect(oldB.deref()).toBeUndefined()
    expect([freed.released, kept.released, holder.released]).toEqual([true, true, true])
  })

  it('an unreleased snapshot keeps its versions (the control of the test above)', async () => {
    const t = table(() => 1000)
    t.upsert(rec('A', 1))
    const oldA = weakRecord(t, P('A'))
    const s = t.snapshot()
    for (let seq = 2; seq < 5; seq++) t.upsert(rec('A', seq))
    await collect()
    expect(oldA.deref()).toBeDefined()
    expect([...s.scan(ALL)].map((r) => r.seq)).toEqual([1])
    s.release()
  })

  it('`using` releases at the end of the block; later use throws ERR_SNAPSHOT_RELEASED', () => {
    const t = table(() => 1000)
    t.upsert(rec('A', 1))
    let outside: Snapshot
    {
      using s = t.snapshot()
      outside = s
      expect(s.released).toBe(false)
      expect([...s.scan(ALL)].map((r) => r.seq)).toEqual([1])
      expect(s.values({ field: 'meta' })).toEqual(['role'])
    }
    expect(outside.released).toBe(true)
    expect(released(() => outside.scan(ALL))).toBe(true)
    expect(released(() => outside.values({ field: 'host' }))).toBe(true)
    // what it measured when taken stays readable
    expect(outside.size).toBe(1)
    expect(outside.at).toBe(1000)
  })

  it('release is idempotent: releasing one snapshot twice never releases another of the same generation', () => {
    const t = table(() => 1000)
    for (const p of ['A', 'B', 'C']) t.upsert(rec(p, 1))
    const once = t.snapshot()
    const other = t.snapshot() // same generation as `once`
    once.release()
    once.release()
    once[Symbol.dispose]()
    for (let seq = 2; seq < 5; seq++) for (const p of ['A', 'B', 'C']) t.upsert(rec(p, seq))
    // Had the repeated releases counted, `other`'s generation would be unheld and its
    // versions cut by these heartbeats: it would yield nothing.
    expect([...other.scan(ALL)].map((r) => r.seq)).toEqual([1, 1, 1])
    other.release()
  })

  it('a scan started before release() holds its versions on its own until it ends', async () => {
    const t = table(() => 1000)
    for (const p of ['A', 'B', 'C']) t.upsert(rec(p, 1))
    const s = t.snapshot()
    const it = s.scan(ALL)
    expect(it.next().value?.seq).toBe(1)
    s.release()
    for (let seq = 2; seq < 5; seq++) for (const p of ['A', 'B', 'C']) t.upsert(rec(p, seq))
    await collect()
    expect([...it].map((r) => r.seq)).toEqual([1, 1])
    expect(released(() => s.scan(ALL))).toBe(true)
  })

  it('a scan closed before its first pull releases at once, not when collected', async () => {
    const t = table(() => 1000)
    t.upsert(rec('A', 1))
    const oldA = weakRecord(t, P('A'))
    const s = t.snapshot()
    const scans = [t.scan(ALL), s.scan(ALL)]
    const cursor = t.query(ALL)
    s.release()
    for (const g of scans) g.return(undefined)
    cursor.cancel()
    t.upsert(rec('A', 2))
    await collect()
    expect(oldA.deref()).toBeUndefined()
    // all still referenced here
    expect(scans.map((g) => g.next().done)).toEqual([true, true])
    expect(await cursor.next()).toBeUndefined()
  })
})

describe('query cursors across heartbeats', () => {
  it('a cursor (cancelled, finished or pending) yields the versions of its start, lookup too', async () => {
    const now = 1000
    const t = table(() => now)
    const peers = ['A', 'B', 'C'].map(P)
    const beat = (seq: number): void => {
      for (const p of peers) t.upsert({ peer: p, server: S1, seq, ttl: 10_000, host: 'h', meta: { role: 'web' } })
    }
    beat(1)
    const pending = t.query(whereMeta('role', 'web'))
    const cancelled = t.query(ALL)
    const finished = t.query(ALL)
    expect((await cancelled.next())?.seq).toBe(1)
    cancelled.cancel()
    expect((await finished.toArray()).map((r) => r.seq)).toEqual([1, 1, 1])
    beat(2)
    expect((await t.lookup(ALL))?.seq).toBe(2)
    const second = t.query(ALL)
    beat(3)
    beat(4)
    expect((await pending.toArray()).map((r) => r.seq)).toEqual([1, 1, 1])
    expect((await second.toArray()).map((r) => r.seq)).toEqual([2, 2, 2])
    expect((await t.query(ALL).toArray()).map((r) => r.seq)).toEqual([4, 4, 4])
  })
})

// Property: heartbeats mostly keep their fields (the steady state), sometimes change one;
// every snapshot, taken anywhere in the sequence and read at the end, equals the model's
// live records at its time, for `all` and for an index walk.
describe('snapshots across heartbeats (property)', () => {
  const KEYS = ['region', 'role']
  const arbStep = fc.record({
    peer: fc.constantFrom(...['A', 'B', 'C'].map(P)),
    change: fc.constantFrom('none', 'none', 'none', 'host', 'meta', 'server', 'leave'),
    value: fc.constantFrom('x', 'y'),
    ttl: fc.constantFrom(5, 50, 1000),
    dt: fc.integer({ min: 0, max: 10 }),
    snap: fc.boolean(),
  })
  it('every snapshot yields the live records of its time', () => {
    fc.assert(
      fc.property(fc.array(arbStep, { maxLength: 40 }), (steps) => {
        let now = 0
        const t = new RoutingTable({ now: () => now, sweep: false })
        const cur = new Map<string, { r: RoutingRecord; exp: number }>()
        const snaps: Array<{ s: Snapshot; live: RoutingRecord[] }> = []
        let seq = 1
        for (const st of steps) {
          now += st.dt
          const old = cur.get(st.peer)
          const base = old !== undefined && old.exp >= now ? old.r : { peer: st.peer, server: S1, seq: 0, ttl: 0, host: 'h', meta: { region: 'x' } }
          const r: RoutingRecord = { ...base, seq: seq++, ttl: st.ttl, meta: { ...base.meta } }
          if (st.change === 'host') r.host = `h${st.value}`
          if (st.change === 'server') r.server = r.server === S1 ? S2 : S1
          if (st.change === 'meta') r.meta[KEYS[st.value === 'x' ? 0 : 1] as string] = st.value
          if (st.change === 'leave') r.ttl = 0
          expect(t.upsert(r)).toBe(true)
          if (r.ttl === 0) cur.delete(st.peer)
          else cur.set(st.peer, { r, exp: now + r.ttl })
          if (st.snap) {
            const live = [...cur.values()].filter((e) => e.exp >= now).map((e) => e.r)
            live.sort((a, b) => (a.peer < b.peer ? -1 : 1))
            snaps.push({ s: t.snapshot(), live })
          }
        }
        t.sweep()
        for (const { s, live } of snaps) {
          expect(s.size).toBe(live.length)
          expect([...s.scan(ALL)]).toEqual(live)
          expect([...s.scan(whereMeta('region', 'x'))]).toEqual(live.filter((r) => r.meta.region === 'x'))
          expect([...s.scan(where('host', 'h', true))].length).toBe(live.length)
        }
        t.close()
      }),
      { numRuns: 300 },
    )
  })
})

// The expiry index files entries in 64 ms buckets; reads, size and the sweep stay exact to the
// millisecond whatever bucket an entry sits in, and heartbeats move entries between buckets.
describe('expiry, exact across buckets', () => {
  it('size and sweep are exact to the ms; expired events come soonest first, ties by peer', () => {
    let now = 10_000
    const t = table(() => now)
    const expired: string[] = []
    t.on('change', (c) => {
      if (c.kind === 'expired') expired.push(`${c.record.peer.slice(8)}@${c.record.ttl}`)
    })
    // ttls straddling bucket edges (64 ms): 63, 64, 65, 127, 128, 129 and two equal ones
    const ttls: Array<[string, number]> = [
      ['F', 63],
      ['E', 64],
      ['D', 65],
      ['C', 127],
      ['B', 128],
      ['A', 128],
      ['G', 129],
      ['H', 1000],
    ]
    for (const [p, ttl] of ttls) t.upsert({ peer: P(p), server: S1, seq: 1, ttl, host: 'h', meta: {} })
    // a heartbeat moves H to a later bucket, and G to an earlier one (shorter ttl)
    now = 10_010
    t.upsert({ peer: P('H'), server: S1, seq: 2, ttl: 2000, host: 'h', meta: {} })
    t.upsert({ peer: P('G'), server: S1, seq: 2, ttl: 50, host: 'h', meta: {} }) // exp 10_060
    const liveAt = (at: number): number => ttls.filter(([p, ttl]) => (p === 'H' ? 12_010 : p === 'G' ? 10_060 : 10_000 + ttl) >= at).length
    for (const at of [10_059, 10_060, 10_061, 10_063, 10_064, 10_065, 10_066, 10_127, 10_128, 10_129, 12_010, 12_011]) {
      now = at
      expect(t.size).toBe(liveAt(at))
      expect(t.snapshot().size).toBe(liveAt(at))
    }
    now = 10_064
    expect(t.sweep()).toBe(2)
    expect(expired).toEqual(['G@50', 'F@63'])
    now = 10_128
    expect(t.sweep()).toBe(3)
    expect(expired.slice(2)).toEqual(['E@64', 'D@65', 'C@127'])
    now = 10_129
    expect(t.sweep()).toBe(2)
    expect(expired.slice(5)).toEqual(['A@128', 'B@128'])
    expect([...t.snapshot().scan(ALL)].map((r) => r.peer)).toEqual([P('H')])
    now = 12_011
    expect(t.sweep()).toBe(1)
    expect(t.size).toBe(0)
  })
})

describe('table.scan', () => {
  it('yields what a snapshot taken at the same moment yields, unchanged by later heartbeats', () => {
    const t = new RoutingTable({ sweep: false })
    const base = { server: '0123456789abcdef', ttl: 10_000, host: 'h', meta: { role: 'web' } }
    const peers = ['12D3KooWAa', '12D3KooWBb', '12D3KooWCc']
    peers.forEach((peer, i) => t.upsert({ ...base, peer, seq: 10 + i }))
    const all = { op: 'ls' as const, selector: { kind: 'all' as const }, constraints: [], reverse: false }
    const expected = [...t.snapshot().scan(all)]
    const it = t.scan(all)
    const first = it.next()
    // heartbeats (same fields, newer seq) and a new peer arrive mid-scan
    peers.forEach((peer, i) => t.upsert({ ...base, peer, seq: 100 + i }))
    t.upsert({ ...base, peer: '12D3KooWDd', seq: 1 })
    const rest = [...{ [Symbol.iterator]: () => it }]
    expect([first.value, ...rest]).toEqual(expected)
    expect(expected.map((r) => r.seq)).toEqual([10, 11, 12])
    // a scan started now sees the new state
    expect([...t.scan(all)].map((r) => r.seq)).toEqual([100, 101, 102, 1])
  })
})
