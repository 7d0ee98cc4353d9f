import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Node } from '../../src/node/node.js'
import { Cluster, peersOf } from './node-helpers.js'

const cluster = new Cluster()
afterEach(async () => {
  await cluster.cleanup()
})

describe('addresses in heartbeats', () => {
  it("a node announces its dialable multiaddrs, and its peers store them with its record", async () => {
    const a = await cluster.start({ ttl: 2000 })
    const b = await cluster.start({ ttl: 2000, bootstrap: [a.multiaddrs[0]!] })
    expect(a.table.get(a.peer)!.addrs).toEqual(a.multiaddrs)
    await vi.waitFor(() => expect(b.table.get(a.peer)?.addrs, 'a seen by b').toEqual(a.multiaddrs), { timeout: 10_000 })
    await vi.waitFor(() => expect(a.table.get(b.peer)?.addrs, 'b seen by a').toEqual(b.multiaddrs), { timeout: 10_000 })
  })
})

describe('the mesh', () => {
  it('survives its bootstrap node: the other 4 of a 5-node cluster still list each other 2×TTL after it is killed', async () => {
    const ttl = 1500
    const boot = await cluster.start({ ttl, host: 'boot' })
    const rest: Node[] = []
    for (let i = 0; i < 4; i++) rest.push(await cluster.start({ ttl, host: `n${i}`, bootstrap: [boot.multiaddrs[0]!] }))
    const all = [boot, ...rest]
    await vi.waitFor(() => expect(all.every((n) => n.table.size === 5), 'convergence').toBe(true), { timeout: 15_000 })
    // Every node bootstrapped through `boot` alone; the mesh keeper connects them to each other.
    const hears = (n: Node, m: Node): boolean => n.libp2p.services.pubsub.getSubscribers(n.membership.topic).some((p) => p.equals(m.libp2p.peerId))
    await vi.waitFor(() => expect(rest.every((n) => rest.some((m) => m !== n && hears(n, m) && hears(m, n))), 'mesh').toBe(true), { timeout: 15_000 })
    await boot.kill()
    const want = rest.map((n) => n.peer).sort()
    await vi.waitFor(() => expect(rest.every((n) => n.table.get(boot.peer) === undefined), 'the bootstrap node expired').toBe(true), { timeout: ttl + 5000 })
    // From the kill to 2×TTL later, and a last look at the end: nobody loses anybody. (The dead
    // node itself may come back for one TTL: a node that missed its last heartbeat and gets it
    // late, by gossip's IWANT on a loaded machine, takes it as news. Its older copies can't: the
    // table remembers the expired version.)
    const others = (n: Node): string[] => peersOf(n).filter((p) => p !== boot.peer)
    const until = performance.now() + 2 * ttl
    while (performance.now() < until) {
      for (const n of rest) expect(others(n), `${n.peer} conns ${n.libp2p.getPeers().length} subs ${n.libp2p.services.pubsub.getSubscribers(n.membership.topic).length} mesh ${JSON.stringify(n.mesh.stats)}`).toEqual(want)
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const n of rest) expect(others(n)).toEqual(want)
  })
})
