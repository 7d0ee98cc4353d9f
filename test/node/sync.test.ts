import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { encode } from '@msgpack/msgpack'
import { byteStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Node } from '../../src/node/node.js'
import { SYNC_PROTOCOL } from '../../src/cluster/sync.js'
import { Cluster } from './node-helpers.js'

const cluster = new Cluster()
afterEach(async () => {
  await cluster.cleanup()
})

describe('state sync on join', () => {
  // 21 real nodes share this one process (and a busy 2-core machine): the 20 run without the
  // mesh keeper (minPeers 0, joined as a tree through their bootstrap addresses), whose extra
  // connections would starve the shared event loop; the mesh has its own test. The clock
  // starts when the newcomer has its first connection: from there on, joining is sync.
  it('with TTL 30 s, a node joining a 20-node cluster lists all 20 within 1 s', async () => {
    const ttl = 30_000
    const N = 20
    const nodes: Node[] = []
    for (let i = 0; i < N; i++) nodes.push(await cluster.start({ ttl, minPeers: 0, host: `n${i}`, bootstrap: i === 0 ? [] : [nodes[Math.floor(i / 2)]!.multiaddrs[0]!] }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === N), 'the cluster converges').toBe(true), { timeout: 60_000, interval: 100 })
    const late = await cluster.start({ ttl, host: 'late', bootstrap: [nodes[7]!.multiaddrs[0]!] })
    await vi.waitFor(() => expect(late.libp2p.getPeers().length, 'connected').toBeGreaterThan(0), { timeout: 30_000, interval: 5 })
    const t1 = performance.now()
    await vi.waitFor(() => expect(late.table.size, 'the newcomer lists everyone').toBe(N + 1), { timeout: 1000, interval: 5 })
    expect(performance.now() - t1).toBeLessThan(1000)
    // The records came by sync: at TTL 30 s the next heartbeats are 7.5 s or more away, and
    // the bootstrap peer's early heartbeat brings only its own record.
    expect(late.sync.stats.accepted).toBeGreaterThanOrEqual(N - 1)
  }, 120_000)

  it('a synced record lives ttl − age more, not a whole ttl: a dead peer can not be handed on past its ttl', async () => {
    const ttl = 5000
    const target = await cluster.start({ ttl })
    const honest = await cluster.start({ ttl, bootstrap: [target.multiaddrs[0]!] })
    await vi.waitFor(() => expect(target.table.size, 'convergence').toBe(2), { timeout: 15_000 })
    const frames = await target.membership.signedFrames(100)
    const good = frames.find((f) => f[0] === honest.peer)!
    expect(good[4]).toBeGreaterThanOrEqual(0)
    expect(good[4]).toBeLessThanOrEqual(ttl)
    // A node that never met `honest`, offered its heartbeat as held for ttl − 300 ms.
    const fresh = await cluster.start({ ttl })
    const held = ttl - 300
    expect(await fresh.membership.offerFrame([good[0], good[1], good[2], good[3], held])).toBe(TopicValidatorResult.Accept)
    expect(fresh.table.times(honest.peer, honest.server)!.seen).toBeGreaterThanOrEqual(held)
    // It expires about 300 ms later, though a whole ttl (5 s) from its arrival is far off.
    const t0 = performance.now()
    await vi.waitFor(() => expect(fresh.table.get(honest.peer), 'expired').toBeUndefined(), { timeout: 4000, interval: 20 })
    expect(performance.now() - t0).toBeLessThan(ttl - 500)
    // Held past its ttl: dead on arrival, never listed.
    expect(await fresh.membership.offerFrame([good[0], good[1], good[2], good[3], ttl + 1])).toBe(TopicValidatorResult.Ignore)
    expect(fresh.table.get(honest.peer)).toBeUndefined()
    // A frame without an age, or with a negative one, is malformed.
    expect(await fresh.membership.offerFrame([good[0], good[1], good[2], good[3]])).toBe(TopicValidatorResult.Reject)
    expect(await fresh.membership.offerFrame([good[0], good[1], good[2], good[3], -1])).toBe(TopicValidatorResult.Reject)
  })

  it('a sync stream with an altered or unsigned heartbeat is refused and its sender disconnected', async () => {
    const target = await cluster.start({ ttl: 5000 })
    const honest = await cluster.start({ ttl: 5000, bootstrap: [target.multiaddrs[0]!] })
    await vi.waitFor(() => expect(target.table.size, 'convergence').toBe(2), { timeout: 15_000 })
    // A real signed heartbeat of `honest`, as target's sync would serve it.
    const frames = await target.membership.signedFrames(100)
    const good = frames.find((f) => f[0] === honest.peer)!
    expect(good).toBeDefined()
    expect(await target.membership.offerFrame(good)).not.toBe(TopicValidatorResult.Reject)
    const altered = [...good] as typeof good
    altered[2] = new Uint8Array(good[2])
    altered[2][altered[2].length - 1] ^= 1 // one bit of the payload
    const unsigned = [good[0], good[1], good[2], new Uint8Array(0), good[4]]

    for (const bad of [altered, unsigned]) {
      const rogue: Libp2p = await createLibp2p({
        privateKey: await generateKeyPair('Ed25519'),
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() },
      })
      try {
        await rogue.handle(SYNC_PROTOCOL, async (stream) => {
          await byteStream(stream).read({ bytes: 1 })
          stream.send(encode([bad]))
          await stream.close()
        })
        const refusedBefore = target.sync.stats.refused
        await rogue.dial(target.libp2p.getMultiaddrs()[0]!)
        // target pulls from the rogue once identify shows it speaks sync, refuses, hangs up.
        await vi.waitFor(() => expect(target.sync.stats.refused, 'refused').toBe(refusedBefore + 1), { timeout: 10_000 })
        await vi.waitFor(() => expect(target.libp2p.getConnections(rogue.peerId), 'disconnected').toHaveLength(0), { timeout: 5000 })
        expect(target.table.get(honest.peer)!.server).toBe(honest.server)
      } finally {
        await rogue.stop()
      }
    }
  })
})
