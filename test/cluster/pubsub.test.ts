import { afterEach, describe, expect, it, vi } from 'vitest'
import { hasCode } from '../../src/errors.js'
import {
  ERR_CAP_RELEASED, ERR_MESSAGE_TOO_LARGE, ERR_PUBSUB_LIMIT, ERR_TOPIC_NAME, MAX_MESSAGE_SIZE,
  PubSubBackend, meshTopic, validateTopicName, type PubSubBackendInit,
} from '../../src/cluster/pubsub.js'
import type { Message } from '../../src/api.js'
import { dec, enc, meshNode, meshReady, type MeshNode } from './pubsub-helpers.js'

let nodes: MeshNode[] = []
let backends: PubSubBackend[] = []

afterEach(async () => {
  for (const b of backends) b.close()
  await Promise.all(nodes.map((n) => n.stop()))
  nodes = []
  backends = []
})

async function cluster(n: number, init: Partial<PubSubBackendInit> = {}): Promise<{ nodes: MeshNode[]; backends: PubSubBackend[] }> {
  const ns = await Promise.all(Array.from({ length: n }, () => meshNode()))
  nodes.push(...ns)
  for (let i = 1; i < n; i++) await ns[i]!.dial(ns[0]!.getMultiaddrs()[0]!)
  const bs = ns.map((node) => new PubSubBackend({ pubsub: node.services.pubsub, peer: node.peerId.toString(), ns: 'test', ...init }))
  backends.push(...bs)
  return { nodes: ns, backends: bs }
}

async function collect(c: AsyncIterable<Message>, n: number): Promise<Message[]> {
  const out: Message[] = []
  if (n === 0) return out
  for await (const m of c) {
    out.push(m)
    if (out.length >= n) break
  }
  return out
}

describe('topic names', () => {
  it('accepts 1-128 of [A-Za-z0-9._-/]', () => {
    for (const ok of ['a', 'chat', 'a.b_c-d/e', 'X'.repeat(128), '0', '/x/']) expect(validateTopicName(ok)).toBe(ok)
  })

  it('rejects everything else with ERR_TOPIC_NAME', () => {
    for (const bad of ['', 'X'.repeat(129), 'sp ace', 'ü', 'a*b', 'tab\t', 'new\nline', 42, undefined]) {
      let err: unknown
      try {
        validateTopicName(bad)
      } catch (e) {
        err = e
      }
      expect(hasCode(err, ERR_TOPIC_NAME), String(bad)).toBe(true)
    }
  })

  it('maps every client topic under /ww/<ns>/pubsub/, apart from the heartbeat topic', () => {
    expect(meshTopic('ww', 'chat')).toBe('/ww/ww/pubsub/chat')
    expect(meshTopic('ww', '/ww/ww/heartbeat').startsWith('/ww/ww/pubsub/')).toBe(true)
  })
})

describe('PubSubBackend on real gossipsub nodes', () => {
  it('carries messages between nodes, in order, with the publisher as from', async () => {
    const { nodes: [a, b], backends: [ba, bb] } = await cluster(2)
    const ta = ba!.open().join('chat')
    const tb = bb!.open().join('chat')
    await meshReady([a!, b!], meshTopic('test', 'chat'))
    const sub = tb.subscribe()
    const got = collect(sub, 50)
    for (let i = 0; i < 50; i++) await ta.publish(enc(`m${i}`))
    const msgs = await got
    expect(msgs.map((m) => dec(m.data))).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
    expect(new Set(msgs.map((m) => m.from))).toEqual(new Set([a!.peerId.toString()]))
    expect(msgs.every((m) => m.topic === 'chat' && m.dropped === 0)).toBe(true)
  })

  it('delivers a publication to subscribers on the publishing node itself, once', async () => {
    const { nodes: [a, b], backends: [ba, bb] } = await cluster(2)
    const t1 = ba!.open().join('self')
    const tb = bb!.open().join('self') // a remote subscriber, so the mesh path is exercised too
    const subB = tb.subscribe()
    await meshReady([a!, b!], meshTopic('test', 'self'))
    const sub = t1.subscribe()
    await t1.publish(enc('one'))
    await t1.publish(enc('two'))
    expect((await collect(sub, 2)).map((m) => [dec(m.data), m.from])).toEqual([['one', a!.peerId.toString()], ['two', a!.peerId.toString()]])
    // no duplicate arrives afterwards from the mesh
    const sub2 = t1.subscribe()
    await t1.publish(enc('three'))
    expect(dec((await sub2.next())!.data)).toBe('three')
    // A duplicate could only come back through B. Once B has 'three', a marker B publishes
    // travels the same way behind any such duplicate: the next message must be the marker.
    for (let m = await subB.next(); m === undefined || dec(m.data) !== 'three'; m = await subB.next()) {
      expect(m, 'B to receive three').toBeDefined()
    }
    await tb.publish(enc('marker'))
    expect(dec((await sub2.next())!.data)).toBe('marker')
  })

  it('a publish nobody else hears succeeds and reaches the local subscribers, whatever gossipsub was told', async () => {
    // gossipsub's default throws on a publish no peer is subscribed to; the node sees no error.
    const node = await meshNode({ allowPublishToZeroTopicPeers: false })
    nodes.push(node)
    const b = new PubSubBackend({ pubsub: node.services.pubsub, peer: node.peerId.toString(), ns: 'test' })
    backends.push(b)
    const t = b.open().join('alone')
    const sub = t.subscribe()
    await t.publish(enc('hello'))
    expect(dec((await sub.next())!.data)).toBe('hello')
  })

  it('joining twice shares one gossipsub subscription; the last release leaves the topic', async () => {
    const { nodes: [a], backends: [ba] } = await cluster(1)
    const mesh = meshTopic('test', 'shared')
    const t1 = ba!.open().join('shared')
    const t2 = ba!.open().join('shared')
    expect(a!.services.pubsub.getTopics().filter((t) => t === mesh)).toHaveLength(1)
    expect(ba!.stats()).toMatchObject({ topics: 1, handles: 2 })
    expect(a!.services.pubsub.topicValidators.has(mesh)).toBe(true)
    t1.release()
    expect(a!.services.pubsub.getTopics()).toContain(mesh)
    expect(ba!.stats()).toMatchObject({ topics: 1, handles: 1 })
    t2.release()
    t2.release() // idempotent: must not drive the count below zero
    expect(a!.services.pubsub.getTopics()).not.toContain(mesh)
    expect(a!.services.pubsub.topicValidators.has(mesh)).toBe(false)
    expect(ba!.stats()).toMatchObject({ topics: 0, handles: 0 })
  })

  it('enforces the message size limit on publish and rejects oversized messages from the mesh', async () => {
    const { nodes: [a, b], backends: [ba] } = await cluster(2)
    const mesh = meshTopic('test', 'big')
    const ta = ba!.open().join('big')
    b!.services.pubsub.subscribe(mesh)
    await meshReady([a!, b!], mesh)
    await expect(ta.publish(new Uint8Array(MAX_MESSAGE_SIZE + 1))).rejects.toSatisfy((e) => hasCode(e, ERR_MESSAGE_TOO_LARGE))
    const validate = a!.services.pubsub.topicValidators.get(mesh)!
    const signed = (size: number) => ({ type: 'signed', topic: mesh, data: new Uint8Array(size) }) as never
    expect(await validate(b!.peerId, signed(MAX_MESSAGE_SIZE))).toBe('accept')
    expect(await validate(b!.peerId, signed(MAX_MESSAGE_SIZE + 1))).toBe('reject')
    expect(await validate(b!.peerId, { type: 'unsigned', topic: mesh, data: new Uint8Array(1) } as never)).toBe('reject')
    const sub = ta.subscribe()
    // A peer bypassing ww and publishing straight into the mesh topic: the validator drops it.
    await b!.services.pubsub.publish(mesh, new Uint8Array(MAX_MESSAGE_SIZE + 1))
    await b!.services.pubsub.publish(mesh, new Uint8Array(MAX_MESSAGE_SIZE).fill(7))
    const m = (await sub.next())!
    expect(m.data.byteLength).toBe(MAX_MESSAGE_SIZE)
    expect(m.data[0]).toBe(7)
    expect(m.dropped).toBe(0)
  })

  it('a client topic can never reach the membership topic', async () => {
    const { nodes: [a, b], backends: [ba] } = await cluster(2)
    const heartbeat = '/ww/test/heartbeat'
    const heard: string[] = []
    b!.services.pubsub.subscribe(heartbeat)
    b!.services.pubsub.addEventListener('message', (e) => heard.push(e.detail.topic))
    const t = ba!.open().join('/ww/test/heartbeat')
    b!.services.pubsub.subscribe(meshTopic('test', '/ww/test/heartbeat'))
    await meshReady([a!, b!], meshTopic('test', '/ww/test/heartbeat'))
    await t.publish(enc('fake heartbeat'))
    await vi.waitFor(() => expect(heard.length > 0, 'the publication').toBe(true), { timeout: 10_000 })
    expect(heard).toEqual(['/ww/test/pubsub//ww/test/heartbeat'])
    expect(heard).not.toContain(heartbeat)
  })

  it('a slow subscriber: the buffer stays within its bound, the oldest are dropped and counted', async () => {
    const { nodes: [a, b], backends: [ba, bb] } = await cluster(2, { buffer: { maxMessages: 8 } })
    const ta = ba!.open().join('slow')
    const tb = bb!.open().join('slow')
    await meshReady([a!, b!], meshTopic('test', 'slow'))
    const sub = tb.subscribe()
    for (let i = 0; i < 60; i++) await ta.publish(enc(`m${i}`))
    await vi.waitFor(() => expect(bb!.stats().dropped, 'all 60 to arrive').toBe(52), { timeout: 15_000 })
    expect(bb!.stats().buffered).toBe(8)
    expect(bb!.stats().peakBuffered).toBeLessThanOrEqual(8)
    const msgs = await collect(sub, 8)
    expect(msgs.map((m) => dec(m.data))).toEqual(Array.from({ length: 8 }, (_, i) => `m${52 + i}`))
    expect(msgs.map((m) => m.dropped)).toEqual([52, 0, 0, 0, 0, 0, 0, 0])
  })

  it('cancelling a subscription frees it; releasing the scope frees every topic and ends cursors', async () => {
    const { nodes: [a], backends: [ba] } = await cluster(1)
    const scope = ba!.open()
    const t = scope.join('x')
    const c1 = t.subscribe()
    const c2 = t.subscribe()
    scope.join('y').subscribe()
    expect(ba!.stats()).toMatchObject({ topics: 2, subscriptions: 3 })
    c1.cancel()
    expect(ba!.stats().subscriptions).toBe(2)
    const pending = c2.next()
    scope.release()
    expect(await pending).toBeUndefined()
    expect(c2.err()).toBeUndefined()
    expect(ba!.stats()).toMatchObject({ topics: 0, handles: 0, subscriptions: 0 })
    expect(a!.services.pubsub.getTopics().filter((x) => x.startsWith('/ww/test/pubsub/'))).toEqual([])
    expect(() => scope.join('z')).toThrow(expect.objectContaining({ code: ERR_CAP_RELEASED }))
    await expect(t.publish(enc('late'))).rejects.toSatisfy((e) => hasCode(e, ERR_CAP_RELEASED))
    expect(hasCode(t.subscribe().err(), ERR_CAP_RELEASED)).toBe(true)
  })

  it('an aborted signal ends a subscription with ERR_ABORTED and frees it', async () => {
    const { backends: [ba] } = await cluster(1)
    const t = ba!.open().join('ab')
    const ac = new AbortController()
    const c = t.subscribe({ signal: ac.signal })
    const pending = c.next()
    ac.abort()
    expect(await pending).toBeUndefined()
    expect(c.err()).toMatchObject({ code: 'ERR_ABORTED' })
    expect(ba!.stats().subscriptions).toBe(0)
  })

  it('limits topics and subscriptions per node with ERR_PUBSUB_LIMIT', async () => {
    const { backends: [ba] } = await cluster(1, { maxTopics: 2, maxSubscriptions: 1 })
    const s = ba!.open()
    const t = s.join('a')
    s.join('a') // same topic: no new gossipsub subscription
    s.join('b')
    expect(() => s.join('c')).toThrow(expect.objectContaining({ code: ERR_PUBSUB_LIMIT }))
    t.subscribe()
    expect(t.subscribe().err()).toMatchObject({ code: ERR_PUBSUB_LIMIT })
  })

  it('close() ends every subscription and leaves the mesh topics', async () => {
    const { nodes: [a], backends: [ba] } = await cluster(1)
    const c = ba!.open().join('end').subscribe()
    const pending = c.next()
    ba!.close()
    expect(await pending).toBeUndefined()
    expect(a!.services.pubsub.getTopics()).toEqual([])
  })
})
