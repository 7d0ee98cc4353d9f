import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { encodeHeartbeat } from '../../src/cluster/heartbeat.js'
import { heartbeatTopic } from '../../src/cluster/membership.js'
import type { Logger } from '../../src/cluster/options.js'
import { Cluster } from '../node/node-helpers.js'

const cluster = new Cluster()
afterEach(async () => {
  await cluster.cleanup()
})

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) }
}

async function signedFrom(data: Uint8Array, from?: PeerId): Promise<Message> {
  const id = from ?? peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  // The validator only reads type, from and data; gossipsub has checked the signature already.
  return { type: 'signed', from: id, topic: heartbeatTopic('ww'), data, sequenceNumber: 1n, signature: new Uint8Array(64), key: id.publicKey! }
}

describe('Membership validator', () => {
  it('accepts a fresh record of the signer, ignores stale ones, rejects the rest', async () => {
    const n = await cluster.start({ ttl: 5000 })
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key)
    const t0 = Date.now() * 1000
    const rec = { peer: id.toString(), server: '00000000000000aa', seq: t0 + 10, ttl: 5000, host: 'h', meta: { a: 'b' } }
    const v = n.membership.validate
    expect(v(id, await signedFrom(encodeHeartbeat(rec), id))).toBe(TopicValidatorResult.Accept)
    expect(n.table.get(id.toString())).toMatchObject({ seq: t0 + 10, host: 'h' })
    // Same version again, and an older one: stale.
    expect(v(id, await signedFrom(encodeHeartbeat(rec), id))).toBe(TopicValidatorResult.Ignore)
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 + 9 }), id))).toBe(TopicValidatorResult.Ignore)
    // Someone else speaking for `id`.
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 + 11, host: 'forged' })))).toBe(TopicValidatorResult.Reject)
    // Unsigned.
    expect(v(id, { type: 'unsigned', topic: heartbeatTopic('ww'), data: encodeHeartbeat({ ...rec, seq: t0 + 12 }) })).toBe(TopicValidatorResult.Reject)
    // Garbage and oversized.
    expect(v(id, await signedFrom(new Uint8Array([1, 2, 3]), id))).toBe(TopicValidatorResult.Reject)
    expect(v(id, await signedFrom(new Uint8Array(8193), id))).toBe(TopicValidatorResult.Reject)
    // A message whose fields are not what gossipsub promises must not throw either.
    expect(v(id, { type: 'signed' } as unknown as Message)).toBe(TopicValidatorResult.Reject)
    expect(n.table.get(id.toString())).toMatchObject({ seq: t0 + 10, host: 'h' })
    expect(n.membership.stats).toMatchObject({ accepted: 1, ignored: 2, rejected: 5 })
    // Newer: accepted, and a leave removes it.
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 + 20 }), id))).toBe(TopicValidatorResult.Accept)
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 + 21, ttl: 0 }), id))).toBe(TopicValidatorResult.Accept)
    expect(n.table.get(id.toString())).toBeUndefined()
  })

  it('ignores heartbeats carrying its own peer ID, and logs an error once per twin instance', async () => {
    const log = recordingLogger()
    const key = await generateKeyPair('Ed25519')
    const n = await cluster.start({ identity: key, ttl: 5000, logger: log })
    const id = peerIdFromPrivateKey(key)
    const nowUs = Date.now() * 1000
    // The previous life of this identity (made before this instance started): no error.
    const old = { peer: n.peer, server: 'eeeeeeeeeeeeeeee', seq: nowUs - 2_000_000, ttl: 5000, host: 'old', meta: {} }
    const errors = () => log.lines.filter((l) => l.startsWith('error'))
    expect(n.membership.validate(id, await signedFrom(encodeHeartbeat(old), id))).toBe(TopicValidatorResult.Ignore)
    expect(errors()).toEqual([])
    // Another instance running now with the same key.
    const twin = { peer: n.peer, server: 'ffffffffffffffff', seq: nowUs + 1000, ttl: 5000, host: 'twin', meta: {} }
    for (let i = 0; i < 3; i++) {
      expect(n.membership.validate(id, await signedFrom(encodeHeartbeat({ ...twin, seq: twin.seq + i }), id))).toBe(TopicValidatorResult.Ignore)
    }
    expect(n.table.get(n.peer)!.server).toBe(n.server)
    expect(errors()).toEqual([expect.stringMatching(/^error another instance \(server ffffffffffffffff\) runs with this node's identity/)])
  })

  it('a late copy of an expired heartbeat is ignored: the peer stays expired until a newer one comes', async () => {
    let jump = 0
    const n = await cluster.start({ ttl: 5000, tableNow: () => performance.timeOrigin + performance.now() + jump })
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const t0 = Date.now() * 1000
    const rec = { peer: id.toString(), server: '00000000000000aa', seq: t0, ttl: 2000, host: 'h', meta: {} }
    const v = n.membership.validate
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 - 1 }), id))).toBe(TopicValidatorResult.Accept)
    expect(v(id, await signedFrom(encodeHeartbeat(rec), id))).toBe(TopicValidatorResult.Accept)
    jump = 2500
    n.table.sweep()
    expect(n.table.get(id.toString())).toBeUndefined()
    // Its last heartbeat and the one before, relayed late (a slow neighbour, gossip's IWANT).
    expect(v(id, await signedFrom(encodeHeartbeat(rec), id))).toBe(TopicValidatorResult.Ignore)
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 - 1 }), id))).toBe(TopicValidatorResult.Ignore)
    expect(n.table.get(id.toString())).toBeUndefined()
    // A newer heartbeat: alive.
    expect(v(id, await signedFrom(encodeHeartbeat({ ...rec, seq: t0 + 1 }), id))).toBe(TopicValidatorResult.Accept)
    expect(n.table.get(id.toString())?.seq).toBe(t0 + 1)
  })

  it('ignores a far-future seq and a replay, and rejects a ttl over maxTtl', async () => {
    const n = await cluster.start({ ttl: 5000, maxClockSkew: 60_000, maxTtl: 120_000 })
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key)
    const v = n.membership.validate
    const at = (ms: number, ttl = 5000) => ({ peer: id.toString(), server: '00000000000000aa', seq: ms * 1000, ttl, host: 'h', meta: {} })
    const now = Date.now()
    // Ahead of this node's clock by more than the skew: ignored (signed by its owner, so no penalty).
    expect(v(id, await signedFrom(encodeHeartbeat(at(now + 61_000)), id))).toBe(TopicValidatorResult.Ignore)
    expect(v(id, await signedFrom(encodeHeartbeat({ ...at(0), seq: Number.MAX_SAFE_INTEGER }), id))).toBe(TopicValidatorResult.Ignore)
    // Older than its ttl plus the skew: a replay.
    expect(v(id, await signedFrom(encodeHeartbeat(at(now - 66_000)), id))).toBe(TopicValidatorResult.Ignore)
    expect(n.membership.stats).toMatchObject({ future: 2, replayed: 1, accepted: 0 })
    expect(n.table.get(id.toString())).toBeUndefined()
    // Within the skew either way: taken.
    expect(v(id, await signedFrom(encodeHeartbeat(at(now - 60_000)), id))).toBe(TopicValidatorResult.Accept)
    expect(v(id, await signedFrom(encodeHeartbeat(at(now + 50_000)), id))).toBe(TopicValidatorResult.Accept)
    // A ttl above the cluster's maximum: rejected, though the record rules allow a day.
    expect(v(id, await signedFrom(encodeHeartbeat(at(now + 55_000, 120_001)), id))).toBe(TopicValidatorResult.Reject)
    expect(n.membership.stats).toMatchObject({ accepted: 2, rejected: 1 })
  })
})

describe('Membership heartbeats', () => {
  it('sends the first heartbeat at start, then every TTL/4..TTL/2 with seq = its clock in µs', async () => {
    const ttl = 400
    const n = await cluster.start({ ttl })
    const first = n.table.get(n.peer)!.seq
    expect(n.membership.stats.published).toBe(1)
    const t0 = performance.now()
    await vi.waitFor(() => expect(n.membership.stats.published >= 5, 'heartbeats').toBe(true), { timeout: 10_000 })
    const perBeat = (performance.now() - t0) / 4
    expect(perBeat).toBeGreaterThanOrEqual(ttl / 4 - 20)
    // seq advanced with the clock: by at least the time of 4 heartbeats, at most to now.
    const last = n.table.get(n.peer)!.seq
    expect(last - first).toBeGreaterThanOrEqual(4 * (ttl / 4 - 20) * 1000)
    expect(last).toBeLessThanOrEqual(Date.now() * 1000 + 1000)
  })

  it('a newcomer learns everyone by sync and everyone learns it by its early heartbeat; the others send nothing extra', async () => {
    // A 60 s TTL: regular heartbeats come every 15-30 s, so only the newcomer's early heartbeat
    // (and sync) can explain convergence.
    const nodes = await cluster.chain(3, () => ({ ttl: 60_000 }))
    await vi.waitFor(() => expect(nodes.every((n) => n.table.size === 3), 'first convergence').toBe(true), { timeout: 30_000 })
    const late = await cluster.start({ ttl: 60_000, bootstrap: [nodes[2]!.multiaddrs[0]!] })
    await vi.waitFor(() => expect([...nodes, late].every((n) => n.table.size === 4), 'newcomer convergence').toBe(true), { timeout: 8000 })
    // Its first heartbeat (at start) reached nobody; the one brought forward reached the cluster.
    expect(late.membership.stats.published).toBeLessThanOrEqual(2)
    expect(late.membership.stats.early).toBeLessThanOrEqual(1)
    // A join is no reason for the others to send early (that was O(N²) messages a second
    // while nodes kept joining): give an early heartbeat (20-200 ms, at most 1 s) time to show.
    // Each of them owes at most the one of its own join, which may still be on its way when
    // the cluster converges by sync (so counting all heartbeats before and after would race it).
    await new Promise((r) => setTimeout(r, 1500))
    expect(nodes.map((n) => n.membership.stats.early).every((e) => e <= 1), `early heartbeats ${nodes.map((n) => n.membership.stats.early)}`).toBe(true)
    expect(nodes.map((n) => n.membership.stats.published).every((p) => p <= 2), `heartbeats ${nodes.map((n) => n.membership.stats.published)}`).toBe(true)
  })

  it('logs a failing publish once, retries with backoff, and logs the recovery once', async () => {
    const log = recordingLogger()
    // Without allowPublishToZeroTopicPeers gossipsub throws NoPeersSubscribedToTopic while alone.
    const n = await cluster.start({ ttl: 400, logger: log, gossipsub: { allowPublishToZeroTopicPeers: false } })
    await vi.waitFor(() => expect(n.membership.stats.publishFailures >= 4, 'failures').toBe(true), { timeout: 10_000 })
    expect(log.lines.filter((l) => l.startsWith('warn') && l.includes('publish failing'))).toHaveLength(1)
    // The node stays in its own table while it can't publish.
    expect(n.table.get(n.peer)).toBeDefined()
    const other = await cluster.start({ ttl: 400, bootstrap: [n.multiaddrs[0]!] })
    await vi.waitFor(() => expect(log.lines.some((l) => l.includes('recovered')), 'recovery').toBe(true), { timeout: 10_000 })
    await vi.waitFor(() => expect(other.table.get(n.peer), 'heartbeat delivered').toBeDefined(), { timeout: 10_000 })
    const failures = n.membership.stats.publishFailures
    await vi.waitFor(() => expect(n.membership.stats.published >= 4, 'more heartbeats').toBe(true), { timeout: 10_000 })
    expect(n.membership.stats.publishFailures).toBe(failures)
    expect(log.lines.filter((l) => l.includes('publish failing'))).toHaveLength(1)
    expect(log.lines.filter((l) => l.includes('recovered'))).toHaveLength(1)
  })

  it('logs being alone once, and reaching peers again once', async () => {
    const log = recordingLogger()
    const n = await cluster.start({ ttl: 400, logger: log })
    await vi.waitFor(() => expect(n.membership.stats.published >= 3, 'heartbeats').toBe(true), { timeout: 10_000 })
    expect(log.lines.filter((l) => l.includes('reach nobody'))).toHaveLength(1)
    await cluster.start({ ttl: 400, bootstrap: [n.multiaddrs[0]!] })
    await vi.waitFor(() => expect(log.lines.some((l) => l.includes('reach peers again')), 'peers').toBe(true), { timeout: 10_000 })
    const published = n.membership.stats.published
    await vi.waitFor(() => expect(n.membership.stats.published >= published + 3, 'heartbeats').toBe(true), { timeout: 10_000 })
    expect(log.lines.filter((l) => l.includes('reach nobody'))).toHaveLength(1)
    expect(log.lines.filter((l) => l.includes('reach peers again'))).toHaveLength(1)
  })
})
