/**
 * The mesh keeper's deaf check (src/cluster/mesh.ts, "Who dials"): a connected peer of the
 * table that gossipsub does not list as a subscriber of the heartbeat topic for MESH_DEAF ms
 * is hung up on; one that it lists is kept. The subscriber list is read once per check,
 * however many peers are connected. Real nodes on 127.0.0.1; their own mesh keepers are off
 * (minPeers 0), so only the keeper under test closes connections.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Mesh, MESH_DEAF } from '../../src/cluster/mesh.js'
import { Cluster } from '../node/node-helpers.js'

const cluster = new Cluster()
const meshes: Mesh[] = []
afterEach(async () => {
  for (const m of meshes.splice(0)) m.stop()
  await cluster.cleanup()
})

describe('the mesh keeper hangs up on deaf peers', () => {
  it('reads the subscribers once per check, hangs up on the deaf peer after MESH_DEAF and keeps the heard one', async () => {
    const a = await cluster.start({ ttl: 2000, minPeers: 0, host: 'a' })
    const b = await cluster.start({ ttl: 2000, minPeers: 0, host: 'b', bootstrap: [a.multiaddrs[0]!] })
    const c = await cluster.start({ ttl: 2000, minPeers: 0, host: 'c', bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.get(b.peer) !== undefined && a.table.get(c.peer) !== undefined, 'b and c in a\'s table').toBe(true), { timeout: 15_000 })
    await vi.waitFor(() => expect(a.libp2p.getPeers().map(String).sort()).toEqual([b.peer, c.peer].sort()), { timeout: 15_000 })

    let reads = 0
    const mesh = new Mesh({
      libp2p: a.libp2p,
      table: a.table,
      minPeers: 1,
      // b is heard, c is deaf.
      subscribers: () => {
        reads++
        return new Set([b.peer])
      },
    })
    meshes.push(mesh)
    const closed: string[] = []
    a.libp2p.addEventListener('peer:disconnect', (e) => closed.push(e.detail.toString()))
    mesh.start()

    // Two connected peers of the table, one read of the subscribers.
    const before = reads
    mesh.check()
    expect(reads - before).toBe(1)

    const t0 = performance.now()
    await vi.waitFor(
      () => {
        mesh.check()
        expect(closed, 'c hung up on').toContain(c.peer)
      },
      { timeout: MESH_DEAF + 10_000, interval: 100 },
    )
    expect(performance.now() - t0).toBeGreaterThanOrEqual(MESH_DEAF - 100)
    expect(mesh.stats.hangUps).toBe(1)
    expect(closed).not.toContain(b.peer)
    expect(a.libp2p.getConnections().some((conn) => conn.remotePeer.toString() === b.peer), 'b still connected').toBe(true)
  })
})
