/**
 * `ww top`'s model and lines without a terminal: the last minute's counts slide, a resync
 * replaces the set only at `synced`, times from the node become local times, the sort keys,
 * the rows fit the terminal, and a hostile host can't move the cursor.
 */
import { describe, expect, it } from 'vitest'
import type { RoutingRecord } from '../../src/record/record.js'
import { TopModel, topLines } from '../../src/repl/top.js'

const peer = (n: number): string => `12D3KooW${'A'.repeat(44)}${String(n).padStart(8, '0')}`
function rec(n: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peer(n), server: '00000000000000aa', seq: 1, ttl: 30_000, host: `h${n}`, meta: { role: 'db', region: `r${n % 2}` }, ...over }
}

describe('TopModel', () => {
  it('counts joins, leaves and expiries of the last 60 s only', () => {
    const m = new TopModel()
    let now = 1_000_000
    m.apply({ kind: 'synced' }, now)
    m.apply({ kind: 'joined', record: rec(1), coalesced: 1 }, now)
    m.apply({ kind: 'joined', record: rec(2), coalesced: 1 }, now)
    now += 30_000
    m.apply({ kind: 'left', record: rec(1, { ttl: 0 }), coalesced: 1 }, now)
    m.apply({ kind: 'expired', record: rec(2), coalesced: 3 }, now)
    expect(m.counts(now)).toEqual({ joined: 2, left: 1, expired: 1, unmatched: 0 })
    expect(m.peers.size).toBe(0)
    now += 30_500 // the joins are more than a minute old now
    expect(m.counts(now)).toEqual({ joined: 0, left: 1, expired: 1, unmatched: 0 })
    now += 120_000
    expect(m.counts(now)).toEqual({ joined: 0, left: 0, expired: 0, unmatched: 0 })
  })

  it('turns age and seen into local times; a resync replaces the set at synced, uncounted', () => {
    const m = new TopModel()
    const now = 5_000_000
    m.apply({ kind: 'record', record: rec(1), age: 60_000, seen: 2000 }, now)
    m.apply({ kind: 'record', record: rec(2), age: 1000, seen: 1000 }, now)
    expect(m.peers.size).toBe(0) // not before synced
    m.apply({ kind: 'synced' }, now)
    expect(m.peers.get(peer(1))).toEqual({ record: rec(1), since: now - 60_000, seenAt: now - 2000 })
    m.apply({ kind: 'updated', record: rec(1, { seq: 2 }), previous: rec(1), coalesced: 1, age: 61_000, seen: 0 }, now + 1000)
    expect(m.peers.get(peer(1))).toMatchObject({ since: now - 60_000, seenAt: now + 1000 })
    m.restart()
    m.apply({ kind: 'record', record: rec(3), age: 0, seen: 0 }, now + 2000)
    expect([...m.peers.keys()]).toEqual([peer(1), peer(2)]) // the old set stays until synced
    m.apply({ kind: 'synced' }, now + 2000)
    expect([...m.peers.keys()]).toEqual([peer(3)])
    expect(m.counts(now + 2000)).toEqual({ joined: 0, left: 0, expired: 0, unmatched: 0 })
  })

  it('sorts by host, peer, age (youngest first) and seen (longest silent first), reversed on request', () => {
    const m = new TopModel()
    const now = 5_000_000
    m.apply({ kind: 'record', record: rec(1, { host: 'c' }), age: 10_000, seen: 500 }, now)
    m.apply({ kind: 'record', record: rec(2, { host: 'a' }), age: 30_000, seen: 9000 }, now)
    m.apply({ kind: 'record', record: rec(3, { host: 'b' }), age: 20_000, seen: 4000 }, now)
    m.apply({ kind: 'synced' }, now)
    const hosts = (rows: ReturnType<TopModel['rows']>): string[] => rows.map((r) => r.record.host)
    expect(hosts(m.rows('host'))).toEqual(['a', 'b', 'c'])
    expect(hosts(m.rows('host', true))).toEqual(['c', 'b', 'a'])
    expect(hosts(m.rows('peer'))).toEqual(['c', 'a', 'b'])
    expect(hosts(m.rows('age'))).toEqual(['c', 'b', 'a'])
    expect(hosts(m.rows('seen'))).toEqual(['a', 'b', 'c'])
  })
})

describe('topLines', () => {
  it('fits the terminal, shows meta keys as columns, and cleans control characters', () => {
    const m = new TopModel()
    const now = 5_000_000
    for (let i = 0; i < 40; i++) m.apply({ kind: 'record', record: rec(i), age: 90_000, seen: 3000 }, now)
    m.apply({ kind: 'record', record: rec(99, { host: 'evil\u001b[2J' }), age: 0, seen: 0 }, now)
    m.apply({ kind: 'synced' }, now)
    const l = topLines({ model: m, sort: 'host', reverse: false, now, title: 'ww top', columns: 120, rows: 20 })
    expect(l.title).toBe('ww top — 41 peers')
    expect(l.header).toMatch(/^HOST\s+PEER\s+REGION\s+ROLE\s+AGE\s+SEEN$/)
    expect(l.body).toHaveLength(16) // 20 rows − 5 lines around them, and the "more" line
    expect(l.body.at(-1)).toBe('… 26 more (a taller terminal shows them)')
    expect(l.body[0]).toMatch(new RegExp(`^evil\\?\\[2J\\s+${peer(99)}\\s+r1\\s+db\\s+0s\\s+0s$`))
    expect(l.body[1]).toMatch(/^h0\s+\S+\s+r0\s+db\s+1m\s+3s$/)
    for (const s of [l.title, l.header, ...l.body, l.footer, l.help]) expect(s.length).toBeLessThanOrEqual(120)
    expect(l.help).toBe('sort: h host · p peer · a age · s seen (again: reverse) — now host · q quit')
  })
})
