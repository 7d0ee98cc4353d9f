/**
 * A partition longer than the TTL heals: a `ww start` process frozen (SIGSTOP) while the
 * others expire it, its connections closed, and its bootstrap node dead, is listed again
 * after SIGCONT, and lists the others, because each side retries the peers it lost
 * (src/cluster/reconnect.ts). Without that, neither side has an address of the other left.
 */
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { mixedCluster } from '../node/node-helpers.js'
import { startWw, type StartedNode } from '../cli/helpers.js'
import { connect } from '../../src/proto/client/client.js'

const { cluster, home } = mixedCluster()

describe('a partition longer than the TTL', () => {
  it('heals after SIGCONT although the bootstrap node is gone: both sides list each other again', async () => {
    const ttl = 1000
    const a = await cluster.start({ ttl, host: 'a' })
    const b = await cluster.start({ ttl, host: 'b', bootstrap: [a.multiaddrs[0]!] })
    const c = await cluster.start({ ttl, host: 'c', bootstrap: [a.multiaddrs[0]!] })
    const dir = home()
    const p: StartedNode = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(dir, 'p.key'), '--host', 'p', '--ttl', '1s', '--bootstrap', a.multiaddrs[0]!, '--quiet'], dir)
    const pid = peerIdFromString(p.peer)
    await vi.waitFor(() => expect([b, c].every((n) => n.table.get(p.peer) !== undefined && n.table.get(a.peer) !== undefined && n.table.size === 4), 'all four listed').toBe(true), { timeout: 30_000, interval: 50 })
    await a.kill()

    // The partition: p frozen, its connections gone, until b and c have expired it.
    process.kill(-p.child.pid!, 'SIGSTOP')
    try {
      // A cut network: the connections die at once (a graceful close would wait for p). A
      // dial whose handshake p finished just before it froze can still complete afterwards,
      // so the cut is repeated until the end of the partition.
      const cut = (): void => {
        for (const n of [b, c]) for (const conn of n.libp2p.getConnections(pid)) conn.abort(new Error('partition'))
      }
      cut()
      await vi.waitFor(() => {
        cut()
        expect([b, c].every((n) => n.table.get(p.peer) === undefined), 'p expired').toBe(true)
      }, { timeout: 10_000, interval: 50 })
      // Past the last mesh dial to p that could still be pending (p left the candidates when it
      // expired; a dial times out after 5 s), so only a reconnect can bring it back.
      const until = performance.now() + 6000
      await vi.waitFor(() => {
        cut()
        expect(performance.now() >= until, 'the partition lasts 6 s more').toBe(true)
      }, { timeout: 20_000, interval: 100 })
      expect([b, c].map((n) => n.libp2p.getConnections(pid).length), 'connections to p').toEqual([0, 0])
      expect(b.reconnect.lost + c.reconnect.lost).toBeGreaterThanOrEqual(2)
    } finally {
      process.kill(-p.child.pid!, 'SIGCONT')
    }
    // p's table expires b and c as it wakes; its bootstrap node is dead. One reconnect from
    // either side (every 2.5–7.5 s at this size) brings it back, and sync swaps the tables.
    await vi.waitFor(() => expect([b, c].every((n) => n.table.get(p.peer) !== undefined), 'p listed again').toBe(true), { timeout: 30_000, interval: 50 })
    // And p lists them again (asked over its client protocol).
    const session = await connect(p.listen)
    try {
      await vi.waitFor(
        async () => {
          const peers: string[] = []
          for await (const r of session.view.iter('ls')) peers.push(r.peer)
          expect(peers.sort(), "p's table").toEqual([b.peer, c.peer, p.peer].sort())
        },
        { timeout: 15_000, interval: 200 },
      )
    } finally {
      await session.close()
    }
    await p.stop()
  }, 90_000)
})
