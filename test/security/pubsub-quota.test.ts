/**
 * Per-connection pub/sub quotas with a real libp2p node, a real PubSubBackend and real
 * WebSockets: one client cannot take the node-wide places an honest client needs.
 */
import { describe, expect, it } from 'vitest'
import type { Session } from '../../src/api.js'
import { hasCode } from '../../src/errors.js'
import { RoutingTable } from '../../src/table/table.js'
import { PubSubBackend, ERR_PUBSUB_LIMIT } from '../../src/cluster/pubsub.js'
import { serve, type Server } from '../../src/proto/server/server.js'
import { connect } from '../../src/proto/client/client.js'
import { pubsubCaps } from '../../src/proto/server/pubsub-cap.js'
import { enc, meshNode } from '../cluster/pubsub-helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()

async function served(): Promise<{ server: Server; backend: PubSubBackend }> {
  const node = await meshNode()
  cleanups.push(() => node.stop())
  // Node-wide caps as a production node has them (256 topics, 1024 subscriptions).
  const backend = new PubSubBackend({ pubsub: node.services.pubsub, peer: node.peerId.toString(), ns: 'quota' })
  cleanups.push(() => backend.close())
  const table = new RoutingTable()
  cleanups.push(() => table.close())
  const server = await serve({ listen: 'ws://127.0.0.1:0', table, peer: node.peerId.toString(), pubsub: pubsubCaps(backend) })
  cleanups.push(() => server.close())
  return { server, backend }
}

async function client(url: string): Promise<Session> {
  const s = await connect(url)
  cleanups.push(() => s.close())
  return s
}

describe('pub/sub quotas per connection', () => {
  it('a client joining 256 topics is stopped at 16; an honest client still joins, subscribes and publishes', async () => {
    const { server, backend } = await served()
    const greedy = await client(server.url)
    const results = await Promise.allSettled(Array.from({ length: 256 }, (_, i) => greedy.pubsub.join(`t${i}`).publish(enc('x'))))
    const refused = results.filter((r) => r.status === 'rejected')
    expect(results.length - refused.length).toBe(16)
    expect(refused.every((r) => hasCode((r as PromiseRejectedResult).reason, ERR_PUBSUB_LIMIT))).toBe(true)
    expect(backend.stats().topics).toBeLessThanOrEqual(16)
    const honest = await client(server.url)
    const t = honest.pubsub.join('honest')
    const sub = t.subscribe()
    await t.publish(enc('hello'))
    expect(sub.err()).toBeUndefined()
    sub.cancel()
  })

  it('a client opening 64 subscriptions is stopped at 32; a cancelled one frees its place', async () => {
    const { server } = await served()
    const greedy = await client(server.url)
    const topic = greedy.pubsub.join('busy')
    const subs = Array.from({ length: 40 }, () => topic.subscribe())
    // The 8 past the quota end at once with ERR_PUBSUB_LIMIT; the 32 others stay open.
    const over = subs.slice(32)
    for (const c of over) {
      expect(await c.next()).toBeUndefined()
      expect(hasCode(c.err(), ERR_PUBSUB_LIMIT)).toBe(true)
    }
    subs[0]!.cancel()
    await expect
      .poll(async () => {
        const c = topic.subscribe()
        const r = await Promise.race([c.next(), new Promise((res) => setTimeout(() => res('open'), 200))])
        const ok = r === 'open'
        c.cancel()
        return ok
      }, { timeout: 5000 })
      .toBe(true)
  })
})
