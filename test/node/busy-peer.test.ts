/**
 * A peer that answers late keeps its connection. libp2p pings every connection every 10 s and
 * aborts one whose ping is not answered within an adaptive bound of at least 5 s; the node
 * lets a ping take 20 s (src/node/node.ts), so a busy node, whose event loop a cold start
 * holds up for seconds, is not cut off and dialled and synced again. Here the busy node is a
 * `ww start` process stopped (SIGSTOP) for {@link FREEZE} ms: long enough that one of the
 * other side's pings starts while it is stopped and waits more than 5 s for the answer.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { Cluster } from './node-helpers.js'
import { startWw, tempHome } from '../cli/helpers.js'
import { reap } from '../procs.js'
import { connect } from '../../src/proto/client/client.js'

// A ping every 10 s: one starts within the first 10 s of the freeze, and then waits at least
// FREEZE − 10 s = 6 s, past libp2p's 5 s, for the frozen peer to answer.
const FREEZE = 16_000

const cluster = new Cluster()
const homes: Array<{ cleanup(): void }> = []
afterEach(async () => {
  await cluster.cleanup()
  await reap()
  for (const h of homes.splice(0)) h.cleanup()
})

describe('a peer that is slow to answer', () => {
  it(`keeps its connection through a ${FREEZE / 1000} s stop`, async () => {
    // TTLs far beyond the freeze (heartbeats every 15–30 s): nothing expires, so only the ping
    // could end the connection.
    const a = await cluster.start({ ttl: 60_000, minPeers: 0, host: 'a' })
    const home = tempHome()
    homes.push(home)
    const p = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(home.dir, 'p.key'), '--host', 'p', '--ttl', '60s', '--min-peers', '0', '--bootstrap', a.multiaddrs[0]!, '--quiet'], home.dir)
    const pid = peerIdFromString(p.peer)
    await vi.waitFor(() => expect(a.table.get(p.peer), 'p listed by a').toBeDefined(), { timeout: 30_000, interval: 50 })
    const before = a.libp2p.getConnections(pid).map((c) => c.id)
    expect(before.length).toBeGreaterThan(0)
    const closed: string[] = []
    a.libp2p.addEventListener('connection:close', (e) => closed.push(e.detail.id))

    process.kill(-p.child.pid!, 'SIGSTOP')
    const t0 = performance.now()
    try {
      // The freeze itself is what is under test: it lasts FREEZE, whatever happens meanwhile.
      await vi.waitFor(() => expect(performance.now() - t0).toBeGreaterThanOrEqual(FREEZE), { timeout: FREEZE + 5_000, interval: 200 })
    } finally {
      process.kill(-p.child.pid!, 'SIGCONT')
    }
    // Awake again. Once p answers a query over its client protocol, its event loop has run
    // again, timers that expired during the stop included (its own pings' bounds). Then one
    // state sync from p over libp2p: it travels on the connection a already had.
    const session = await connect(p.listen)
    try {
      const peers: string[] = []
      for await (const r of session.view.iter('ls')) peers.push(r.peer)
      expect(peers).toContain(a.peer)
    } finally {
      await session.close()
    }
    expect(closed.filter((id) => before.includes(id)), 'connections to p closed').toEqual([])
    const pulled = a.sync.stats.pulled
    await a.sync.pull(pid)
    expect(a.sync.stats.pulled, 'a pulled p\'s table').toBe(pulled + 1)
    expect(closed.filter((id) => before.includes(id)), 'connections to p closed').toEqual([])
    expect(a.libp2p.getConnections(pid).map((c) => c.id)).toEqual(expect.arrayContaining(before))
    await p.stop()
  }, 90_000)
})
