/**
 * PubSub end to end on a real cluster: three nodes started with startNode on 127.0.0.1
 * (B and C bootstrapped from A), each serving clients over WebSocket.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Message, Session } from '../../src/api.js'
import { connect } from '../../src/proto/client/client.js'
import { meshTopic } from '../../src/cluster/pubsub.js'
import { Cluster, peersOf } from '../node/node-helpers.js'
import { dec, enc } from './pubsub-helpers.js'
import type { Node } from '../../src/node/node.js'

const cluster = new Cluster()
const sessions: Session[] = []
afterEach(async () => {
  await Promise.allSettled(sessions.map((s) => s.close()))
  sessions.length = 0
  await cluster.cleanup()
})

async function three(): Promise<[Node, Node, Node]> {
  const a = await cluster.start({ listen: 'ws://127.0.0.1:0' })
  const b = await cluster.start({ listen: 'ws://127.0.0.1:0', bootstrap: [a.multiaddrs[0]!] })
  const c = await cluster.start({ listen: 'ws://127.0.0.1:0', bootstrap: [a.multiaddrs[0]!] })
  await vi.waitFor(() => expect([a, b, c].every((n) => peersOf(n).length === 3), 'membership to converge').toBe(true), { timeout: 20_000 })
  return [a, b, c]
}

async function client(n: Node): Promise<Session> {
  const s = await connect(n.addr!)
  sessions.push(s)
  return s
}

/** True once `node`'s gossipsub sees every other node subscribed to client topic `name`. */
function meshHas(node: Node, others: Node[], name: string): boolean {
  const subs = node.libp2p.services.pubsub.getSubscribers(meshTopic('ww', name)).map(String)
  return others.every((o) => subs.includes(o.peer))
}

function collect(sub: AsyncIterable<Message>, n: number): Promise<Message[]> {
  const p = (async () => {
    const out: Message[] = []
    for await (const m of sub) {
      out.push(m)
      if (out.length >= n) break
    }
    return out
  })()
  // A test that fails before awaiting it must not leave an unhandled rejection behind.
  p.catch(() => {})
  return p
}

describe('PubSub across a three-node cluster', () => {
  it('a client of A publishes; clients of B and C get every message, in order per publisher', async () => {
    const [a, b, c] = await three()
    const pubA = (await client(a)).pubsub.join('events')
    const pubC = (await client(c)).pubsub.join('events')
    const subB = (await client(b)).pubsub.join('events').subscribe()
    const subC = (await client(c)).pubsub.join('events').subscribe()
    const N = 150
    const gotB = collect(subB, 2 * N)
    const gotC = collect(subC, 2 * N)
    await vi.waitFor(() => expect(b.pubsub.subscribers('events') === 1 && c.pubsub.subscribers('events') === 1, 'the subscriptions').toBe(true), { timeout: 10_000 })
    // B and C are connected through A only: C's messages reach B over two hops.
    await vi.waitFor(() => expect(meshHas(a, [b, c], 'events') && meshHas(c, [a], 'events') && meshHas(b, [a], 'events'), 'the topic mesh').toBe(true), { timeout: 15_000 })
    // Two publishers at once, on different nodes.
    await Promise.all([
      (async () => {
        for (let i = 0; i < N; i++) await pubA.publish(enc(`a${i}`))
      })(),
      (async () => {
        for (let i = 0; i < N; i++) await pubC.publish(enc(`c${i}`))
      })(),
    ])
    for (const got of [await gotB, await gotC]) {
      expect(got.every((m) => m.topic === 'events' && m.dropped === 0)).toBe(true)
      const fromA = got.filter((m) => m.from === a.peer).map((m) => dec(m.data))
      const fromC = got.filter((m) => m.from === c.peer).map((m) => dec(m.data))
      expect(fromA).toEqual(Array.from({ length: N }, (_, i) => `a${i}`))
      expect(fromC).toEqual(Array.from({ length: N }, (_, i) => `c${i}`))
    }
  })

  it('a client topic never reaches the membership topic', async () => {
    const [a, b] = await three()
    const heard: Array<{ topic: string; data: string }> = []
    b.libp2p.services.pubsub.addEventListener('message', (e) => heard.push({ topic: e.detail.topic, data: dec(e.detail.data) }))
    const evil = (await client(a)).pubsub.join(b.membership.topic)
    const sub = (await client(b)).pubsub.join(b.membership.topic).subscribe()
    const got = collect(sub, 2)
    await vi.waitFor(() => expect(b.pubsub.subscribers(b.membership.topic) === 1 && meshHas(a, [b], b.membership.topic), 'the topic mesh').toBe(true), { timeout: 15_000 })
    await evil.publish(enc('not a heartbeat'))
    await evil.publish(enc('marker'))
    expect((await got).map((m) => dec(m.data))).toEqual(['not a heartbeat', 'marker'])
    // Both went by on the client topic, never on the heartbeat topic, and the tables are intact.
    expect(heard.filter((h) => h.data === 'not a heartbeat').map((h) => h.topic)).toEqual([meshTopic('ww', b.membership.topic)])
    expect(heard.some((h) => h.topic === b.membership.topic && h.data === 'not a heartbeat')).toBe(false)
    expect(peersOf(b)).toHaveLength(3)
  })

  it('a dropped connection frees its subscriptions and the gossipsub topic on its node', async () => {
    const [, b] = await three()
    const s = await client(b)
    const t = s.pubsub.join('gone')
    const c1 = t.subscribe()
    const pending = c1.next()
    await vi.waitFor(() => expect(b.pubsub.subscribers('gone'), 'the subscription').toBe(1), { timeout: 10_000 })
    expect(b.libp2p.services.pubsub.getTopics()).toContain(meshTopic('ww', 'gone'))
    await s.close()
    expect(await pending).toBeUndefined()
    await vi.waitFor(() => expect(b.pubsub.stats().subscriptions === 0 && b.pubsub.stats().topics === 0, 'the node to free them').toBe(true), { timeout: 10_000 })
    expect(b.libp2p.services.pubsub.getTopics()).not.toContain(meshTopic('ww', 'gone'))
  })
})
