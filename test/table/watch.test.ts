import { afterEach, describe, expect, it } from 'vitest'
import type { WatchEvent } from '../../src/api.js'
import { hasCode } from '../../src/errors.js'
import { parseQuery } from '../../src/lang/index.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { ERR_WATCH_LIMIT, RoutingTable } from '../../src/table/table.js'
import { statementTest, WatchHub, Watcher, watchKey } from '../../src/table/watch.js'

const peer = (n: number): string => `12D3KooW${n.toString(10).padStart(5, '0').replace(/\d/g, (d) => '123456789A'[Number(d)] as string)}`
const S1 = '0000000000000001'
const S2 = '0000000000000002'

function rec(n: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peer(n), server: S1, seq: 10, ttl: 1000, host: `h${n}`, meta: { role: 'db' }, ...over }
}

let t = 1_000_000
const tables: RoutingTable[] = []
function table(): RoutingTable {
  const tb = new RoutingTable({ now: () => t, sweep: false })
  tables.push(tb)
  return tb
}
afterEach(() => {
  for (const tb of tables.splice(0)) tb.close()
})

// What a consumer sees, compactly: kind and peer number (and coalesced when more than 1).
function short(e: WatchEvent): string {
  if (e.kind === 'synced') return 'synced'
  const n = Number(e.record.peer.slice(8).replace(/./g, (c) => String('123456789A'.indexOf(c))))
  const c = e.kind !== 'record' && e.coalesced > 1 ? `x${e.coalesced}` : ''
  return `${e.kind}:${n}${c}`
}

// Everything ready now, without waiting (the watcher answers synchronously when it can).
async function drain(c: ReturnType<RoutingTable['watch']>, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const e = await c.next()
    if (e === undefined) break
    out.push(short(e))
  }
  return out
}

describe('RoutingTable.watch', () => {
  it('yields the current matches in query order, synced, then each change to the match set', async () => {
    const tb = table()
    tb.upsert(rec(3))
    tb.upsert(rec(1))
    tb.upsert(rec(2, { meta: { role: 'web' } }))
    const w = tb.watch('WHERE role=db')
    expect(await drain(w, 3)).toEqual(['record:1', 'record:3', 'synced'])
    // Read after each change, so none is merged with another.
    const after = async (change: () => void): Promise<WatchEvent> => {
      change()
      return (await w.next()) as WatchEvent
    }
    expect(await after(() => tb.upsert(rec(4)))).toMatchObject({ kind: 'joined', record: { peer: peer(4) }, coalesced: 1 })
    tb.upsert(rec(4, { seq: 11 })) // heartbeat only: no event
    const upd = await after(() => tb.upsert(rec(4, { seq: 12, host: 'moved' })))
    // The pending heartbeat merges into it: previous is what the consumer holds.
    expect(upd).toMatchObject({ kind: 'updated', record: { host: 'moved' }, previous: { seq: 10 }, coalesced: 2 })
    tb.upsert(rec(2, { seq: 11, meta: { role: 'web' } })) // not matching before or after: nothing
    expect(short(await after(() => tb.upsert(rec(2, { seq: 12, meta: { role: 'db' } }))))).toBe('joined:2')
    const un = await after(() => tb.upsert(rec(1, { seq: 11, meta: { role: 'web' } })))
    expect(un).toMatchObject({ kind: 'unmatched', record: { meta: { role: 'web' } }, previous: { meta: { role: 'db' } } })
    const left = await after(() => tb.upsert(rec(3, { seq: 11, ttl: 0 })))
    expect(left).toMatchObject({ kind: 'left', record: { ttl: 0 }, previous: { seq: 10 } })
    t += 2000
    tb.sweep() // 4 and 2 expire (1 no longer matches: nothing)
    expect([short((await w.next()) as WatchEvent), short((await w.next()) as WatchEvent)].sort()).toEqual(['expired:2', 'expired:4'])
    tb.upsert(rec(9))
    expect(short((await w.next()) as WatchEvent)).toBe('joined:9')
    w.cancel()
    expect(tb.watching).toBe(0)
  })

  it('waits for the next change, and a cancel while waiting removes its listener at once', async () => {
    const tb = table()
    const w = tb.watch('WHERE role=db')
    expect(await drain(w, 1)).toEqual(['synced'])
    const next = w.next()
    tb.upsert(rec(7))
    expect(short((await next) as WatchEvent)).toBe('joined:7')
    const pending = w.next()
    expect(tb.watching).toBe(1)
    w.cancel()
    expect(await pending).toBeUndefined()
    expect(tb.watching).toBe(0)
    tb.upsert(rec(8)) // no listener left to reach
  })

  it('includes heartbeats only when asked', async () => {
    const tb = table()
    tb.upsert(rec(1))
    const w = tb.watch('WHERE role=db', { heartbeats: true })
    expect(await drain(w, 2)).toEqual(['record:1', 'synced'])
    tb.upsert(rec(1, { seq: 11 }))
    expect(await w.next()).toMatchObject({ kind: 'updated', record: { seq: 11 }, previous: { seq: 10 }, coalesced: 1 })
    w.cancel()
  })

  it('REVERSE orders the initial matches; LIMIT and LOOKUP are refused with ERR_WATCH_LIMIT', async () => {
    const tb = table()
    for (const n of [1, 2, 3]) tb.upsert(rec(n))
    expect(await drain(tb.watch('WHERE role=db REVERSE'), 4)).toEqual(['record:3', 'record:2', 'record:1', 'synced'])
    expect(() => tb.watch('WHERE role=db LIMIT 2')).toThrow(expect.objectContaining({ code: ERR_WATCH_LIMIT }))
    expect(() => tb.watch({ ...parseQuery('WHERE role=db'), op: 'lookup' })).toThrow(expect.objectContaining({ code: ERR_WATCH_LIMIT }))
    let err: unknown
    try {
      tb.watch('LIMIT 1')
    } catch (e) {
      err = e
    }
    expect(hasCode(err, ERR_WATCH_LIMIT)).toBe(true)
    expect(tb.watching).toBe(1) // only the REVERSE one, never cancelled
  })

  it('a slow watcher coalesces per peer: memory bounded by matching peers, final state, every removal', async () => {
    const tb = table()
    const keep = 50
    for (let i = 0; i < keep; i++) tb.upsert(rec(i))
    const w = tb.watcher(parseQuery('WHERE role=db'))
    for (let i = 0; i < keep + 1; i++) w.next() // the initial matches and synced
    // 14 010 changes while nobody reads: 40 kept peers update 100 times each (host changes),
    // 5 000 newcomers join and leave again before delivery, then peers 40..49 leave.
    let seq = 11
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < keep - 10; i++) tb.upsert(rec(i, { seq, host: `h${i}-${round}` }))
      for (let k = 0; k < 50; k++) {
        const n = 1000 + round * 50 + k
        tb.upsert(rec(n, { seq }))
        tb.upsert(rec(n, { seq: seq + 1, ttl: 0 }))
      }
      seq += 2
    }
    for (let i = keep - 10; i < keep; i++) tb.upsert(rec(i, { seq, ttl: 0 }))
    const st = w.stats()
    expect(st.changes).toBe((keep - 10) * 100 + 5000 * 2 + 10)
    expect(st.maxPending).toBeLessThanOrEqual(keep + 1)
    expect(st.pending).toBe(keep)
    const events: WatchEvent[] = []
    for (;;) {
      const r = w.next()
      if (r instanceof Promise) break
      if (r.done === true) break
      events.push(r.value)
    }
    w.return()
    const updated = events.filter((e) => e.kind === 'updated')
    const left = events.filter((e) => e.kind === 'left')
    expect(updated).toHaveLength(keep - 10)
    for (const e of updated) expect(e).toMatchObject({ coalesced: 100, record: { host: expect.stringMatching(/-99$/) } })
    expect(left.map((e) => e.kind !== 'synced' && e.record.peer).sort()).toEqual(Array.from({ length: 10 }, (_, i) => peer(keep - 10 + i)).sort())
    expect(events).toHaveLength(keep)
  })

  it('a removal is never merged away: left then back before delivery gives left, then joined', async () => {
    const tb = table()
    tb.upsert(rec(1))
    const w = tb.watch('WHERE role=db')
    expect(await drain(w, 2)).toEqual(['record:1', 'synced'])
    tb.upsert(rec(1, { seq: 11, ttl: 0 }))
    tb.upsert(rec(1, { seq: 12, server: S2 }))
    tb.upsert(rec(1, { seq: 13, server: S2 }))
    const a = await w.next()
    const b = await w.next()
    expect(a).toMatchObject({ kind: 'left', record: { seq: 11 }, previous: { seq: 10 }, coalesced: 1 })
    expect(b).toMatchObject({ kind: 'joined', record: { seq: 13, server: S2 }, coalesced: 2 })
    // joined and unmatched again before delivery: nothing, the consumer never knew it
    tb.upsert(rec(2))
    tb.upsert(rec(2, { seq: 11, meta: {} }))
    tb.upsert(rec(3))
    expect(short((await w.next()) as WatchEvent)).toBe('joined:3')
    w.cancel()
  })

  it('statementTest agrees with the engine on every kind of statement', () => {
    const tb = table()
    const rs: RoutingRecord[] = []
    for (let i = 0; i < 60; i++) {
      const r = rec(i, { host: i % 7 === 0 ? '' : `h${i % 5}`, meta: i % 3 === 0 ? {} : { role: ['db', 'web', 'dbx'][i % 3] as string, zone: `z${i % 4}` } })
      rs.push(r)
      tb.upsert(r)
    }
    const queries = [
      '',
      'WHERE role=db',
      'WHERE role=db*',
      'WHERE role=*',
      'WHERE host=h2',
      'FROM host=h2',
      'FROM host=h1 TO host=h3',
      'TO host=h2',
      'TO host=h2*',
      'WHERE role=db AND zone!=z1',
      'WHERE role IN (web, dbx) AND host=h*',
      'WHERE zone!=*',
      'FROM zone=z1 WHERE role=db',
      'WHERE role=db REVERSE',
    ]
    for (const q of queries) {
      const s = parseQuery(q)
      const test = statementTest(s)
      const expected = new Set([...tb.scan(s)].map((r) => r.peer))
      expect(new Set(rs.filter(test).map((r) => r.peer)), q).toEqual(expected)
    }
  })
})

describe('the index of watchers', () => {
  it('a plain heartbeat costs nothing per waiting watcher; a watcher that is behind, or asked for heartbeats, still takes it in', async () => {
    const tb = table()
    const hub = new WatchHub(tb)
    for (let i = 0; i < 10; i++) tb.upsert(rec(i))
    const waiting: Watcher[] = []
    for (let k = 0; k < 100; k++) {
      const w = new Watcher(tb, hub, parseQuery('WHERE role=db'))
      while (!(w.next() instanceof Promise)); // past synced: waiting
      waiting.push(w)
    }
    let a = hub.applied
    for (let seq = 11; seq < 111; seq++) tb.upsert(rec(3, { seq })) // 100 heartbeats of peer 3, nothing moves
    expect(hub.applied - a).toBe(0)
    // A move reaches every one of them, and wakes their waiting next() with it.
    a = hub.applied
    tb.upsert(rec(3, { seq: 200, host: 'moved' }))
    expect(hub.applied - a).toBe(100)
    for (const w of waiting) expect(w.next()).toBeInstanceOf(Promise) // read it: waiting again
    // One watcher that is behind (its event not yet read: not waiting) and one that asked
    // for heartbeats: each heartbeat reaches those two only.
    const behind = new Watcher(tb, hub, parseQuery('WHERE role=db'))
    while (!(behind.next() instanceof Promise));
    const beats = new Watcher(tb, hub, parseQuery('WHERE role=db'), { heartbeats: true })
    while (!(beats.next() instanceof Promise));
    tb.upsert(rec(4, { seq: 300, host: 'moved-4' })) // wakes all 102; only `behind` doesn't read again
    for (const w of [...waiting, beats]) expect(w.next()).toBeInstanceOf(Promise)
    tb.upsert(rec(5, { seq: 301, host: 'moved-5' })) // pending in `behind`
    for (const w of [...waiting, beats]) expect(w.next()).toBeInstanceOf(Promise)
    a = hub.applied
    tb.upsert(rec(5, { seq: 302, host: 'moved-5' })) // a heartbeat of 5: `behind` must take in the newer record
    expect(hub.applied - a).toBe(2)
    const e = behind.next() as IteratorResult<WatchEvent>
    expect(e.value).toMatchObject({ kind: 'updated', record: { host: 'moved-5', seq: 302 }, coalesced: 2 })
    for (const w of [...waiting, behind, beats]) w.return()
    expect(hub.applied).toBeGreaterThan(0) // kept after the groups are gone
  })

  it('a change visits exactly the watcher groups it can concern: those filed under the old or new value, and the unkeyed', () => {
    const tb = table()
    const hub = new WatchHub(tb)
    const open = (q: string): Watcher => {
      const w = new Watcher(tb, hub, parseQuery(q))
      while (!(w.next() instanceof Promise)); // past synced: waiting
      return w
    }
    expect(watchKey(parseQuery('WHERE role=db'))).toEqual({ ref: { field: 'meta', key: 'role' }, values: ['db'] })
    expect(watchKey(parseQuery('WHERE host IN (h1, h2) AND role!=x'))).toEqual({ ref: { field: 'host' }, values: ['h1', 'h2'] })
    expect(watchKey(parseQuery('WHERE role=d*'))).toBeUndefined()
    const db = [open('WHERE role=db'), open('WHERE role=db')] // one group, tested once
    const web = open('WHERE role=web')
    const hosts = open('WHERE host IN (h1, h2) AND role!=cache')
    const broad = open('WHERE zone!=z1')
    let v = hub.visits
    tb.upsert(rec(5)) // role=db, host h5: the db group and the unkeyed one
    expect(hub.visits - v).toBe(2)
    v = hub.visits
    tb.upsert(rec(5, { seq: 11, meta: { role: 'web' } })) // db → web: both, and the unkeyed
    expect(hub.visits - v).toBe(3)
    v = hub.visits
    tb.upsert(rec(1, { meta: { role: 'cache' } })) // host h1: the host group, and the unkeyed
    expect(hub.visits - v).toBe(2)
    v = hub.visits
    tb.upsert(rec(7, { meta: { role: 'other' } })) // nobody's key: only the unkeyed
    expect(hub.visits - v).toBe(1)
    expect(db.map((w) => w.stats().changes)).toEqual([2, 2])
    expect(web.stats().changes).toBe(1)
    expect(hosts.stats().changes).toBe(0) // h1 as cache never matched it
    expect(broad.stats().changes).toBe(4)
    v = hub.visits
    tb.upsert(rec(2, { host: 'h1' }))
    tb.upsert(rec(2, { seq: 11, host: 'h2' })) // filed under h1 and h2: visited once, not twice
    expect(hub.visits - v).toBe(6) // twice: the host group, the db group, the unkeyed
    expect(hosts.stats().changes).toBe(2)
    // (its waiting next() took the join) then the move, once:
    expect(hosts.next()).toMatchObject({ value: { kind: 'updated', record: { host: 'h2' }, previous: { host: 'h1' }, coalesced: 1 } })
    for (const w of [...db, web, hosts, broad]) w.return()
    // The last watcher gone, the hub no longer listens: a write builds no change objects.
    v = hub.visits
    tb.upsert(rec(5, { seq: 12 }))
    expect(hub.visits).toBe(v)
  })

  it('with the index, every watcher still ends with exactly its query’s matches (random changes, slow and fast readers)', async () => {
    const tb = table()
    const queries = ['WHERE role=db', 'WHERE role IN (db, web)', 'WHERE host=h3', 'WHERE role=web AND zone=z1', 'WHERE zone!=z2', '', 'WHERE host IN (h1, h4) AND role=db']
    let seed = 7
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n)
    const seqs = new Map<number, number>()
    const random = (): RoutingRecord => {
      const i = rnd(12)
      const seq = (seqs.get(i) ?? 10) + 1
      seqs.set(i, seq)
      return rec(i, { seq, host: `h${rnd(5)}`, ttl: rnd(10) === 0 ? 0 : 1000, meta: { role: ['db', 'web', 'cache'][rnd(3)]!, zone: `z${rnd(3)}` } })
    }
    for (let i = 0; i < 12; i++) tb.upsert(random())
    const watchers = queries.map((q) => ({ q, c: tb.watch(q), held: new Map<string, RoutingRecord>(), waiting: undefined as Promise<WatchEvent | undefined> | undefined }))
    const apply = (held: Map<string, RoutingRecord>, e: WatchEvent): void => {
      if (e.kind === 'synced') return
      if (e.kind === 'record' || e.kind === 'joined' || e.kind === 'updated') held.set(e.record.peer, e.record)
      else held.delete(e.record.peer)
    }
    const readReady = async (w: (typeof watchers)[number], upTo: number): Promise<void> => {
      for (let k = 0; k < upTo; k++) {
        // Only what is ready: a next() still waiting is kept for the following read.
        const r = (w.waiting ??= w.c.next())
        const e = await Promise.race([r, new Promise<'none'>((res) => setImmediate(() => res('none')))])
        if (e === 'none') return
        w.waiting = undefined
        if (e === undefined) return
        apply(w.held, e)
      }
    }
    for (let round = 0; round < 300; round++) {
      tb.upsert(random())
      if (round % 50 === 25) {
        t += 600
        tb.sweep()
      }
      // Fast readers read every round, slow ones now and then: coalescing in play.
      for (const [i, w] of watchers.entries()) if (i % 2 === 0 || round % 17 === 0) await readReady(w, 1000)
    }
    for (const w of watchers) {
      await readReady(w, 10_000)
      // The same peers, each with its current indexed fields (heartbeats alone aren't events).
      const fields = (r: RoutingRecord): string => `${r.peer} ${r.server} ${r.host} ${JSON.stringify(r.meta)}`
      const expected = [...tb.scan(parseQuery(w.q))].map(fields).sort()
      expect([...w.held.values()].map(fields).sort(), w.q).toEqual(expected)
      w.c.cancel()
    }
    expect(tb.watching).toBe(0)
  })
})
