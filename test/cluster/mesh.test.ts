/**
 * The mesh keeper (src/cluster/mesh.ts). Its deaf check ("Who dials"): a connected peer of
 * the table that gossipsub does not list as a subscriber of the heartbeat topic for MESH_DEAF
 * ms is hung up on; one that it lists is kept. The subscriber list is read once per check,
 * however many peers are connected. Its nudge: a node below minPeers whose table has grown
 * dials at once, not at the next regular check. Real nodes on 127.0.0.1; their own mesh
 * keepers are off (minPeers 0), so only the keeper under test dials and closes connections.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Mesh, MESH_CHECK, MESH_DEAF } from '../../src/cluster/mesh.js'
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
  }, 30_000 + MESH_DEAF + 10_000)
})

describe('the mesh keeper is nudged when the table grows', () => {
  it('dials a new peer of the table soon after nudge(), not at the next regular check', async () => {
    // Three nodes, by peer ID: a (lowest) keeps the mesh, b is its one connection, c is the
    // newcomer it must dial. a dials c at once only because a's ID is the lower one ("Who dials").
    const nodes = [await cluster.start({ ttl: 10_000, minPeers: 0 }), await cluster.start({ ttl: 10_000, minPeers: 0 }), await cluster.start({ ttl: 10_000, minPeers: 0 })]
    nodes.sort((x, y) => (x.peer < y.peer ? -1 : 1))
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await vi.waitFor(() => expect(a.table.get(b.peer), "b in a's table").toBeDefined(), { timeout: 15_000 })

    // random 0.999: every wait at the top of its jitter, so the regular checks come ~1.5 s after
    // start and then ~7.5 s apart. Each check with b connected reads the subscribers once.
    let checks = 0
    const mesh = new Mesh({
      libp2p: a.libp2p,
      table: a.table,
      minPeers: 2,
      random: () => 0.999,
      subscribers: () => {
        checks++
        return new Set([b.peer])
      },
    })
    meshes.push(mesh)
    mesh.start()
    // The first regular check finds nobody to dial (the table holds a and b, b is connected).
    await vi.waitFor(() => expect(checks).toBeGreaterThan(0), { timeout: 10_000, interval: 20 })
    expect(mesh.stats.dials).toBe(0)

    // c's record (with its addresses) arrives, as a state sync would bring it; the sync nudges.
    const record = c.table.get(c.peer)
    expect(record?.addrs?.length, "c's own record carries its addresses").toBeGreaterThan(0)
    expect(a.table.upsert(record)).toBe(true)
    const t0 = performance.now()
    mesh.nudge()
    // The next regular check is 1.5 × MESH_CHECK away; the nudged one is ~0.3 s away.
    await vi.waitFor(() => expect(mesh.stats.dials, 'a dialled c').toBe(1), { timeout: MESH_CHECK, interval: 20 })
    expect(performance.now() - t0).toBeLessThan(MESH_CHECK)
    await vi.waitFor(() => expect(a.libp2p.getPeers().map(String)).toContain(c.peer), { timeout: 15_000 })
  })
})
