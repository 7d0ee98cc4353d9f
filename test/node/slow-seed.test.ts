/**
 * A seed that answers late still takes the node in. Between a node and its bootstrap peer sits
 * a TCP relay on 127.0.0.1 that holds every new connection for {@link HOLD} ms before it
 * passes anything on, as a seed busy with a cold start's handshakes does. libp2p cuts every
 * dial of one address at 6 s by default, whatever bound the caller set; the node raises that
 * cap (src/node/node.ts) so the bootstrap redial's own bound (10 s, then 20 s) holds.
 */
import { connect, createServer, type Socket } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { cleanupAfterEach } from '../cleanup.js'
import { Cluster } from './node-helpers.js'

// Longer than libp2p's own per-address cap (6 s), shorter than the redial's first bound (10 s).
const HOLD = 7_000

const cleanups = cleanupAfterEach()
const cluster = new Cluster()
cleanups.push(() => cluster.cleanup())

/** A relay to 127.0.0.1:`port` that starts relaying each connection `hold` ms after it came. */
async function slowRelay(port: number, hold: number): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((inbound) => {
    sockets.add(inbound)
    inbound.pause()
    inbound.on('error', () => {})
    inbound.on('close', () => sockets.delete(inbound))
    const timer = setTimeout(() => {
      const outbound = connect(port, '127.0.0.1')
      sockets.add(outbound)
      outbound.on('error', () => inbound.destroy())
      inbound.on('close', () => outbound.destroy())
      outbound.on('close', () => {
        sockets.delete(outbound)
        inbound.destroy()
      })
      outbound.on('connect', () => {
        inbound.pipe(outbound)
        outbound.pipe(inbound)
        inbound.resume()
      })
    }, hold)
    inbound.on('close', () => clearTimeout(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  return (server.address() as { port: number }).port
}

describe('a bootstrap peer that answers late', () => {
  it(`is joined when each connection to it is held ${HOLD / 1000} s before the handshake starts`, async () => {
    const seed = await cluster.start({ ttl: 10_000, minPeers: 0, host: 'seed' })
    const seedAddr = seed.multiaddrs[0]!
    const seedPort = Number(/\/tcp\/(\d+)\//.exec(seedAddr)![1])
    const relay = await slowRelay(seedPort, HOLD)
    const node = await cluster.start({
      ttl: 10_000,
      minPeers: 0,
      host: 'late',
      bootstrap: [seedAddr.replace(`/tcp/${seedPort}/`, `/tcp/${relay}/`)],
    })
    const t0 = performance.now()
    // One held dial (HOLD, then the handshake) fits the first bound; a second try the next.
    await vi.waitFor(() => expect(node.table.get(seed.peer), 'the seed in the newcomer\'s table').toBeDefined(), { timeout: 45_000, interval: 100 })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(HOLD - 500)
    await vi.waitFor(() => expect(seed.table.get(node.peer), 'the newcomer in the seed\'s table').toBeDefined(), { timeout: 15_000, interval: 100 })
  }, 60_000)
})
