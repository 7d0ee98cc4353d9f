/**
 * The swarm key: the file format (strict, as go-ipfs and @libp2p/pnet write it), `ww keygen`'s
 * file (mode 0600, never overwritten without force), and what it is for, tried with real libp2p
 * nodes on 127.0.0.1: a node without the key, or with another key, cannot connect to a node
 * that has one; two nodes with the same key form a cluster.
 */
import { describe, expect, it, vi } from 'vitest'
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import {
  ERR_SWARM_KEY_EXISTS,
  ERR_SWARM_KEY_INVALID,
  ERR_SWARM_KEY_IO,
  formatSwarmKey,
  generateSwarmKey,
  loadSwarmKey,
  parseSwarmKey,
  writeSwarmKey,
  type SwarmKey,
} from '../../src/cluster/swarm-key.js'
import { heartbeatTopic } from '../../src/cluster/membership.js'
import { cleanupAfterEach } from '../cleanup.js'
import { Cluster } from '../node/node-helpers.js'
import { meshNode } from './pubsub-helpers.js'

const cleanups = cleanupAfterEach()
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const HEX = 'dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d'

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ww-swarm-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

describe('swarm key file', () => {
  it('reads the go-ipfs / @libp2p/pnet format, with LF or CRLF and a trailing newline', () => {
    for (const text of [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX.toUpperCase()}\r\n`, `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n\n`]) {
      const k = parseSwarmKey(enc(text))
      expect(Buffer.from(k.key).toString('hex')).toBe(HEX)
      expect(new TextDecoder().decode(k.psk)).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`)
      expect(k.fingerprint).toMatch(/^[0-9a-f]{8}$/)
    }
    // pnet's own generator writes what we read.
    const file = new Uint8Array(95)
    generateKey(file)
    expect(parseSwarmKey(file).key).toHaveLength(32)
  })

  it('refuses anything else with ERR_SWARM_KEY_INVALID', () => {
    const bad = [
      '',
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(2)}`, // 31 bytes
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}00`, // 33 bytes
      `/key/swarm/psk/1.0.0/\n/base64/\n${Buffer.from(HEX, 'hex').toString('base64')}`,
      `/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`,
      `/base16/\n${HEX}`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 63)}g`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\nextra`,
      'x'.repeat(5000),
    ]
    for (const text of bad) expect(() => parseSwarmKey(enc(text)), JSON.stringify(text.slice(0, 40))).toThrow(expect.objectContaining({ code: ERR_SWARM_KEY_INVALID }))
    expect(() => parseSwarmKey(new Uint8Array([0xff, 0xfe, 0x00]))).toThrow(expect.objectContaining({ code: ERR_SWARM_KEY_INVALID }))
  })

  it('writes a new key 0600, refuses to overwrite without force, replaces it with force', async () => {
    const dir = await tempDir()
    const path = join(dir, 'swarm.key')
    const a = generateSwarmKey()
    await writeSwarmKey(path, a)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readFile(path, 'utf8')).toBe(formatSwarmKey(a))
    const loaded = await loadSwarmKey(path)
    expect(loaded.key).toEqual(a.key)
    expect(loaded.exposed).toBe(false)

    const b = generateSwarmKey()
    expect(b.key).not.toEqual(a.key)
    await expect(writeSwarmKey(path, b)).rejects.toMatchObject({ code: ERR_SWARM_KEY_EXISTS })
    expect((await loadSwarmKey(path)).key).toEqual(a.key)
    await chmod(path, 0o644)
    expect((await loadSwarmKey(path)).exposed).toBe(true)
    await writeSwarmKey(path, b, true)
    expect((await loadSwarmKey(path)).key).toEqual(b.key)
    expect((await stat(path)).mode & 0o777).toBe(0o600)

    await expect(loadSwarmKey(join(dir, 'missing.key'))).rejects.toMatchObject({ code: ERR_SWARM_KEY_IO })
    await expect(writeSwarmKey(join(dir, 'no/such/dir/swarm.key'), b)).rejects.toMatchObject({ code: ERR_SWARM_KEY_IO })
    await writeFile(join(dir, 'garbage.key'), 'not a key')
    await expect(loadSwarmKey(join(dir, 'garbage.key'))).rejects.toMatchObject({ code: ERR_SWARM_KEY_INVALID })
  })
})

describe('a private cluster (swarm key)', () => {
  const cluster = new Cluster()
  cleanups.push(() => cluster.cleanup())

  /** A bare libp2p node, like an attacker would run: the same stack as ww, optionally a key. */
  async function rogue(key?: SwarmKey): Promise<Libp2p> {
    const r = await meshNode({ privateKey: await generateKeyPair('Ed25519'), heartbeatInterval: 1000, ...(key !== undefined ? { psk: key.psk } : {}) })
    cleanups.push(() => r.stop())
    return r
  }

  it('a node without the key, or with another key, cannot connect; the same key forms a cluster', async () => {
    const key = generateSwarmKey()
    const a = await cluster.start({ swarmKey: key, ttl: 2000 })
    const b = await cluster.start({ swarmKey: key, ttl: 2000, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.size === 2 && b.table.size === 2, 'the keyed pair to converge').toBe(true), { timeout: 15_000 })

    const open = await rogue()
    const other = await rogue(generateSwarmKey())
    const keyed = await rogue(key) // control: the same bare stack with the key gets through
    for (const r of [open, other]) {
      await expect(r.dial(a.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })).rejects.toBeDefined()
      expect(r.getConnections(a.libp2p.peerId)).toHaveLength(0)
      expect(a.libp2p.getConnections(r.peerId)).toHaveLength(0)
    }
    // The other way round: the keyed node dialling them fails too.
    for (const r of [open, other]) {
      await expect(a.libp2p.dial(r.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })).rejects.toBeDefined()
      expect(a.libp2p.getConnections(r.peerId)).toHaveLength(0)
    }
    const conn = await keyed.dial(a.libp2p.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(10_000) })
    expect(conn.remotePeer.equals(a.libp2p.peerId)).toBe(true)

    // A node started with another key never joins.
    const warnings: string[] = []
    const c = await cluster.start({ swarmKey: generateSwarmKey(), ttl: 2000, bootstrap: [a.multiaddrs[0]!], logger: { info: () => {}, warn: (m) => warnings.push(m) } })
    // The node's redial loop reports the failed dial to its bootstrap peer.
    await vi.waitFor(() => expect(warnings.some((w) => w.includes('unreachable')), 'the failed bootstrap dial').toBe(true), { timeout: 15_000 })
    expect(c.libp2p.getPeers()).toHaveLength(0)
    expect(a.libp2p.services.pubsub.getSubscribers(heartbeatTopic('ww')).map(String)).toEqual([b.peer])
    expect(c.table.size).toBe(1)
    expect(a.table.get(c.peer)).toBeUndefined()
    expect(a.libp2p.getConnections(c.libp2p.peerId)).toHaveLength(0)
    // Each wait above is bounded (15 s to converge, 10 s per refused dial, 15 s for the
    // warning): a refused dial ends when the keyed side's upgrade times out (a few seconds,
    // longer on a loaded machine), so four of them and the rest can pass 30 s under load.
  }, 90_000)
})
