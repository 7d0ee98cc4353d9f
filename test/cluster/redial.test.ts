// The bootstrap redialer against real failures on 127.0.0.1: a port nobody listens on
// (refused at once) and a listener that accepts and never answers (the dial runs into its
// bound), with a real libp2p host. The clock that schedules retries is injected.
import { createServer, type Socket } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from '@libp2p/interface'
import { DIAL_TIMEOUT_GROWTH, Redialer, REDIAL_MIN } from '../../src/cluster/redial.js'
import { silentLogger } from '../../src/cluster/options.js'
import { cleanupAfterEach } from '../cleanup.js'
import { deadPort } from '../cli/helpers.js'
import { meshNode } from './pubsub-helpers.js'

const cleanups = cleanupAfterEach()

async function host(): Promise<Libp2p> {
  const n = await meshNode()
  cleanups.push(() => n.stop())
  return n
}

async function target(port: number): Promise<{ addr: ReturnType<typeof multiaddr>; peer: ReturnType<typeof peerIdFromPrivateKey> }> {
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return { addr: multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${peer}`), peer }
}

/** Records each dial the redialer starts, with when it settled (real time). */
function recordDials(libp2p: Libp2p): Array<{ start: number; end?: number }> {
  const dials: Array<{ start: number; end?: number }> = []
  const real = libp2p.dial.bind(libp2p)
  libp2p.dial = ((...args: Parameters<Libp2p['dial']>) => {
    const d: { start: number; end?: number } = { start: performance.now() }
    dials.push(d)
    return real(...args).finally(() => {
      d.end = performance.now()
    })
  }) as Libp2p['dial']
  return dials
}

describe('Redialer', () => {
  it('waits a jittered backoff after a refused dial: 50 % of the wait with randomness 0, 150 % with randomness near 1', async () => {
    for (const [r, wait] of [[0, REDIAL_MIN * 0.5], [0.999, REDIAL_MIN * 1.4995]] as const) {
      const libp2p = await host()
      const dials = recordDials(libp2p)
      let now = 1_000_000
      const redial = new Redialer({ libp2p, peers: [await target(await deadPort())], logger: silentLogger, random: () => r, now: () => now })
      cleanups.push(() => redial.stop())
      redial.start()
      redial.tick()
      await vi.waitFor(() => expect(dials[0]?.end, 'the first dial to be refused').toBeDefined(), { timeout: 10_000 })
      // Let the failure be recorded (its handler runs after the dial settles).
      await new Promise((resolve) => setImmediate(resolve))
      now += Math.floor(wait) - 1
      redial.tick()
      expect(dials.length, `no second dial ${Math.floor(wait) - 1} ms after the failure (randomness ${r})`).toBe(1)
      now += 2
      redial.tick()
      expect(dials.length, `a second dial ${Math.floor(wait) + 1} ms after the failure (randomness ${r})`).toBe(2)
      redial.stop()
    }
  })

  it('gives the dial after a failure twice the time: a slow peer is not cut off at the same bound again and again', async () => {
    // Accepts TCP and never answers, as a seed drowned in handshakes looks to a dialer.
    const held: Socket[] = []
    const silent = createServer((s) => held.push(s))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const s of held) s.destroy()
      silent.close(() => resolve())
    }))
    const libp2p = await host()
    const dials = recordDials(libp2p)
    let now = 0
    const bound = 300
    const redial = new Redialer({ libp2p, peers: [await target((silent.address() as { port: number }).port)], logger: silentLogger, dialTimeout: bound, random: () => 0, now: () => now })
    cleanups.push(() => redial.stop())
    redial.start()
    for (let i = 0; i < 3; i++) {
      redial.tick()
      await vi.waitFor(() => expect(dials[i]?.end, `dial ${i + 1} to run into its bound`).toBeDefined(), { timeout: 20_000 })
      await new Promise((resolve) => setImmediate(resolve))
      now += 60_000
    }
    const lasted = dials.map((d) => d.end! - d.start)
    // A timer never fires early, so these lower bounds hold on any machine: 300, 600, and
    // 600 ms again (the bound stops growing at DIAL_TIMEOUT_GROWTH = 2 times the first).
    expect(DIAL_TIMEOUT_GROWTH).toBe(2)
    expect(lasted[1], 'the second dial had twice the first bound').toBeGreaterThanOrEqual(2 * bound - 5)
    expect(lasted[2], 'the third dial had the largest bound').toBeGreaterThanOrEqual(DIAL_TIMEOUT_GROWTH * bound - 5)
  })
})
