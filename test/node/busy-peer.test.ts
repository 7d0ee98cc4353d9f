/**
 * A peer that answers late keeps its connection. libp2p pings every connection every 10 s
 * and aborts one whose ping is not answered within an adaptive bound of at least 5 s; the
 * node lets a ping take PING_TIMEOUT_MIN (10 s, src/node/node.ts), so a busy node, whose
 * event loop a cold start holds up for seconds, is not cut off and dialled and synced again.
 *
 * Here the busy node is a `ww start` process stopped (SIGSTOP) just before one of the other
 * side's ping ticks and woken {@link WAIT} ms after it: that ping waits about WAIT ms for its
 * answer, more than libp2p's 5 s and less than the node's 10 s. The ticks run every 10 s from
 * the moment the node's libp2p started, so the test knows when they come.
 */
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { mixedCluster } from './node-helpers.js'
import { startWw } from '../cli/helpers.js'
import { connect } from '../../src/proto/client/client.js'
import { PING_TIMEOUT_MIN } from '../../src/node/node.js'

// libp2p's ping period (its connection monitor's default).
const PING_EVERY = 10_000
// How long the ping under test waits, at least, for the stopped peer.
const WAIT = 7_000

const { cluster, home } = mixedCluster()

/** Resolves at `at` (performance.now() ms), at once if that has passed. */
function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())))
}

describe('a peer that is slow to answer', () => {
  it(`keeps its connection when a ping waits ${WAIT / 1000} s for its answer`, async () => {
    expect(WAIT).toBeGreaterThan(5_000)
    expect(WAIT + 1_500).toBeLessThan(PING_TIMEOUT_MIN)
    // TTLs far beyond the stop (heartbeats every 15–30 s): nothing expires, so only the ping
    // could end the connection.
    const before = performance.now()
    const a = await cluster.start({ ttl: 60_000, minPeers: 0, host: 'a' })
    const after = performance.now()
    const dir = home()
    const p = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(dir, 'p.key'), '--host', 'p', '--ttl', '60s', '--min-peers', '0', '--bootstrap', a.multiaddrs[0]!, '--quiet'], dir)
    const pid = peerIdFromString(p.peer)
    await vi.waitFor(() => expect(a.table.get(p.peer), 'p listed by a').toBeDefined(), { timeout: 30_000, interval: 50 })
    const ids = a.libp2p.getConnections(pid).map((c) => c.id)
    expect(ids.length).toBeGreaterThan(0)
    const closed: string[] = []
    a.libp2p.addEventListener('connection:close', (e) => closed.push(e.detail.id))

    // a's next ping tick lies in [before, after] + k × PING_EVERY: stop p 300 ms before the
    // earliest it can be, wake it WAIT ms after the latest.
    let k = 1
    while (before + k * PING_EVERY - 300 < performance.now() + 500) k++
    await until(before + k * PING_EVERY - 300)
    process.kill(-p.child.pid!, 'SIGSTOP')
    try {
      await until(after + k * PING_EVERY + WAIT)
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
    expect(closed.filter((id) => ids.includes(id)), 'connections to p closed').toEqual([])
    const pulled = a.sync.stats.pulled
    await a.sync.pull(pid)
    expect(a.sync.stats.pulled, "a pulled p's table").toBe(pulled + 1)
    expect(closed.filter((id) => ids.includes(id)), 'connections to p closed').toEqual([])
    expect(a.libp2p.getConnections(pid).map((c) => c.id)).toEqual(expect.arrayContaining(ids))
    await p.stop()
  }, 90_000)
})
