/**
 * Gossip hygiene with real nodes: a peer that publishes invalid heartbeats loses its gossipsub
 * score on the receiver, then its connection, and is refused when it dials again; an honest
 * neighbour keeps a non-negative score and its connection. Plus the parameters themselves, as
 * gossipsub validates them.
 */
import { describe, expect, it, vi } from 'vitest'
import type { Libp2p } from 'libp2p'
import type { GossipSub } from '@libp2p/gossipsub'
import { createPeerScoreParams, validatePeerScoreParams } from '@libp2p/gossipsub/score'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { encode } from '@msgpack/msgpack'
import { byteStream } from '@libp2p/utils'
import { encodeHeartbeat } from '../../src/cluster/heartbeat.js'
import { heartbeatTopic } from '../../src/cluster/membership.js'
import { clusterScoreParams, gossipScore, HEARTBEAT_TOPIC_SCORE, OFFENCE_PENALTY, SCORE_THRESHOLDS, ScoreGuard } from '../../src/cluster/scoring.js'
import { syncProtocol } from '../../src/cluster/sync.js'
import { DEFAULT_NAMESPACE } from '../../src/cluster/options.js'
import { cleanupAfterEach } from '../cleanup.js'
import { Cluster } from '../node/node-helpers.js'
import { meshNode } from './pubsub-helpers.js'

const cleanups = cleanupAfterEach()
const cluster = new Cluster()
cleanups.push(() => cluster.cleanup())

async function rogue(): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const r = await meshNode({ privateKey: await generateKeyPair('Ed25519'), heartbeatInterval: 1000 })
  cleanups.push(() => r.stop())
  return r
}

describe('score parameters', () => {
  it('pass gossipsub validation, and three invalid messages outweigh all positive credit', () => {
    const params = createPeerScoreParams(clusterScoreParams('/ww/ww/heartbeat'))
    expect(() => validatePeerScoreParams(params)).not.toThrow()
    expect(params.topics['/ww/ww/heartbeat']).toMatchObject(HEARTBEAT_TOPIC_SCORE)
    expect(params.IPColocationFactorWhitelist.has('127.0.0.1')).toBe(true)
    const p = HEARTBEAT_TOPIC_SCORE
    const maxCredit = p.timeInMeshWeight * p.timeInMeshCap + p.firstMessageDeliveriesWeight * p.firstMessageDeliveriesCap
    const after = (c: number): number => (maxCredit + p.invalidMessageDeliveriesWeight * c * c) * p.topicWeight
    expect(after(1)).toBeLessThan(0)
    expect(after(3)).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold)
    // An operator's own topics are added, not swapped for ours.
    const merged = clusterScoreParams('/ww/ww/heartbeat', { topics: { other: { topicWeight: 0.1 } as never }, retainScore: 1000 })
    expect(Object.keys(merged.topics!).sort()).toEqual(['/ww/ww/heartbeat', 'other'])
    expect(merged.retainScore).toBe(1000)
  })

  it('ScoreGuard refuses a peer for banMs, then lets it back', () => {
    let now = 0
    const closed: string[] = []
    const peer = { toString: () => 'P' } as never
    const guard = new ScoreGuard({
      host: { getConnections: () => [{ remotePeer: peer } as never], hangUp: async (p) => void closed.push(String(p)) },
      score: () => -100,
      banMs: 1000,
      now: () => now,
    })
    guard.check()
    expect(closed).toEqual(['P'])
    expect(guard.refused('P')).toBe(true)
    now = 999
    expect(guard.refused('P')).toBe(true)
    now = 1000
    expect(guard.refused('P')).toBe(false)
  })

  it('punish refuses at once, and the app score counts offences only while the refusal lasts', () => {
    let now = 0
    const closed: string[] = []
    const peer = { toString: () => 'P' } as never
    const guard = new ScoreGuard({ host: { getConnections: () => [], hangUp: async (p) => void closed.push(String(p)) }, score: () => 0, banMs: 1000, now: () => now })
    expect(guard.appScore('P')).toBe(0)
    guard.punish(peer, 'sent an altered heartbeat')
    guard.punish(peer, 'sent an altered heartbeat')
    expect(closed).toEqual(['P', 'P'])
    expect(guard.refused('P')).toBe(true)
    expect(guard.appScore('P')).toBe(-2 * OFFENCE_PENALTY)
    expect(guard.appScore('Q')).toBe(0)
    now = 1000
    expect(guard.appScore('P')).toBe(0)
    expect(guard.refused('P')).toBe(false)
    // An operator's own app score is added at its weight, not dropped.
    const params = clusterScoreParams('t', { appSpecificScore: () => 1, appSpecificWeight: 2 }, () => -100)
    expect(params.appSpecificWeight).toBe(1)
    expect(params.appSpecificScore!('x')).toBe(-98)
  })
})

describe('a peer publishing invalid heartbeats', () => {
  it('loses its score, then its connection, and is refused when it dials again; the honest neighbour is untouched', async () => {
    const warnings: string[] = []
    const target = await cluster.start({ ttl: 1000, logger: { info: () => {}, warn: (m) => warnings.push(m) } })
    const honest = await cluster.start({ ttl: 1000, bootstrap: [target.multiaddrs[0]!] })
    await vi.waitFor(() => expect(target.table.size === 2, 'the honest pair to converge').toBe(true), { timeout: 15_000 })
    const topic = heartbeatTopic('ww')
    const r = await rogue()
    const rid = r.peerId.toString()
    r.services.pubsub.subscribe(topic)
    await r.dial(target.libp2p.getMultiaddrs()[0]!)
    await vi.waitFor(() => expect(target.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(r.peerId)), 'rogue subscription on target').toBe(true), { timeout: 10_000 })
    await vi.waitFor(() => expect(r.services.pubsub.getSubscribers(topic).some((p) => p.equals(target.libp2p.peerId)), 'target subscription on rogue').toBe(true), { timeout: 10_000 })

    // Control: a valid heartbeat of the rogue's own gets in, and costs nothing.
    await r.services.pubsub.publish(topic, encodeHeartbeat({ peer: rid, server: 'aaaaaaaaaaaaaaaa', seq: Date.now() * 1000, ttl: 60_000, host: 'rogue', meta: {} }))
    await vi.waitFor(() => expect(target.table.get(rid) !== undefined, "the rogue's valid heartbeat").toBe(true), { timeout: 10_000 })
    expect(gossipScore(target.libp2p.services.pubsub, rid)).toBeGreaterThanOrEqual(0)

    const rejected0 = target.membership.stats.rejected
    const opened: string[] = []
    target.libp2p.addEventListener('connection:open', (e) => opened.push(e.detail.remotePeer.toString()))
    // Signed by the rogue, but not a heartbeat: one every 50 ms until the target hangs up (bounded).
    let sent = 0
    const scores: number[] = []
    while (target.libp2p.getConnections(r.peerId).length > 0) {
      if (sent >= 60) throw new Error(`still connected after ${sent} invalid messages; scores seen: ${scores.join(', ')}`)
      await r.services.pubsub.publish(topic, new TextEncoder().encode(`garbage ${sent++}`)).catch(() => undefined)
      scores.push(gossipScore(target.libp2p.services.pubsub, rid))
      await new Promise((res) => setTimeout(res, 50))
    }
    expect(target.membership.stats.rejected - rejected0).toBeGreaterThanOrEqual(3)
    const score = gossipScore(target.libp2p.services.pubsub, rid)
    expect(score).toBeLessThan(SCORE_THRESHOLDS.graylistThreshold)
    expect(warnings.some((w) => w.includes(rid) && w.includes('graylist'))).toBe(true)

    // It dials again: the gater refuses it (its side may see the connection for a moment).
    await r.dial(target.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    await vi.waitFor(() => expect(r.getConnections(target.libp2p.peerId).length === 0, 'the redial to be dropped').toBe(true), { timeout: 10_000 })
    expect(opened).not.toContain(rid)

    // The honest neighbour kept its score and its connection, and the cluster still works.
    expect(gossipScore(target.libp2p.services.pubsub, honest.peer)).toBeGreaterThanOrEqual(0)
    expect(target.libp2p.getConnections(honest.libp2p.peerId).length).toBeGreaterThan(0)
    const seq = target.table.get(honest.peer)!.seq
    await vi.waitFor(() => expect((target.table.get(honest.peer)?.seq ?? 0) > seq, 'heartbeats of the honest peer after the attack').toBe(true), { timeout: 10_000 })
  })
})

describe('a peer whose state-sync stream carries an altered heartbeat', () => {
  it('is disconnected, scored below the graylist threshold in gossipsub, and refused when it dials again', async () => {
    const warnings: string[] = []
    const target = await cluster.start({ ttl: 5000, logger: { info: () => {}, warn: (m) => warnings.push(m) } })
    const honest = await cluster.start({ ttl: 5000, bootstrap: [target.multiaddrs[0]!] })
    await vi.waitFor(() => expect(target.table.size, 'convergence').toBe(2), { timeout: 15_000 })
    // A real signed heartbeat of `honest`, one bit of its payload flipped.
    const good = (await target.membership.signedFrames(100)).find((f) => f[0] === honest.peer)!
    const altered = [...good] as typeof good
    altered[2] = new Uint8Array(good[2])
    altered[2][altered[2].length - 1] ^= 1

    // The rogue speaks gossipsub (so the target's gossipsub scores it) and serves that frame.
    const r = await rogue()
    const rid = r.peerId.toString()
    r.services.pubsub.subscribe(heartbeatTopic('ww'))
    await r.handle(syncProtocol(DEFAULT_NAMESPACE), async (stream) => {
      await byteStream(stream).read({ bytes: 1 })
      stream.send(encode([altered]))
      await stream.close()
    })
    const refused0 = target.sync.stats.refused
    await r.dial(target.libp2p.getMultiaddrs()[0]!)
    // The target pulls from it once identify shows it speaks sync, refuses, hangs up.
    await vi.waitFor(() => expect(target.sync.stats.refused, 'refused').toBe(refused0 + 1), { timeout: 10_000 })
    await vi.waitFor(() => expect(target.libp2p.getConnections(r.peerId), 'disconnected').toHaveLength(0), { timeout: 5000 })
    // Scored down in gossipsub (its score is retained while the peer is away; refreshed each second).
    await vi.waitFor(() => expect(gossipScore(target.libp2p.services.pubsub, rid), 'gossipsub score').toBeLessThan(SCORE_THRESHOLDS.graylistThreshold), { timeout: 5000 })
    expect(warnings.some((w) => w.includes(rid) && w.includes('state sync') && w.includes('scored down'))).toBe(true)

    // It dials again: the gater refuses it.
    const opened: string[] = []
    target.libp2p.addEventListener('connection:open', (e) => opened.push(e.detail.remotePeer.toString()))
    await r.dial(target.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    await vi.waitFor(() => expect(r.getConnections(target.libp2p.peerId).length === 0, 'the redial to be dropped').toBe(true), { timeout: 10_000 })
    expect(opened).not.toContain(rid)
    // The honest neighbour and its record are untouched.
    expect(gossipScore(target.libp2p.services.pubsub, honest.peer)).toBeGreaterThanOrEqual(0)
    expect(target.table.get(honest.peer)!.server).toBe(honest.server)
    expect(target.libp2p.getConnections(honest.libp2p.peerId).length).toBeGreaterThan(0)
  })
})

describe('a peer publishing heartbeats of a newer format version', () => {
  it('is ignored, not penalised: it keeps its score and its connection (a rolling upgrade)', async () => {
    const target = await cluster.start({ ttl: 1000 })
    const topic = heartbeatTopic('ww')
    const r = await rogue()
    const rid = r.peerId.toString()
    r.services.pubsub.subscribe(topic)
    await r.dial(target.libp2p.getMultiaddrs()[0]!)
    await vi.waitFor(() => expect(r.services.pubsub.getSubscribers(topic).some((p) => p.equals(target.libp2p.peerId))).toBe(true), { timeout: 10_000 })
    const ignored0 = target.membership.stats.ignored
    // [2, …]: a version this node does not read, signed by its sender. Ten of them: more than
    // enough to graylist a peer if they counted as invalid.
    for (let i = 0; i < 10; i++) {
      await r.services.pubsub.publish(topic, new Uint8Array([0x93, 0x02, 0xa1, 0x61 + i, 0x90]))
    }
    await vi.waitFor(() => expect(target.membership.stats.ignored - ignored0).toBeGreaterThanOrEqual(10), { timeout: 10_000 })
    // gossipsub's own counter of invalid deliveries on the topic (updated as each verdict comes
    // back, unlike the score, which is recomputed once a second) stayed at zero.
    const stats = (target.libp2p.services.pubsub as unknown as { dumpPeerScoreStats(): Record<string, { topics: Record<string, { invalidMessageDeliveries: number }> }> }).dumpPeerScoreStats()
    expect(stats[rid]?.topics[topic]?.invalidMessageDeliveries ?? 0).toBe(0)
    expect(gossipScore(target.libp2p.services.pubsub, rid)).toBeGreaterThanOrEqual(0)
    expect(target.libp2p.getConnections(r.peerId).length).toBeGreaterThan(0)
    expect(target.table.get(rid)).toBeUndefined()
  })
})

