import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { hasCode, type WwError } from '../../src/errors.js'
import { validateStatement as validateWireStatement } from '../../src/proto/wire/statement.js'
import type { Statement } from '../../src/lang/ast.js'
import { RecordError, type RoutingRecord } from '../../src/record/record.js'
import { RoutingTable, type TableChange } from '../../src/table/table.js'
import { planCacheCounts } from '../../src/table/engine.js'
import { MAX_TOMBS } from '../../src/table/expiry.js'

// base58 has no 0: write n with the digits 1…9A, zero-padded so peer order is number order
const peer = (n: number): string => `12D3KooW${n.toString(10).padStart(4, '0').replace(/\d/g, (d) => '123456789A'[Number(d)] as string)}`
const S1 = '0000000000000001'
const S2 = '0000000000000002'

function rec(n: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peer(n), server: S1, seq: 10, ttl: 1000, host: `h${n}`, meta: {}, ...over }
}

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

function clock(start = 1_000_000): { now: () => number; set: (t: number) => void; t: () => number } {
  let t = start
  return { now: () => t, set: (v) => void (t = v), t: () => t }
}

const tables: RoutingTable[] = []
function table(now: () => number, sweep = false): RoutingTable {
  const t = new RoutingTable({ now, sweep })
  tables.push(t)
  return t
}
afterEach(() => {
  for (const t of tables.splice(0)) t.close()
})

function changes(t: RoutingTable): TableChange[] {
  const out: TableChange[] = []
  t.on('change', (c) => out.push(c))
  return out
}

describe('replacement (docs/design.md#routing-table)', () => {
  it('takes a new peer and a newer seq of a known one', () => {
    const c = clock()
    const t = table(c.now)
    const ev = changes(t)
    expect(t.upsert(rec(1))).toBe(true)
    expect(t.upsert(rec(1, { seq: 11, host: 'moved' }))).toBe(true)
    expect(t.get(peer(1))?.host).toBe('moved')
    expect(t.size).toBe(1)
    expect(ev.map((e) => e.kind)).toEqual(['joined', 'updated'])
    expect(ev[1]?.previous?.host).toBe('h1')
  })

  it('ignores an equal (seq, server) as a stale duplicate even with other content', () => {
    const t = table(clock().now)
    const ev = changes(t)
    t.upsert(rec(1))
    expect(t.upsert(rec(1, { host: 'other' }))).toBe(false)
    expect(t.get(peer(1))?.host).toBe('h1')
    expect(ev).toHaveLength(1)
  })

  it('ignores a lower seq, whatever the server', () => {
    const t = table(clock().now)
    t.upsert(rec(1, { seq: 10, server: S1 }))
    expect(t.upsert(rec(1, { seq: 9, server: S2, host: 'old' }))).toBe(false)
    expect(t.get(peer(1))?.host).toBe('h1')
  })

  it('orders equal seqs by server', () => {
    const t = table(clock().now)
    t.upsert(rec(1, { server: S1 }))
    expect(t.upsert(rec(1, { server: S2, host: 'b' }))).toBe(true)
    expect(t.upsert(rec(1, { server: S1, host: 'a' }))).toBe(false)
    expect(t.get(peer(1))?.host).toBe('b')
  })

  it('a restarted peer (new server, higher seq) replaces the old instance at once', () => {
    const t = table(clock().now)
    t.upsert(rec(1, { server: S2, seq: 500 }))
    expect(t.upsert(rec(1, { server: S1, seq: 900, host: 'new' }))).toBe(true)
    expect(t.get(peer(1))).toMatchObject({ server: S1, seq: 900, host: 'new' })
    // the old instance's late heartbeat is stale now
    expect(t.upsert(rec(1, { server: S2, seq: 501 }))).toBe(false)
  })

  it('converges whatever the arrival order', () => {
    const versions = [rec(1, { seq: 3 }), rec(1, { seq: 5, server: S2 }), rec(1, { seq: 5 }), rec(1, { seq: 4 })]
    const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]
    for (const o of orders) {
      const t = table(clock().now)
      for (const i of o) t.upsert(versions[i])
      expect(t.get(peer(1))).toMatchObject({ seq: 5, server: S2 })
    }
  })

  it('index entries follow a replaced record (old values unreachable)', () => {
    const t = table(clock().now)
    t.upsert(rec(1, { host: 'a', meta: { role: 'db', az: '1' } }))
    t.upsert(rec(1, { seq: 11, host: 'b', meta: { role: 'web' } }))
    const q = (field: 'host' | 'meta', value: string, key?: string) =>
      [...t.snapshot().scan({ op: 'ls', selector: { kind: 'match', index: { field, key, value, prefix: false } }, constraints: [], reverse: false })].length
    expect(q('host', 'a')).toBe(0)
    expect(q('host', 'b')).toBe(1)
    expect(q('meta', 'db', 'role')).toBe(0)
    expect(q('meta', 'web', 'role')).toBe(1)
    expect(q('meta', '1', 'az')).toBe(0)
    expect(t.snapshot().values({ field: 'meta' })).toEqual(['role'])
  })
})

describe('validation', () => {
  it('refuses a bad record with a RecordError naming the field, storing nothing', () => {
    const t = table(clock().now)
    const cases: Array<[unknown, string]> = [
      [{ ...rec(1), peer: '0OIl' }, 'peer'],
      [{ ...rec(1), server: 'XYZ' }, 'server'],
      [{ ...rec(1), seq: -1 }, 'seq'],
      [{ ...rec(1), ttl: 1.5 }, 'ttl'],
      [{ ...rec(1), host: 7 }, 'host'],
      [{ ...rec(1), meta: { 'a=b': 'x' } }, 'meta.a=b'],
      ['nope', 'record'],
    ]
    for (const [bad, field] of cases) {
      let err: unknown
      try {
        t.upsert(bad)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(RecordError)
      expect((err as RecordError).field).toBe(field)
      expect(hasCode(err, 'ERR_INVALID_RECORD')).toBe(true)
    }
    expect(t.size).toBe(0)
  })

  it('stores a copy: mutating the input later changes nothing; yielded records are frozen', () => {
    const t = table(clock().now)
    const input = rec(1, { meta: { role: 'db' } })
    t.upsert(input)
    input.host = 'changed'
    input.meta.role = 'changed'
    const r = t.get(peer(1)) as RoutingRecord
    expect(r.host).toBe('h1')
    expect(r.meta.role).toBe('db')
    expect(Object.isFrozen(r) && Object.isFrozen(r.meta)).toBe(true)
  })
})

describe('expiry (docs/design.md#routing-table)', () => {
  it('is live at receivedAt + ttl and gone at +ttl+1, exactly', () => {
    const c = clock(5000)
    const t = table(c.now)
    t.upsert(rec(1, { ttl: 1000 }))
    const snapAtEdge = (): number => [...t.snapshot().scan(ALL)].length
    c.set(6000)
    expect(t.get(peer(1))).toBeDefined()
    expect(t.size).toBe(1)
    expect(snapAtEdge()).toBe(1)
    c.set(6001)
    expect(t.get(peer(1))).toBeUndefined()
    expect(t.size).toBe(0)
    expect(snapAtEdge()).toBe(0)
  })

  it('receivedAt is the time of the upsert that stored the record', () => {
    const c = clock(0)
    const t = table(c.now)
    t.upsert(rec(1, { seq: 1, ttl: 100 }))
    c.set(90)
    t.upsert(rec(1, { seq: 2, ttl: 100 }))
    c.set(190)
    expect(t.get(peer(1))?.seq).toBe(2)
    c.set(191)
    expect(t.get(peer(1))).toBeUndefined()
  })

  it('a snapshot filters by its own time, whatever the clock does later', () => {
    const c = clock(0)
    const t = table(c.now)
    t.upsert(rec(1, { ttl: 10 }))
    t.upsert(rec(2, { ttl: 1000 }))
    c.set(11)
    const s = t.snapshot()
    expect(s.at).toBe(11)
    expect(s.size).toBe(1)
    expect([...s.scan(ALL)].map((r) => r.peer)).toEqual([peer(2)])
    expect(s.values({ field: 'host' })).toEqual(['h2'])
  })

  it('sweep() drops expired records and emits expired', () => {
    const c = clock(0)
    const t = table(c.now)
    const ev = changes(t)
    t.upsert(rec(1, { ttl: 10 }))
    t.upsert(rec(2, { ttl: 20 }))
    c.set(15)
    expect(t.sweep()).toBe(1)
    expect(ev.filter((e) => e.kind === 'expired').map((e) => e.record.peer)).toEqual([peer(1)])
    expect(t.sweep()).toBe(0)
    c.set(21)
    expect(t.sweep()).toBe(1)
    expect(t.snapshot().values({ field: 'host' })).toEqual([])
  })

  it('an expired, unswept record is replaced by any version of another instance (a restart, its clock behind)', () => {
    const c = clock(0)
    const t = table(c.now)
    const ev = changes(t)
    t.upsert(rec(1, { seq: 50, ttl: 10 }))
    c.set(11)
    expect(t.upsert(rec(1, { seq: 40, server: 'bbbbbbbbbbbbbbbb', host: 'back' }))).toBe(true)
    expect(ev.map((e) => e.kind)).toEqual(['joined', 'expired', 'joined'])
    expect(t.get(peer(1))?.host).toBe('back')
  })

  it('an expired instance is not listed again by a late copy of its heartbeat, only by a newer one or a synced copy', () => {
    for (const swept of [true, false]) {
      const c = clock(0)
      const t = table(c.now)
      const ev = changes(t)
      t.upsert(rec(1, { seq: 40, ttl: 10 }))
      t.upsert(rec(1, { seq: 50, ttl: 10 }))
      c.set(11)
      if (swept) expect(t.sweep()).toBe(1)
      // Its last heartbeat again, or an earlier one, arriving late: the peer stays expired.
      expect(t.upsert(rec(1, { seq: 50, ttl: 10 })), `swept ${swept}`).toBe(false)
      expect(t.upsert(rec(1, { seq: 40, ttl: 10 })), `swept ${swept}`).toBe(false)
      expect(t.get(peer(1))).toBeUndefined()
      // State sync's copy from a node that still lists it is taken, for what is left of its ttl.
      expect(t.upsert(rec(1, { seq: 50, ttl: 10 }), { relist: true, age: 4 })).toBe(true)
      expect(t.get(peer(1))?.seq).toBe(50)
      c.set(18)
      t.sweep()
      expect(t.get(peer(1))).toBeUndefined()
      // A newer heartbeat of the instance lists it again.
      expect(t.upsert(rec(1, { seq: 51, ttl: 10 }))).toBe(true)
      expect(ev.map((e) => e.kind)).toEqual(['joined', 'updated', 'expired', 'joined', 'expired', 'joined'])
    }
  })

  it(`keeps at most ${MAX_TOMBS} tombstones: a flood of leaves of made-up peers forgets the oldest first`, () => {
    const t = table(clock(0).now)
    for (let n = 0; n < MAX_TOMBS + 10; n++) expect(t.upsert(rec(n, { seq: 100, ttl: 0 }))).toBe(true)
    // The first ten leaves are forgotten: an older heartbeat of those peers is taken again…
    expect(t.upsert(rec(0, { seq: 50 }))).toBe(true)
    expect(t.upsert(rec(9, { seq: 50 }))).toBe(true)
    // …the rest are remembered.
    expect(t.upsert(rec(10, { seq: 50 }))).toBe(false)
    expect(t.upsert(rec(MAX_TOMBS + 9, { seq: 50 }))).toBe(false)
  })

  it('the expired version is remembered for leaveMemory ms, then forgotten', () => {
    const c = clock(0)
    const t = new RoutingTable({ now: c.now, sweep: false, leaveMemory: 100 })
    t.upsert(rec(1, { seq: 50, ttl: 10 }))
    c.set(11)
    expect(t.sweep()).toBe(1)
    c.set(111)
    expect(t.upsert(rec(1, { seq: 50, ttl: 10 }))).toBe(false)
    c.set(112)
    expect(t.upsert(rec(1, { seq: 50, ttl: 10 }))).toBe(true)
  })

  it('the timer sweeps at the next expiry, by itself, with the real clock', async () => {
    const t = new RoutingTable()
    tables.push(t)
    const ev = changes(t)
    // Far enough apart that a stall between the upserts (a loaded CI machine) can't swap
    // which of 1 and 3 expires first.
    t.upsert(rec(1, { ttl: 600 }))
    t.upsert(rec(2, { ttl: 60_000 }))
    t.upsert(rec(3, { ttl: 20 }))
    const end = Date.now() + 15_000
    while (ev.filter((e) => e.kind === 'expired').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    const expired = ev.filter((e) => e.kind === 'expired').map((e) => e.record.peer)
    expect(expired).toEqual([peer(3), peer(1)])
    expect(t.size).toBe(1)
    expect(t.get(peer(2))).toBeDefined()
  })

  it('a swept record never outlives its TTL by more than the timer tick', async () => {
    const t = new RoutingTable()
    tables.push(t)
    let sweptAt = 0
    t.on('change', (c) => {
      if (c.kind === 'expired') sweptAt = performance.now()
    })
    // The table's default clock is performance.now based: measure on the same clock.
    const t0 = performance.now()
    t.upsert(rec(1, { ttl: 50 }))
    const end = Date.now() + 5000
    while (sweptAt === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
    expect(sweptAt).toBeGreaterThan(t0 + 50)
    // generous bound: the machine is shared; a missing timer would never sweep at all
    expect(sweptAt - t0).toBeLessThan(2000)
  })

  it('the sweep timer never keeps the process alive (unref)', () => {
    // A child process holding a table with a record due in 60 s must exit at once.
    const tableUrl = new URL('../../src/table/table.ts', import.meta.url).pathname
    const script = `import { RoutingTable } from ${JSON.stringify(tableUrl)}
const t = new RoutingTable()
t.upsert({ peer: '12D3KooWA', server: '0000000000000001', seq: 1, ttl: 60000, host: '', meta: {} })
console.log('armed', t.size)`
    const started = Date.now()
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })
    expect(r.stdout.trim()).toBe('armed 1')
    expect(r.status).toBe(0)
    expect(Date.now() - started).toBeLessThan(30_000) // not killed by the timeout: it ended by itself
  })

  it('sweep: false arms no timer', async () => {
    const t = new RoutingTable({ sweep: false })
    tables.push(t)
    const ev = changes(t)
    t.upsert(rec(1, { ttl: 1 }))
    await new Promise((r) => setTimeout(r, 50))
    expect(ev.filter((e) => e.kind === 'expired')).toHaveLength(0)
    expect(t.size).toBe(0) // the read filter still applies
    expect(t.sweep()).toBe(1)
  })
})

describe('expiry on a monotonic clock', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('the default clock ignores wall-clock steps: a jump of hours either way changes no live record', async () => {
    // The wall clock is replaced before the table exists, so a table that read it (even one
    // that kept a reference to Date.now) sees every step.
    const realNow = Date.now.bind(Date)
    let step = 0
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step)
    const t = new RoutingTable({ sweep: false })
    tables.push(t)
    t.upsert(rec(1, { ttl: 60_000 }))
    t.upsert(rec(2, { ttl: 60_000 }))
    for (const s of [+10 * 3_600_000, -10 * 3_600_000, +365 * 86_400_000]) {
      step = s
      expect(t.get(peer(1))).toBeDefined()
      expect(t.size).toBe(2)
      expect((await t.query(ALL).toArray()).map((r) => r.peer)).toEqual([peer(1), peer(2)])
      expect(t.sweep()).toBe(0)
    }
    // A leave taken while the wall clock is a year ahead is remembered as long as ever.
    t.upsert(rec(1, { seq: 11, ttl: 0 }))
    step = 0
    expect(t.upsert(rec(1, { seq: 10 }))).toBe(false)
  })

  it('the default clock is the monotonic one: records expire when it passes their ttl', () => {
    const t = new RoutingTable({ sweep: false })
    tables.push(t)
    const mono = performance.now()
    t.upsert(rec(1, { ttl: 60_000 }))
    // The wall clock stands still; only the monotonic clock moves on by more than the ttl.
    const wall = Date.now()
    vi.spyOn(Date, 'now').mockReturnValue(wall)
    vi.spyOn(performance, 'now').mockReturnValue(mono + 60_000 + 1_000)
    expect(t.get(peer(1))).toBeUndefined()
    expect(t.size).toBe(0)
    expect(t.sweep()).toBe(1)
  })

  it('an injected clock is the only one read: both clocks injected, a wall-clock jump changes nothing', () => {
    const c = clock()
    const t = table(c.now)
    t.upsert(rec(1, { ttl: 100 }))
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000)
    vi.spyOn(performance, 'now').mockReturnValue(performance.now() + 3_600_000)
    expect(t.get(peer(1))).toBeDefined()
    c.set(c.t() + 101)
    vi.restoreAllMocks()
    expect(t.get(peer(1))).toBeUndefined()
  })
})

describe('leave (ttl = 0)', () => {
  it('removes the peer at once and emits left', () => {
    const t = table(clock().now)
    const ev = changes(t)
    t.upsert(rec(1, { seq: 10 }))
    expect(t.upsert(rec(1, { seq: 11, ttl: 0 }))).toBe(true)
    expect(t.get(peer(1))).toBeUndefined()
    expect(t.size).toBe(0)
    expect([...t.snapshot().scan(ALL)]).toHaveLength(0)
    expect(ev.map((e) => e.kind)).toEqual(['joined', 'left'])
    expect(ev[1]?.previous?.seq).toBe(10)
  })

  it('an old leave does not remove a newer instance', () => {
    const t = table(clock().now)
    const ev = changes(t)
    t.upsert(rec(1, { seq: 900, server: S2 }))
    expect(t.upsert(rec(1, { seq: 500, server: S1, ttl: 0 }))).toBe(false)
    expect(t.upsert(rec(1, { seq: 900, server: S2, ttl: 0 }))).toBe(false) // same version: a duplicate
    expect(t.get(peer(1))?.seq).toBe(900)
    expect(ev.map((e) => e.kind)).toEqual(['joined'])
  })

  it('a delayed heartbeat of the departed instance does not bring it back; a restart does', () => {
    const c = clock(0)
    const t = new RoutingTable({ now: c.now, sweep: false, leaveMemory: 1000 })
    tables.push(t)
    t.upsert(rec(1, { seq: 10 }))
    t.upsert(rec(1, { seq: 12, ttl: 0 }))
    expect(t.upsert(rec(1, { seq: 11 }))).toBe(false)
    expect(t.get(peer(1))).toBeUndefined()
    expect(t.upsert(rec(1, { seq: 13, server: S2 }))).toBe(true)
    expect(t.get(peer(1))?.server).toBe(S2)
  })

  it('forgets the leave after leaveMemory', () => {
    const c = clock(0)
    const t = new RoutingTable({ now: c.now, sweep: false, leaveMemory: 1000 })
    tables.push(t)
    t.upsert(rec(1, { seq: 12, ttl: 0 }))
    expect(t.upsert(rec(1, { seq: 11 }))).toBe(false)
    c.set(1001)
    expect(t.upsert(rec(1, { seq: 11 }))).toBe(true)
  })
})

describe('snapshots (docs/design.md#routing-table)', () => {
  it('upserts, replacements, leaves and sweeps after snapshot() do not change what it yields', () => {
    const c = clock(0)
    const t = table(c.now)
    for (let i = 0; i < 50; i++) t.upsert(rec(i, { ttl: 100 + i, meta: { role: i % 2 ? 'web' : 'db' } }))
    const s = t.snapshot()
    const before = [...s.scan(ALL)]
    const roleBefore = s.values({ field: 'meta', key: 'role' })
    for (let i = 50; i < 80; i++) t.upsert(rec(i))
    for (let i = 0; i < 10; i++) t.upsert(rec(i, { seq: 11, host: 'changed', meta: { role: 'x' } }))
    for (let i = 10; i < 20; i++) t.upsert(rec(i, { seq: 11, ttl: 0 }))
    c.set(130)
    t.sweep()
    expect([...s.scan(ALL)]).toEqual(before)
    expect(s.size).toBe(50)
    expect(s.values({ field: 'meta', key: 'role' })).toEqual(roleBefore)
    // the table itself did change: 0…9 replaced, 10…19 left, 20…29 expired, 50…79 joined
    expect(t.snapshot().size).toBe(60)
    expect(t.size).toBe(60)
  })

  it('a stream keeps yielding its snapshot while the table changes under it', async () => {
    const t = table(clock().now)
    for (let i = 0; i < 100; i++) t.upsert(rec(i))
    const seen: string[] = []
    for await (const r of t.query(ALL)) {
      seen.push(r.peer)
      if (seen.length === 10) {
        for (let i = 0; i < 100; i++) t.upsert(rec(i, { seq: 11, ttl: 0 }))
        for (let i = 100; i < 200; i++) t.upsert(rec(i))
      }
    }
    expect(seen).toHaveLength(100)
    expect(new Set(seen)).toEqual(new Set(Array.from({ length: 100 }, (_, i) => peer(i))))
    expect(t.size).toBe(100)
  })
})

describe('query / lookup / cursor', () => {
  it('query yields LS results in peer order; lookup the first', async () => {
    const t = table(clock().now)
    for (const i of [3, 1, 2]) t.upsert(rec(i))
    const all = await t.query(ALL).toArray()
    expect(all.map((r) => r.peer)).toEqual([peer(1), peer(2), peer(3)])
    expect((await t.lookup({ ...ALL, reverse: true }))?.peer).toBe(peer(3))
    expect(await t.lookup({ op: 'ls', selector: { kind: 'match', index: { field: 'host', value: 'none', prefix: false } }, constraints: [], reverse: false })).toBeUndefined()
  })

  it('a repeated lookup of one query text reuses its plan (ls and lookup forms alike)', async () => {
    const t = table(clock().now)
    for (const i of [3, 1, 2]) t.upsert(rec(i))
    for (const q of ['ls WHERE host=h*', 'lookup WHERE host=h*', 'ls FROM host=h2 REVERSE']) {
      const first = await t.lookup(q) // plans it (or finds it planned by an earlier test)
      const before = planCacheCounts()
      for (let k = 0; k < 5; k++) expect(await t.lookup(q)).toEqual(first)
      const after = planCacheCounts()
      expect({ q, hits: after.hits - before.hits, misses: after.misses - before.misses }).toEqual({ q, hits: 5, misses: 0 })
    }
    expect((await t.lookup('ls WHERE host=h*'))?.peer).toBe(peer(1))
    expect((await t.lookup('ls FROM host=h2 REVERSE'))?.peer).toBe(peer(3))
  })

  it('a signal cancels the stream with ERR_ABORTED', async () => {
    const t = table(clock().now)
    for (let i = 0; i < 20; i++) t.upsert(rec(i))
    const ac = new AbortController()
    const got: RoutingRecord[] = []
    let err: unknown
    try {
      for await (const r of t.query(ALL, { signal: ac.signal })) {
        got.push(r)
        if (got.length === 3) ac.abort()
      }
    } catch (e) {
      err = e
    }
    expect(got).toHaveLength(3)
    expect(hasCode(err, 'ERR_ABORTED')).toBe(true)
    const pre = new AbortController()
    pre.abort()
    const c = t.query(ALL, { signal: pre.signal })
    expect(await c.next()).toBeUndefined()
    expect(hasCode(c.err(), 'ERR_ABORTED')).toBe(true)
  })

  it('a Statement object is checked by the language validator: what the wire refuses, query and lookup refuse', async () => {
    const t = table(clock().now)
    t.upsert(rec(1, { host: 'a', meta: { region: 'x' } }))
    const host = (value: string) => ({ field: 'host', value, prefix: false })
    const bad = [
      { ...ALL, constraints: [{ kind: 'limit', n: 0 }] },
      { ...ALL, selector: { kind: 'match', index: { field: 'meta', value: 'x', prefix: false } } },
      { ...ALL, selector: { kind: 'nope' } },
      { ...ALL, op: 'rm' },
      // Outside the grammar: a repeated LIMIT, a TO on another field than FROM's, TO after WHERE.
      { ...ALL, constraints: [{ kind: 'limit', n: 2 }, { kind: 'limit', n: 1 }] },
      { ...ALL, selector: { kind: 'from', index: host('a') }, constraints: [{ kind: 'to', index: { field: 'meta', key: 'region', value: 'x', prefix: false } }] },
      { ...ALL, selector: { kind: 'match', index: host('a') }, constraints: [{ kind: 'to', index: host('b') }] },
    ] as unknown as Statement[]
    for (const s of bad) {
      const wire = (() => {
        try {
          validateWireStatement(s)
        } catch (err) {
          return (err as WwError).code
        }
      })()
      expect(wire, JSON.stringify(s)).toBe('ERR_BAD_QUERY')
      expect(() => t.query(s), JSON.stringify(s)).toThrow(expect.objectContaining({ code: 'ERR_QUERY_BAD_STATEMENT' }))
      await expect(t.lookup(s)).rejects.toMatchObject({ code: 'ERR_QUERY_BAD_STATEMENT' })
    }
  })
})

describe('text queries (through parseQuery)', () => {
  it("the seed's examples work as written", async () => {
    const t = table(clock().now)
    t.upsert(rec(1, { host: 'my-hostname', meta: { region: 'us-east-1' } }))
    t.upsert(rec(2, { host: 'other', meta: { region: 'us-east-1' } }))
    t.upsert(rec(3, { host: 'my-hostname-2', meta: { region: 'eu-west-1' } }))
    expect((await t.query('WHERE region=us-east-1').toArray()).map((r) => r.peer)).toEqual([peer(1), peer(2)])
    expect((await t.lookup('WHERE host=my-hostname'))?.peer).toBe(peer(1))
    expect((await t.query('ls where host=my* reverse limit 1').toArray()).map((r) => r.host)).toEqual(['my-hostname-2'])
    expect((await t.query('FROM host=m TO host=my-hostname').toArray()).map((r) => r.host)).toEqual(['my-hostname'])
    expect((await t.query('TO meta.region=eu*').toArray()).map((r) => r.peer)).toEqual([peer(3)])
    expect(await t.lookup('WHERE region=nowhere')).toBeUndefined()
  })

  it('a malformed text query throws the parser error before any record is read', () => {
    const t = table(clock().now)
    let err: unknown
    try {
      t.query('WHERE host=')
    } catch (e) {
      err = e
    }
    expect((err as { code?: string }).code).toMatch(/^ERR_QUERY_/)
  })
})

describe('change listeners', () => {
  // Catches what would otherwise crash the process, so the test can assert none arrived.
  async function uncaughtDuring(f: () => void | Promise<void>): Promise<unknown[]> {
    const uncaught: unknown[] = []
    const onErr = (e: unknown): void => void uncaught.push(e)
    process.on('uncaughtException', onErr)
    process.on('unhandledRejection', onErr)
    try {
      await f()
      // Anything deferred (a microtask or timer rethrow) has run by now.
      await new Promise((r) => setTimeout(r, 20))
    } finally {
      process.off('uncaughtException', onErr)
      process.off('unhandledRejection', onErr)
    }
    return uncaught
  }

  it('a throwing listener reaches neither the writer nor the process; the table is right and the error is reported', async () => {
    const reported: Array<{ error: unknown; change: TableChange }> = []
    const t = new RoutingTable({ now: clock().now, sweep: false, onListenerError: (error, change) => void reported.push({ error, change }) })
    tables.push(t)
    const seen: string[] = []
    const bug = new Error('listener bug')
    const l1 = (): void => {
      throw bug
    }
    const l2 = (c: TableChange): void => void seen.push(`${c.kind} ${c.record.peer}`)
    const uncaught = await uncaughtDuring(() => {
      t.on('change', l1).on('change', l2)
      expect(t.upsert(rec(1))).toBe(true)
      expect(t.upsert(rec(1, { seq: 11, host: 'moved' }))).toBe(true)
      expect(t.upsert(rec(2))).toBe(true)
      expect(t.upsert(rec(2, { seq: 11, ttl: 0 }))).toBe(true)
      t.off('change', l2)
      expect(t.upsert(rec(3))).toBe(true)
    })
    expect(uncaught).toEqual([])
    // Every write completed: the state is what the writes say, indexes included.
    expect(t.size).toBe(2)
    expect(t.get(peer(1))?.host).toBe('moved')
    expect(t.get(peer(2))).toBeUndefined()
    expect((await t.query('ls WHERE host=moved').toArray()).map((r) => r.peer)).toEqual([peer(1)])
    expect((await t.query(ALL).toArray()).map((r) => r.peer)).toEqual([peer(1), peer(3)])
    // The listener after the throwing one saw each change it was registered for.
    expect(seen).toEqual([`joined ${peer(1)}`, `updated ${peer(1)}`, `joined ${peer(2)}`, `left ${peer(2)}`])
    expect(reported.map((x) => x.change.kind)).toEqual(['joined', 'updated', 'joined', 'left', 'joined'])
    expect(reported.every((x) => x.error === bug)).toBe(true)
  })

  it('a listener that throws during the timer sweep, and a reporter that throws too, crash nothing', async () => {
    const t = new RoutingTable({
      onListenerError: () => {
        throw new Error('reporter bug')
      },
    })
    tables.push(t)
    const expired: string[] = []
    t.on('change', (c) => {
      if (c.kind === 'expired') expired.push(c.record.peer)
      throw new Error('listener bug')
    })
    const uncaught = await uncaughtDuring(async () => {
      expect(t.upsert(rec(1, { ttl: 20 }))).toBe(true)
      expect(t.upsert(rec(2, { ttl: 30 }))).toBe(true)
      await vi.waitFor(() => expect(expired).toEqual([peer(1), peer(2)]), { timeout: 10_000, interval: 10 })
    })
    expect(uncaught).toEqual([])
    expect(t.size).toBe(0)
    // The timer kept working after the throws: a later record is swept too.
    t.upsert(rec(3, { ttl: 10 }))
    await vi.waitFor(() => expect(expired).toContain(peer(3)), { timeout: 10_000, interval: 10 })
  })

  it('without onListenerError, the error becomes a process warning with code ERR_LISTENER_THREW', async () => {
    const t = table(clock().now)
    t.on('change', () => {
      throw new Error('listener bug')
    })
    const warnings: Error[] = []
    const onWarn = (w: Error): void => void warnings.push(w)
    process.on('warning', onWarn)
    try {
      const uncaught = await uncaughtDuring(() => {
        expect(t.upsert(rec(1))).toBe(true)
      })
      expect(uncaught).toEqual([])
      await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { timeout: 5000, interval: 5 })
    } finally {
      process.off('warning', onWarn)
    }
    const w = warnings.find((x) => x.name === 'WwTableWarning')
    expect(w).toBeDefined()
    expect(hasCode(w, 'ERR_LISTENER_THREW')).toBe(true)
    expect(w?.message).toContain(peer(1))
    expect(t.get(peer(1))).toBeDefined()
  })
})
