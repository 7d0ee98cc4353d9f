import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Message, Session } from '../../src/api.js'
import { hasCode } from '../../src/errors.js'
import { RoutingTable } from '../../src/table/table.js'
import {
  ERR_MESSAGE_TOO_LARGE, ERR_PUBSUB_LIMIT, ERR_TOPIC_NAME, MAX_MESSAGE_SIZE, PubSubBackend, meshTopic, type PubSubBackendInit,
} from '../../src/cluster/pubsub.js'
import { serve, type Server } from '../../src/proto/server/server.js'
import { connect } from '../../src/proto/client/client.js'
import { pubsubCaps } from '../../src/proto/server/pubsub-cap.js'
import { remotePubSub, Slots } from '../../src/proto/client/remote-pubsub.js'
import { dec, enc, meshNode, meshReady, type MeshNode } from '../cluster/pubsub-helpers.js'

interface Served {
  node: MeshNode
  backend: PubSubBackend
  server: Server
  url: string
}

const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const f of cleanup.reverse()) await f()
  cleanup.length = 0
})

async function servedNode(init: Partial<PubSubBackendInit> = {}, token?: string): Promise<Served> {
  const node = await meshNode()
  cleanup.push(() => node.stop())
  const backend = new PubSubBackend({ pubsub: node.services.pubsub, peer: node.peerId.toString(), ns: 'wire', ...init })
  cleanup.push(() => backend.close())
  const table = new RoutingTable()
  cleanup.push(() => table.close())
  const server = await serve({ listen: 'ws://127.0.0.1:0', table, peer: node.peerId.toString(), pubsub: pubsubCaps(backend), ...(token !== undefined ? { token } : {}) })
  cleanup.push(() => server.close())
  return { node, backend, server, url: server.url }
}

async function client(url: string, token?: string): Promise<Session> {
  const s = await connect(url, { pubsub: remotePubSub(), ...(token !== undefined ? { token } : {}) })
  cleanup.push(() => s.close())
  return s
}

async function take(c: AsyncIterable<Message>, n: number): Promise<Message[]> {
  const out: Message[] = []
  for await (const m of c) {
    out.push(m)
    if (out.length >= n) break
  }
  return out
}

describe('PubSub over the wire', () => {
  it('a client of one node publishes, a client of another receives every message in order', async () => {
    const a = await servedNode()
    const b = await servedNode()
    await b.node.dial(a.node.getMultiaddrs()[0]!)
    const pub = (await client(a.url)).pubsub.join('news')
    const sub = (await client(b.url)).pubsub.join('news').subscribe()
    const got = take(sub, 100)
    await vi.waitFor(() => expect(b.backend.subscribers('news'), 'the subscription on B').toBe(1), { timeout: 10_000 })
    await meshReady([a.node, b.node], meshTopic('wire', 'news'))
    for (let i = 0; i < 100; i++) await pub.publish(enc(`n${i}`))
    const msgs = await got
    expect(msgs.map((m) => dec(m.data))).toEqual(Array.from({ length: 100 }, (_, i) => `n${i}`))
    expect(msgs.every((m) => m.topic === 'news' && m.from === a.node.peerId.toString() && m.dropped === 0)).toBe(true)
  })

  it('carries a message of exactly the size limit end to end; one byte more fails on the client', async () => {
    const a = await servedNode()
    const s = await client(a.url)
    const t = s.pubsub.join('big')
    const sub = t.subscribe()
    await vi.waitFor(() => expect(a.backend.subscribers('big'), 'the subscription').toBe(1), { timeout: 10_000 })
    const data = new Uint8Array(MAX_MESSAGE_SIZE).map((_, i) => i & 0xff)
    await t.publish(data)
    const m = (await sub.next())!
    expect(sub.err()).toBeUndefined()
    expect(m.data).toEqual(data)
    await expect(t.publish(new Uint8Array(MAX_MESSAGE_SIZE + 1))).rejects.toSatisfy((e) => hasCode(e, ERR_MESSAGE_TOO_LARGE))
  })

  it('rejects bad topic names on the client before sending, and on the node', async () => {
    const a = await servedNode()
    const s = await client(a.url)
    expect(() => s.pubsub.join('no spaces')).toThrow(expect.objectContaining({ code: ERR_TOPIC_NAME }))
    // A client that skips the local check: the node refuses too, and the connection lives on.
    let rawJoin: Promise<unknown> | undefined
    const raw = await connect(a.url, {
      pubsub: (conn, cap) => {
        rawJoin = conn.call(cap, 'join', { topic: 'no spaces' }, { bind: conn.newCapId() })
        return remotePubSub()(conn, cap)
      },
    })
    cleanup.push(() => raw.close())
    await expect(rawJoin).rejects.toSatisfy((e) => hasCode(e, ERR_TOPIC_NAME))
    expect(await raw.view.lookup()).toBeUndefined() // still connected
  })

  it('a slow subscriber: node buffer bounded, client buffer bounded by credit, dropped counted', async () => {
    const a = await servedNode({ buffer: { maxMessages: 16 } })
    const s = await client(a.url)
    const t = s.pubsub.join('flood')
    const sub = t.subscribe()
    // The first next() opens the stream; then the consumer stops reading.
    const first = sub.next()
    await vi.waitFor(() => expect(a.backend.subscribers('flood'), 'the subscription').toBe(1), { timeout: 10_000 })
    // 400 KiB against a 64 KiB window and a 16-message buffer: most must be dropped.
    const payload = new Uint8Array(1024)
    for (let i = 0; i < 400; i++) await t.publish(payload)
    await first
    const st = a.backend.stats()
    expect(st.peakBuffered).toBeLessThanOrEqual(16)
    expect(st.buffered).toBeLessThanOrEqual(16)
    expect(st.dropped).toBeGreaterThan(0)
    // What the node sent but the client hasn't consumed stays within the stream's window.
    const perStream = a.server.stats().perStream
    expect(perStream.length).toBe(1)
    expect(perStream[0]!.maxInFlight).toBeLessThanOrEqual(perStream[0]!.window + 2048)
    // Read on: somewhere a message reports the gap.
    let dropped = 0
    let n = 0
    while (n < 400 && dropped === 0) {
      const m = await sub.next()
      if (m === undefined) break
      dropped += m.dropped
      n++
    }
    expect(dropped).toBeGreaterThan(0)
    expect(n).toBeLessThan(400)
  }, 60_000)

  it('cancel a subscription, release a topic, drop the connection: the node frees everything', async () => {
    const a = await servedNode()
    const s = await client(a.url)
    const t1 = s.pubsub.join('x')
    const t2 = s.pubsub.join('x')
    const c1 = t1.subscribe()
    const c2 = t2.subscribe()
    const p1 = c1.next()
    const p2 = c2.next()
    await vi.waitFor(() => expect(a.backend.subscribers('x'), 'two subscriptions').toBe(2), { timeout: 10_000 })
    expect(a.backend.stats()).toMatchObject({ topics: 1, handles: 2 })
    expect(a.node.services.pubsub.getTopics()).toContain(meshTopic('wire', 'x'))
    c1.cancel()
    expect(await p1).toBeUndefined()
    await vi.waitFor(() => expect(a.backend.subscribers('x'), 'the cancel to reach the node').toBe(1), { timeout: 10_000 })
    t1.release()
    await vi.waitFor(() => expect(a.backend.stats().handles, 'the release to reach the node').toBe(1), { timeout: 10_000 })
    expect(a.node.services.pubsub.getTopics()).toContain(meshTopic('wire', 'x'))
    // A second client on the same topic, then the first connection drops.
    const other = (await client(a.url)).pubsub.join('x')
    await vi.waitFor(() => expect(a.backend.stats().handles, 'the second join').toBe(2), { timeout: 10_000 })
    await s.close()
    expect(await p2).toBeUndefined()
    await vi.waitFor(() => expect(a.backend.stats().handles === 1 && a.backend.subscribers('x') === 0, 'the drop to free everything').toBe(true), { timeout: 10_000 })
    expect(a.node.services.pubsub.getTopics()).toContain(meshTopic('wire', 'x'))
    other.release()
    await vi.waitFor(() => expect(a.backend.stats().topics, 'the last release').toBe(0), { timeout: 10_000 })
    expect(a.node.services.pubsub.getTopics()).not.toContain(meshTopic('wire', 'x'))
  })

  it('releasing the PubSub releases every topic it joined on the node', async () => {
    const a = await servedNode()
    const s = await client(a.url)
    const t = s.pubsub.join('p')
    s.pubsub.join('q')
    const c = t.subscribe()
    const pending = c.next()
    await vi.waitFor(() => expect(a.backend.stats().subscriptions === 1 && a.backend.stats().topics === 2, 'joins').toBe(true), { timeout: 10_000 })
    s.pubsub.release()
    expect(await pending).toBeUndefined()
    await vi.waitFor(() => expect(a.backend.stats().topics, 'the release').toBe(0), { timeout: 10_000 })
    await expect(t.publish(enc('late'))).rejects.toMatchObject({ code: 'ERR_CAP_RELEASED' })
    expect(() => s.pubsub.join('r')).toThrow(expect.objectContaining({ code: 'ERR_CAP_RELEASED' }))
  })

  it('a refused join surfaces on the topic', async () => {
    const a = await servedNode({ maxTopics: 1 })
    const s = await client(a.url)
    s.pubsub.join('one')
    const t = s.pubsub.join('two')
    await expect(t.publish(enc('x'))).rejects.toSatisfy((e) => hasCode(e, ERR_PUBSUB_LIMIT))
    const c = t.subscribe()
    expect(await c.next()).toBeUndefined()
    expect(hasCode(c.err(), ERR_PUBSUB_LIMIT)).toBe(true)
  })

  it('without the token a client gets the null PubSub; with it the real one', async () => {
    const a = await servedNode({}, 'secret')
    const anon = await client(a.url)
    expect(anon.pubsub.isNull).toBe(true)
    const t = anon.pubsub.join('t')
    await t.publish(enc('ignored'))
    expect(await t.subscribe().toArray()).toEqual([])
    expect(a.backend.stats().topics).toBe(0)
    const ok = await client(a.url, 'secret')
    expect(ok.pubsub.isNull).toBe(false)
    ok.pubsub.join('t')
    await vi.waitFor(() => expect(a.backend.stats().topics, 'the join').toBe(1), { timeout: 10_000 })
  })

  it('bounds the publishes in flight per session', async () => {
    const a = await servedNode()
    const s = await connect(a.url, { pubsub: remotePubSub({ maxInFlight: 2 }) })
    cleanup.push(() => s.close())
    const t = s.pubsub.join('burst')
    const sub = t.subscribe()
    const got = take(sub, 50)
    await vi.waitFor(() => expect(a.backend.subscribers('burst'), 'the subscription').toBe(1), { timeout: 10_000 })
    // Count what the node is working on at once (a spy around the real gossipsub publish).
    const gs = a.node.services.pubsub
    const realPublish = gs.publish.bind(gs)
    let working = 0
    let maxWorking = 0
    gs.publish = async (topic, data) => {
      working++
      maxWorking = Math.max(maxWorking, working)
      try {
        // Slow the mesh down so that, unbounded, the publishes would pile up on the node.
        await new Promise((r) => setTimeout(r, 5))
        return await realPublish(topic, data)
      } finally {
        working--
      }
    }
    // Fired without awaiting: the client queues them, in order.
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.publish(enc(`b${i}`))))
    expect((await got).map((m) => dec(m.data))).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`))
    expect(maxWorking).toBe(2)
  })
})

describe('Slots', () => {
  it('admits at most max at once, in FIFO order, and honours abort while waiting', async () => {
    const s = new Slots(2)
    await s.acquire()
    await s.acquire()
    expect(s.used).toBe(2)
    const order: number[] = []
    const w1 = s.acquire().then(() => order.push(1))
    const ac = new AbortController()
    const w2 = s.acquire(ac.signal)
    const w3 = s.acquire().then(() => order.push(3))
    ac.abort()
    await expect(w2).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    s.release()
    await w1
    s.release()
    await w3
    expect(order).toEqual([1, 3])
    expect(s.used).toBe(2)
  })
})
