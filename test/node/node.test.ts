import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Libp2p } from 'libp2p'
import type { GossipSub } from '@libp2p/gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeHeartbeat } from '../../src/cluster/heartbeat.js'
import { heartbeatTopic } from '../../src/cluster/membership.js'
import { ERR_BAD_MULTIADDR, type Node } from '../../src/node/node.js'
import { connect } from '../../src/proto/client/client.js'
import { Cluster, peersOf } from './node-helpers.js'
import { meshNode } from '../cluster/pubsub-helpers.js'

const cluster = new Cluster()
afterEach(async () => {
  await cluster.cleanup()
})

const sorted = (nodes: Node[]): string[] => nodes.map((n) => n.peer).sort()

describe('startNode', () => {
  it('exposes peer, server, full multiaddrs and its own record', async () => {
    const n = await cluster.start({ host: 'solo', meta: { role: 'db' }, ttl: 2000 })
    expect(n.peer).toMatch(/^12D3KooW/)
    expect(n.server).toMatch(/^[0-9a-f]{16}$/)
    expect(n.addr).toBeUndefined()
    expect(n.multiaddrs.length).toBeGreaterThan(0)
    for (const a of n.multiaddrs) expect(a).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${n.peer}$`))
    expect(n.table.get(n.peer)).toMatchObject({ peer: n.peer, server: n.server, ttl: 2000, host: 'solo', meta: { role: 'db' } })
    expect(n.libp2p.services.pubsub.getTopics()).toEqual([heartbeatTopic('ww')])
  })

  it('serves its table to clients at node.addr, behind the token, until stopped', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', host: 'a', meta: { region: 'eu' }, token: 's3cret' })
    const b = await cluster.start({ host: 'b', meta: { region: 'us' }, bootstrap: [a.multiaddrs[0]!] })
    expect(a.addr).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/)
    await vi.waitFor(() => expect(a.table.size, 'convergence').toBe(2), { timeout: 10_000 })
    const session = await connect(a.addr!, { token: 's3cret' })
    try {
      expect(session.peer).toBe(a.peer)
      const got = []
      for await (const r of session.view.iter('WHERE region=us')) got.push(r)
      expect(got).toEqual([expect.objectContaining({ peer: b.peer, server: b.server, host: 'b' })])
    } finally {
      await session.close()
    }
    const anonymous = await connect(a.addr!)
    try {
      expect(anonymous.view.isNull).toBe(true)
    } finally {
      await anonymous.close()
    }
    await a.stop()
    await expect(connect(a.addr!, { signal: AbortSignal.timeout(5000) })).rejects.toBeDefined()
  })

  it('rejects a bootstrap address without /p2p/', async () => {
    await expect(cluster.start({ bootstrap: ['/ip4/127.0.0.1/tcp/1'] })).rejects.toMatchObject({ code: ERR_BAD_MULTIADDR })
  })

  it('five nodes bootstrapped as a chain converge to the same five records', async () => {
    const nodes = await cluster.chain(5, (i) => ({ ttl: 2000, host: `host-${i}`, meta: { idx: String(i), region: i % 2 === 0 ? 'eu' : 'us' } }))
    const want = sorted(nodes)
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 5), 'convergence').toBe(true), { timeout: 15_000 })
    for (const n of nodes) {
      expect(peersOf(n)).toEqual(want)
      for (const [i, m] of nodes.entries()) {
        expect(n.table.get(m.peer)).toMatchObject({ server: m.server, host: `host-${i}`, meta: { idx: String(i), region: i % 2 === 0 ? 'eu' : 'us' } })
      }
    }
  })

  it('a node killed without leaving is gone from every table within TTL + 1 s', async () => {
    const ttl = 1500
    const nodes = await cluster.chain(4, () => ({ ttl }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 4), 'convergence').toBe(true), { timeout: 15_000 })
    const victim = nodes[3]!
    await victim.kill()
    const t0 = performance.now()
    const rest = nodes.slice(0, 3)
    // Not removed at once: without a leave the others must wait for the TTL.
    expect(rest.every((n) => n.table.get(victim.peer) !== undefined)).toBe(true)
    await vi.waitFor(() => expect(rest.every((n) => n.table.get(victim.peer) === undefined), 'expiry').toBe(true), { timeout: ttl + 3000 })
    expect(performance.now() - t0).toBeLessThanOrEqual(ttl + 1000)
    for (const n of rest) expect(peersOf(n)).toEqual(sorted(rest))
  })

  it('a graceful stop is gone from every table within 1 s', async () => {
    const nodes = await cluster.chain(4, () => ({ ttl: 10_000 }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 4), 'convergence').toBe(true), { timeout: 15_000 })
    const leaver = nodes[1]!
    const t0 = performance.now()
    await leaver.stop()
    const rest = nodes.filter((n) => n !== leaver)
    await vi.waitFor(() => expect(rest.every((n) => n.table.get(leaver.peer) === undefined), 'leave').toBe(true), { timeout: 3000 })
    expect(performance.now() - t0).toBeLessThanOrEqual(1000 + 1200) // stop() itself waits ≤ 1.1 s
    // With a TTL of 10 s only the leave heartbeat can explain this.
    for (const n of rest) expect(n.table.size).toBe(3)
  })

  it('a restart with the same identity replaces the old record at once', async () => {
    const key = await generateKeyPair('Ed25519')
    const [a, b] = await cluster.chain(2, () => ({ ttl: 10_000 }))
    const first = await cluster.start({ identity: key, ttl: 10_000, bootstrap: [a!.multiaddrs[0]!] })
    await vi.waitFor(() => expect([a!, b!, first].every((n) => n.table.size === 3), 'convergence').toBe(true), { timeout: 15_000 })
    const oldSeq = a!.table.get(first.peer)!.seq
    await first.kill()
    const second = await cluster.start({ identity: key, ttl: 10_000, bootstrap: [b!.multiaddrs[0]!], host: 'reborn' })
    expect(second.peer).toBe(first.peer)
    expect(second.server).not.toBe(first.server)
    // Well before the old record's 10 s TTL could run out.
    await vi.waitFor(() => expect([a!, b!].every((n) => n.table.get(second.peer)?.server === second.server), 'replacement').toBe(true), { timeout: 5000 })
    for (const n of [a!, b!]) {
      expect(n.table.size).toBe(3)
      expect(n.table.get(second.peer)!.host).toBe('reborn')
      expect(n.table.get(second.peer)!.seq).toBeGreaterThan(oldSeq)
    }
  })

  it('two namespaces on the same peers stay apart', async () => {
    const a1 = await cluster.start({ ns: 'alpha', ttl: 2000 })
    const boot = [a1.multiaddrs[0]!]
    const b1 = await cluster.start({ ns: 'beta', ttl: 2000, bootstrap: boot })
    const a2 = await cluster.start({ ns: 'alpha', ttl: 2000, bootstrap: boot })
    const b2 = await cluster.start({ ns: 'beta', ttl: 2000, bootstrap: boot })
    await vi.waitFor(() => expect(a1.table.size === 2 && a2.table.size === 2, 'alpha convergence').toBe(true), { timeout: 15_000 })
    // b2 reaches b1 only through peers they share with alpha (a1): wait for a direct link.
    await vi.waitFor(() => expect(b1.libp2p.getConnections().length > 0 && b2.libp2p.getConnections().length > 0, 'beta connections').toBe(true), { timeout: 10_000 })
    await b2.libp2p.dial(b1.libp2p.getMultiaddrs()[0]!)
    await vi.waitFor(() => expect(b1.table.size === 2 && b2.table.size === 2, 'beta convergence').toBe(true), { timeout: 15_000 })
    // Stray heartbeats would come with the real ones: wait until every node has published two
    // more and accepted two more from its own namespace before asserting none crossed over.
    const all = [a1, a2, b1, b2]
    const mark = all.map((n) => ({ published: n.membership.stats.published, accepted: n.membership.stats.accepted }))
    await vi.waitFor(
      () => {
        for (const [i, n] of all.entries()) {
          expect(n.membership.stats.published, 'heartbeats published').toBeGreaterThanOrEqual(mark[i]!.published + 2)
          expect(n.membership.stats.accepted, 'heartbeats accepted').toBeGreaterThanOrEqual(mark[i]!.accepted + 2)
        }
      },
      { timeout: 15_000 },
    )
    expect(peersOf(a1)).toEqual(sorted([a1, a2]))
    expect(peersOf(a2)).toEqual(sorted([a1, a2]))
    expect(peersOf(b1)).toEqual(sorted([b1, b2]))
    expect(peersOf(b2)).toEqual(sorted([b1, b2]))
    expect(a1.libp2p.getConnections(b1.libp2p.peerId).length).toBeGreaterThan(0)
    expect(a1.libp2p.services.pubsub.getTopics()).toEqual(['/ww/alpha/heartbeat'])
    expect(b1.libp2p.services.pubsub.getTopics()).toEqual(['/ww/beta/heartbeat'])
  })
})

describe('a rogue peer on the heartbeat topic', () => {
  const rogues: Libp2p<{ pubsub: GossipSub }>[] = []
  afterEach(async () => {
    await Promise.allSettled(rogues.map((r) => r.stop()))
    rogues.length = 0
  })

  async function rogue(policy: 'StrictSign' | 'StrictNoSign', privateKey?: PrivateKey) {
    const r = await meshNode({ policy, privateKey: privateKey ?? (await generateKeyPair('Ed25519')), heartbeatInterval: 1000 })
    rogues.push(r)
    return r
  }

  it('gets nothing into any table and crashes no node', async () => {
    const ttl = 2000
    const nodes = await cluster.chain(3, (i) => ({ ttl, host: `n${i}` }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 3), 'convergence').toBe(true), { timeout: 15_000 })
    const topic = heartbeatTopic('ww')
    const target = nodes[0]!
    const signer = await rogue('StrictSign')
    const unsigned = await rogue('StrictNoSign')
    for (const r of [signer, unsigned]) {
      r.services.pubsub.subscribe(topic)
      await r.dial(target.libp2p.getMultiaddrs()[0]!)
    }
    await vi.waitFor(() => expect(target.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(signer.peerId)), 'rogue subscription').toBe(true), { timeout: 10_000 })
    await vi.waitFor(() => expect(signer.services.pubsub.getSubscribers(topic).some((p) => p.equals(target.libp2p.peerId)), 'target subscription').toBe(true), { timeout: 10_000 })

    // Control: the rogue's own, valid record gets in everywhere, so the channel works.
    const roguePeer = signer.peerId.toString()
    const own = { peer: roguePeer, server: 'aaaaaaaaaaaaaaaa', seq: Date.now() * 1000, ttl: 60_000, host: 'rogue', meta: {} }
    await signer.services.pubsub.publish(topic, encodeHeartbeat(own))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.get(roguePeer) !== undefined), 'control record').toBe(true), { timeout: 10_000 })
    const rejectedBefore = target.membership.stats.rejected
    const publishedBefore = nodes.map((n) => n.membership.stats.published)

    const victim = nodes[1]!
    const forgedLeave = { peer: victim.peer, server: 'ffffffffffffffff', seq: Number.MAX_SAFE_INTEGER, ttl: 0, host: 'x', meta: {} }
    const forgedJoin = { peer: peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString(), server: 'bbbbbbbbbbbbbbbb', seq: 1, ttl: 60_000, host: 'ghost', meta: {} }
    const bad: Uint8Array[] = [
      new Uint8Array([0xc1]), // reserved MessagePack byte
      new TextEncoder().encode('hello, I am garbage'),
      new Uint8Array(9000).fill(0x61), // oversized
      encodeHeartbeat(forgedLeave), // speaks for another peer (a forged leave)
      encodeHeartbeat(forgedJoin), // speaks for a peer that does not exist
    ]
    for (const data of bad) await signer.services.pubsub.publish(topic, data)
    await vi.waitFor(() => expect(unsigned.services.pubsub.getSubscribers(topic).length > 0, 'unsigned rogue subscription').toBe(true), { timeout: 10_000 })
    await unsigned.services.pubsub.publish(topic, encodeHeartbeat({ ...own, peer: unsigned.peerId.toString(), host: 'unsigned' }))

    await vi.waitFor(() => expect(target.membership.stats.rejected - rejectedBefore >= bad.length, 'rejections').toBe(true), { timeout: 10_000 })
    // Every node keeps heartbeating after the attack.
    await vi.waitFor(() => expect(nodes.every((n, i) => n.membership.stats.published > publishedBefore[i]! + 1), 'heartbeats after the attack').toBe(true), { timeout: 10_000 })
    const want = [...nodes.map((n) => n.peer), roguePeer].sort()
    for (const n of nodes) {
      expect(peersOf(n)).toEqual(want)
      expect(n.table.get(victim.peer)!.server).toBe(victim.server)
      expect(n.table.get(forgedJoin.peer)).toBeUndefined()
      expect(n.table.get(unsigned.peerId.toString())).toBeUndefined()
    }
  })

  it('a replayed old heartbeat and a far-future seq get nowhere, and the real node is listed at once when it starts', async () => {
    const ttl = 2000
    const nodes = await cluster.chain(3, (i) => ({ ttl, host: `n${i}` }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 3), 'convergence').toBe(true), { timeout: 15_000 })
    const topic = heartbeatTopic('ww')
    // Someone holding the heartbeats this identity signed in the past (or its key, once).
    const key = await generateKeyPair('Ed25519')
    const replayer = await rogue('StrictSign', key)
    replayer.services.pubsub.subscribe(topic)
    await replayer.dial(nodes[0]!.libp2p.getMultiaddrs()[0]!)
    await vi.waitFor(() => expect(replayer.services.pubsub.getSubscribers(topic).length > 0, 'replayer subscription').toBe(true), { timeout: 10_000 })
    const peer = replayer.peerId.toString()
    const base = { peer, ttl: 60_000, host: 'ghost', meta: {} }
    const oneHourAgo = (Date.now() - 3_600_000) * 1000
    await replayer.services.pubsub.publish(topic, encodeHeartbeat({ ...base, server: '1111111111111111', seq: oneHourAgo }))
    await replayer.services.pubsub.publish(topic, encodeHeartbeat({ ...base, server: 'ffffffffffffffff', seq: Number.MAX_SAFE_INTEGER }))
    await vi.waitFor(() => expect(nodes[0]!.membership.stats.replayed >= 1 && nodes[0]!.membership.stats.future >= 1, 'both ignored').toBe(true), { timeout: 10_000 })
    for (const n of nodes) expect(n.table.get(peer)).toBeUndefined()
    await replayer.stop()

    // The real node with that identity starts: every node lists it at once, with its own server.
    const real = await cluster.start({ identity: key, ttl, bootstrap: [nodes[1]!.multiaddrs[0]!], host: 'real' })
    // Well within the 60 s the forged far-future record would have locked it out for.
    await vi.waitFor(() => expect(nodes.every((n) => n.table.get(peer)?.server === real.server), 'the real node listed').toBe(true), { timeout: 10_000 })
    for (const n of nodes) expect(n.table.get(peer)!.host).toBe('real')
  })
})
