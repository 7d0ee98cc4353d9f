/**
 * Cluster admission with real nodes on 127.0.0.1: the allow-list (parsed strictly, enforced by
 * libp2p's connection gater and again by the heartbeat validator) and the table capacity.
 */
import { describe, expect, it, vi } from 'vitest'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { AllowList, DEFAULT_MAX_PEERS, ERR_ALLOW_LIST_INVALID, ERR_BAD_MAX_PEERS, loadAllowList, parseAllowList } from '../../src/cluster/admission.js'
import { generateSwarmKey } from '../../src/cluster/swarm-key.js'
import { gossipScore } from '../../src/cluster/scoring.js'
import type { Node } from '../../src/node/node.js'
import { cleanupAfterEach } from '../cleanup.js'
import { Cluster, peersOf } from '../node/node-helpers.js'

const cleanups = cleanupAfterEach()
const cluster = new Cluster()
cleanups.push(() => cluster.cleanup())

async function newPeer(): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>; id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

describe('allow-list file', () => {
  it('reads one peer ID per line, skipping blanks and # comments, CRLF too', async () => {
    const [a, b] = [await newPeer(), await newPeer()]
    const list = parseAllowList(`# cluster members\r\n\r\n  ${a.id}  # web-1\r\n${b.id}\n#${a.id.slice(0, 10)}\n`)
    expect([...list].sort()).toEqual([a.id, b.id].sort())
    expect(list.has(a.id)).toBe(true)
    expect(list.has(peerIdFromPrivateKey(a.key))).toBe(true)
    expect(list.has((await newPeer()).id)).toBe(false)
    expect(parseAllowList('').size).toBe(0)
  })

  it('refuses a line that is not a peer ID, naming the line', async () => {
    const a = await newPeer()
    expect(() => parseAllowList(`${a.id}\nnot-a-peer-id\n`, 'peers.txt')).toThrow(expect.objectContaining({ code: ERR_ALLOW_LIST_INVALID, message: expect.stringContaining('peers.txt line 2') }))
    expect(() => parseAllowList(`${a.id.slice(0, -1)}0`)).toThrow(expect.objectContaining({ code: ERR_ALLOW_LIST_INVALID }))
    expect(() => parseAllowList("12D3KooW")).toThrow(expect.objectContaining({ code: ERR_ALLOW_LIST_INVALID }))
    const dir = await mkdtemp(join(tmpdir(), 'ww-allow-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await expect(loadAllowList(join(dir, 'missing'))).rejects.toMatchObject({ code: ERR_ALLOW_LIST_INVALID })
    await expect(loadAllowList(dir)).rejects.toMatchObject({ code: ERR_ALLOW_LIST_INVALID })
    await writeFile(join(dir, 'peers'), `${a.id}\n`)
    expect([...(await loadAllowList(join(dir, 'peers')))]).toEqual([a.id])
  })
})

describe('allow-list on real nodes', () => {
  it('a node with the swarm key but not on the list is refused both ways, and its heartbeats relayed by a listed peer stay out', async () => {
    const swarmKey = generateSwarmKey()
    const [pa, pb, pc] = [await newPeer(), await newPeer(), await newPeer()]
    const dir = await mkdtemp(join(tmpdir(), 'ww-allow-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'peers')
    await writeFile(file, `# a lists b (and itself, implicitly)\n${pb.id}\n`)

    const a = await cluster.start({ identity: pa.key, swarmKey, allowPeers: file, ttl: 1000 })
    const opened: string[] = []
    a.libp2p.addEventListener('connection:open', (e) => opened.push(e.detail.remotePeer.toString()))
    // b has no list: it accepts c and relays c's heartbeats to a.
    const b = await cluster.start({ identity: pb.key, swarmKey, ttl: 1000, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.size === 2 && b.table.size === 2, 'a and b to converge').toBe(true), { timeout: 15_000 })
    const c = await cluster.start({ identity: pc.key, swarmKey, ttl: 1000, bootstrap: [b.multiaddrs[0]!] })
    await vi.waitFor(() => expect(b.table.get(c.peer) !== undefined && c.table.size === 3, 'c to reach b and learn a through it').toBe(true), { timeout: 15_000 })

    // The gater, inbound: c holds the key, yet a drops the connection once Noise names c. (c's
    // side may see it open for a moment: its muxer negotiation is optimistic.)
    await c.libp2p.dial(a.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    await vi.waitFor(() => expect(c.libp2p.getConnections(a.libp2p.peerId).length === 0, "c's connection to a to be closed").toBe(true), { timeout: 10_000 })
    expect(a.libp2p.getConnections(c.libp2p.peerId)).toHaveLength(0)
    // Outbound: a does not dial c, by peer ID or by address.
    await expect(a.libp2p.dial(c.libp2p.peerId, { signal: AbortSignal.timeout(10_000) })).rejects.toBeDefined()
    await expect(a.libp2p.dial(c.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })).rejects.toBeDefined()
    expect(a.libp2p.getConnections(c.libp2p.peerId)).toHaveLength(0)
    expect(opened).not.toContain(c.peer)

    // The validator: c's heartbeats reach a through b, signed by c, and are refused.
    const before = a.membership.stats.notAllowed
    await vi.waitFor(() => expect(a.membership.stats.notAllowed >= before + 2, "c's heartbeats relayed to a").toBe(true), { timeout: 15_000 })
    expect(peersOf(a)).toEqual([a.peer, b.peer].sort())
    expect(peersOf(b)).toEqual([a.peer, b.peer, c.peer].sort())
    // a refused them without penalising b, the honest relay.
    expect(gossipScore(a.libp2p.services.pubsub, b.peer)).toBeGreaterThanOrEqual(0)
    expect(a.libp2p.getConnections(b.libp2p.peerId).length).toBeGreaterThan(0)
    expect(opened).toContain(b.peer)
    expect(opened).not.toContain(c.peer)
  })

  it('the list in code, and the node itself always allowed', async () => {
    const pa = await newPeer()
    const a = await cluster.start({ identity: pa.key, allowPeers: new AllowList([]), ttl: 1000 })
    expect(peersOf(a)).toEqual([a.peer])
    const opened: string[] = []
    a.libp2p.addEventListener('connection:open', (e) => opened.push(e.detail.remotePeer.toString()))
    const b = await cluster.start({ ttl: 1000 })
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    await vi.waitFor(() => expect(b.libp2p.getConnections(a.libp2p.peerId).length === 0, "b's connection to a to be closed").toBe(true), { timeout: 10_000 })
    expect(opened).toEqual([])
    expect(peersOf(a)).toEqual([a.peer])
  })
})

describe('table capacity (maxPeers)', () => {
  it('refuses new peers beyond it and counts them; listed peers keep updating; a freed slot is taken', async () => {
    const ttl = 1000
    const a = await cluster.start({ ttl, maxPeers: 3 })
    const others: Node[] = []
    for (let i = 0; i < 3; i++) others.push(await cluster.start({ ttl, bootstrap: [a.multiaddrs[0]!] }))
    await vi.waitFor(() => expect(others.every((o) => o.table.size === 4), 'the others to see all four').toBe(true), { timeout: 20_000 })
    await vi.waitFor(() => expect(a.membership.stats.full >= 2, 'refusals on a').toBe(true), { timeout: 15_000 })
    expect(a.table.size).toBe(3)
    const listed = peersOf(a).filter((p) => p !== a.peer)
    const refused = others.find((o) => !listed.includes(o.peer))!
    expect(refused).toBeDefined()

    // Listed peers still update (their seq keeps growing).
    const seqs = listed.map((p) => a.table.get(p)!.seq)
    await vi.waitFor(() => expect(listed.every((p, i) => (a.table.get(p)?.seq ?? 0) > seqs[i]!), 'updates of listed peers').toBe(true), { timeout: 10_000 })
    expect(a.table.size).toBe(3)

    // One listed peer leaves: its slot goes to the refused one at its next heartbeat.
    const leaving = others.find((o) => o.peer === listed[0])!
    await leaving.stop()
    await vi.waitFor(() => expect(a.table.get(refused.peer) !== undefined, 'the refused peer to take the free slot').toBe(true), { timeout: 10_000 })
    expect(a.table.size).toBe(3)
  })

  it('is checked: a whole number ≥ 1, 100 000 by default', async () => {
    expect(DEFAULT_MAX_PEERS).toBe(100_000)
    for (const bad of [0, -1, 1.5, Number.NaN]) await expect(cluster.start({ maxPeers: bad })).rejects.toMatchObject({ code: ERR_BAD_MAX_PEERS })
  })
})
