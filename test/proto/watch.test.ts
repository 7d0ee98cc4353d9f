/**
 * `watch` over the protocol with a consumer that stops reading: the node's memory for the
 * watch stays bounded by the matching peers (the credit window holds what is in flight, the
 * watcher one pending entry per peer), and once the consumer reads again it gets the final
 * state and every removal.
 */
import { describe, expect, it, vi } from 'vitest'
import type { WatchEvent } from '../../src/api.js'
import { connect } from '../../src/proto/client/client.js'
import type { ServedTable } from '../../src/proto/server/view-cap.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable, type Watcher } from '../../src/table/table.js'
import type { Statement } from '../../src/lang/ast.js'
import { cleanupAfterEach } from '../cleanup.js'
import { serve } from '../../src/proto/server/server.js'
import { peerId } from './helpers.js'

const cleanups = cleanupAfterEach()

function rec(i: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peerId(i), server: '00000000000000aa', seq: 1, ttl: 86_400_000, host: `h${i}`, meta: { role: 'db' }, ...over }
}

// The table as served, keeping each watcher the node opens so the test can read its stats.
function watched(table: RoutingTable): ServedTable & { watchers: Watcher[] } {
  const watchers: Watcher[] = []
  return {
    watchers,
    values: (index, prefix, limit) => table.values(index, prefix, limit),
    scan: (s: Statement) => table.scan(s),
    watcher(s, o) {
      const w = table.watcher(s, o)
      watchers.push(w)
      return w
    },
  }
}

describe('watch over the protocol, a consumer that stops reading', () => {
  it('10 000 changes unread: node memory stays within the matching peers; then the final state and every removal', async () => {
    const table = new RoutingTable({ now: () => 1_000, sweep: false })
    cleanups.push(() => table.close())
    const N = 200
    for (let i = 0; i < N; i++) table.upsert(rec(i))
    const served = watched(table)
    const s2 = await serve({ listen: 'ws://127.0.0.1:0', table: served, peer: peerId(999_999) })
    cleanups.push(() => s2.close())
    const session = await connect(s2.url, { window: { initial: 16 * 1024, max: 16 * 1024 } })
    cleanups.push(() => session.close())
    const w = session.view.watch('WHERE role=db')
    const known = new Map<string, RoutingRecord>()
    for (;;) {
      const e = (await w.next()) as WatchEvent
      if (e.kind === 'synced') break
      if (e.kind === 'record') known.set(e.record.peer, e.record)
    }
    expect(known.size).toBe(N)
    const watcher = served.watchers[0]!

    // The consumer reads nothing now. 10 250 changes: 40 host changes of each of 200 peers,
    // 1 000 newcomers joining and leaving, 50 leaves, 50 moved out of the query.
    let seq = 2
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < N; i++) table.upsert(rec(i, { seq, host: `h${i}-${round}` }))
      for (let k = 0; k < 25; k++) {
        const n = 10_000 + round * 25 + k
        table.upsert(rec(n, { seq }))
        table.upsert(rec(n, { seq: seq + 1, ttl: 0 }))
      }
      seq += 2
    }
    for (let i = 0; i < 50; i++) table.upsert(rec(i, { seq, ttl: 0 }))
    for (let i = 50; i < 100; i++) table.upsert(rec(i, { seq, meta: { role: 'web' } }))
    table.upsert(rec(99_999, { seq })) // a sentinel: the last pending entry
    const st = watcher.stats()
    expect(st.changes).toBe(N * 40 + 2000 + 100 + 1)
    // One entry per peer at most: the 200 matching or held, and the sentinel.
    expect(st.maxPending).toBeLessThanOrEqual(N + 1)

    // Read again, to the sentinel.
    const events: WatchEvent[] = []
    for (;;) {
      const e = (await w.next()) as WatchEvent
      expect(e).toBeDefined()
      events.push(e)
      if (e.kind === 'record' || e.kind === 'synced') throw new Error('unexpected ' + e.kind)
      if (e.kind === 'joined' || e.kind === 'updated') known.set(e.record.peer, e.record)
      else known.delete(e.record.peer)
      if (e.record.peer === peerId(99_999)) break
    }
    // Far fewer events than changes, each saying how many it stands for.
    expect(events.length).toBeLessThan(1000)
    expect(events.some((e) => e.kind !== 'record' && e.kind !== 'synced' && e.coalesced > 1)).toBe(true)
    // Every removal arrived.
    const removed = (kind: string): string[] => events.filter((e) => e.kind === kind).map((e) => (e as { record: RoutingRecord }).record.peer).sort()
    expect(removed('left')).toEqual(Array.from({ length: 50 }, (_, i) => peerId(i)).sort())
    expect(removed('unmatched')).toEqual(Array.from({ length: 50 }, (_, i) => peerId(50 + i)).sort())
    // The consumer's view is the table's.
    const now = new Map((await table.query('WHERE role=db').toArray()).map((r) => [r.peer, r] as const))
    expect([...known.keys()].sort()).toEqual([...now.keys()].sort())
    for (const [p, r] of now) expect(known.get(p)).toEqual(r)
    w.cancel()
    await vi.waitFor(() => expect(table.watching).toBe(0))
  })
})
