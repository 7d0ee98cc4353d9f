/**
 * What docs/protocol.md promises a client author in another language, checked against a real
 * node over real WebSockets: the frame bytes written out in hex, nil as "not given", the
 * URL path, the WebSocket close codes (and which failures send no `error` frame first),
 * the null PubSub's argument checks, and which side raises ERR_CAP_UNKNOWN, ERR_CAP_RELEASED
 * and ERR_TOO_MANY_CAPS.
 */
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { Server } from '../../src/proto/server/server.js'
import type { Session } from '../../src/api.js'
import { hasCode } from '../../src/errors.js'
import { decodeNodeFrame, encodeFrame, type ClientFrame, type NodeFrame } from '../../src/proto/wire/frames.js'
import { filledTable, openSession, RawClient, serveTable } from './helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const PROTOCOL = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')

async function start(init: Parameters<typeof serveTable>[1] = {}): Promise<Server> {
  const s = await serveTable(filledTable(20), init)
  cleanups.push(() => s.close())
  return s
}

const session = (url: string, token?: string): Promise<Session> => openSession(cleanups, url, token)

async function raw(url: string, token?: string): Promise<RawClient> {
  const { raw: r, welcome } = await RawClient.hello(url, token)
  expect(welcome.t).toBe('welcome')
  cleanups.push(() => r.close())
  return r
}

/**
 * A bare `ws` client that records every frame and the close code, so a test sees exactly
 * what reached the wire before the close.
 */
async function wsClient(url: string): Promise<{ ws: WebSocket; frames: NodeFrame[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  cleanups.push(() => ws.terminate())
  const frames: NodeFrame[] = []
  ws.on('message', (data: Buffer) => frames.push(decodeNodeFrame(new Uint8Array(data))))
  ws.on('error', () => {})
  const closed = once(ws, 'close').then(([code]) => code as number)
  await once(ws, 'open')
  return { ws, frames, closed }
}

function hello(ws: WebSocket): void {
  ws.send(encodeFrame({ t: 'hello', v: 1 }))
}

const ALL = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

describe('frames written out in docs/protocol.md', () => {
  // The hex blocks of the doc, in order: each line's bytes up to the first run of 2+ spaces.
  const blocks = [...PROTOCOL.matchAll(/```hex\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.split(/ {2,}/)[0]!.trim())
      .filter((l) => l !== '')
      .join(' '),
  )
  const hex = (f: ClientFrame | NodeFrame): string => Buffer.from(encodeFrame(f)).toString('hex').replace(/(..)(?!$)/g, '$1 ')

  it('are the bytes the real codec produces', () => {
    expect(blocks).toEqual([
      hex({ t: 'hello', v: 1 }),
      hex({ t: 'call', id: 1, cap: 0, m: 'lookup', a: { q: { op: 'lookup', selector: { kind: 'match', index: { field: 'host', value: 'web-1', prefix: false } }, constraints: [], reverse: false } } }),
      hex({ t: 'result', id: 1, value: null }),
    ])
  })

  it('and a node answers them as the doc says', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    const bytes = (b: string): Buffer => Buffer.from(b.replace(/ /g, ''), 'hex')
    c.ws.send(bytes(blocks[0]!))
    await expect.poll(() => c.frames.length).toBe(1)
    expect(c.frames[0]).toMatchObject({ t: 'welcome', v: 1 })
    c.ws.send(bytes(blocks[1]!))
    await expect.poll(() => c.frames.length).toBe(2)
    // No record has host web-1 in this table: the answer is the doc's third block, byte for byte.
    expect(c.frames[1]).toEqual(decodeNodeFrame(bytes(blocks[2]!)))
  })
})

describe('nil means "not given"', () => {
  it('a Statement index with key nil on a builtin field is accepted over the wire', async () => {
    const server = await start()
    const r = await raw(server.url)
    const q = { ...ALL, selector: { kind: 'match', index: { field: 'host', key: null, value: 'host-001', prefix: false } } }
    // encode() writes the null as MessagePack nil (c0).
    r.sendBytes(encode({ t: 'call', id: 1, cap: 0, m: 'lookup', a: { q } }))
    const f = await r.read()
    expect(f).toMatchObject({ t: 'result', id: 1, value: { host: 'host-001' } })
  })

  it('optional frame fields sent as nil are absent: a, bind, window', async () => {
    const server = await start()
    const r = await raw(server.url)
    r.sendBytes(encode({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: { ...ALL, constraints: [{ kind: 'limit', n: 1 }] } }, bind: null, window: null }))
    expect(await r.read()).toMatchObject({ t: 'batch', id: 1 })
    expect(await r.read()).toEqual({ t: 'end', id: 1 })
    r.sendBytes(encode({ t: 'call', id: 2, cap: 0, m: 'release', a: null }))
    expect(await r.read()).toEqual({ t: 'result', id: 2, value: undefined })
  })
})

describe('the WebSocket URL', () => {
  it('path and query are ignored by a node listening without a path', async () => {
    const server = await start()
    const s = await session(`${server.url}/any/path?x=1`)
    expect(await s.view.lookup('WHERE host=host-001')).toMatchObject({ host: 'host-001' })
  })
})

describe('WebSocket close codes', () => {
  it('a protocol error: an error frame, then close 1000', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    hello(c.ws)
    c.ws.send(encodeFrame({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: { op: 'drop' } } } as ClientFrame))
    expect(await c.closed).toBe(1000)
    expect(c.frames.map((f) => f.t)).toEqual(['welcome', 'error'])
    expect(c.frames[1]).toMatchObject({ code: 'ERR_BAD_QUERY' })
  })

  it('a text message: close 1003 with no error frame', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    hello(c.ws)
    await expect.poll(() => c.frames.length).toBe(1)
    c.ws.send('{"t":"call"}')
    expect(await c.closed).toBe(1003)
    expect(c.frames.map((f) => f.t)).toEqual(['welcome'])
  })

  it('a message over 4 MiB: close 1009 with no error frame', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    hello(c.ws)
    await expect.poll(() => c.frames.length).toBe(1)
    c.ws.send(new Uint8Array(4 * 1024 * 1024 + 1))
    expect(await c.closed).toBe(1009)
    expect(c.frames.map((f) => f.t)).toEqual(['welcome'])
  })

  it('a frame over the node frame limit but within 4 MiB: error ERR_FRAME_TOO_LARGE, then close 1000', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    hello(c.ws)
    await expect.poll(() => c.frames.length).toBe(1)
    c.ws.send(new Uint8Array(1024 * 1024 + 1))
    expect(await c.closed).toBe(1000)
    expect(c.frames.map((f) => f.t)).toEqual(['welcome', 'error'])
    expect(c.frames[1]).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' })
  })

  it('the node shutting down: error ERR_NODE_CLOSING, then close 1000', async () => {
    const server = await start()
    const c = await wsClient(server.url)
    hello(c.ws)
    await expect.poll(() => c.frames.length).toBe(1)
    await server.close()
    expect(await c.closed).toBe(1000)
    expect(c.frames.map((f) => f.t)).toEqual(['welcome', 'error'])
    expect(c.frames[1]).toMatchObject({ code: 'ERR_NODE_CLOSING' })
  })
})

describe('the null PubSub checks its arguments as the real one does', () => {
  // A node that requires a token hands a client without it the null PubSub.
  it('over the wire: bad names and oversized messages are answered, wrong types close', async () => {
    const server = await start({ token: 'secret' })
    const { raw: r, welcome } = await RawClient.hello(server.url)
    cleanups.push(() => r.close())
    expect(welcome).toMatchObject({ t: 'welcome', pubsub: { cap: 1, null: true } })
    r.send({ t: 'call', id: 1, cap: 1, m: 'join', a: { topic: 'bad name!' }, bind: 7 })
    expect(await r.read()).toMatchObject({ t: 'result', id: 1, error: { code: 'ERR_TOPIC_NAME' } })
    r.send({ t: 'call', id: 2, cap: 1, m: 'join', a: { topic: 'x'.repeat(129) }, bind: 7 })
    expect(await r.read()).toMatchObject({ t: 'result', id: 2, error: { code: 'ERR_TOPIC_NAME' } })
    // the refused join bound nothing
    r.send({ t: 'call', id: 3, cap: 7, m: 'subscribe', a: {} })
    expect(await r.read()).toMatchObject({ t: 'result', id: 3, error: { code: 'ERR_CAP_UNKNOWN' } })
    r.send({ t: 'call', id: 4, cap: 1, m: 'join', a: { topic: 'chat' }, bind: 7 })
    expect(await r.read()).toEqual({ t: 'result', id: 4, value: undefined })
    r.send({ t: 'call', id: 5, cap: 7, m: 'publish', a: { data: new Uint8Array(65_537) } })
    expect(await r.read()).toMatchObject({ t: 'result', id: 5, error: { code: 'ERR_MESSAGE_TOO_LARGE' } })
    r.send({ t: 'call', id: 6, cap: 7, m: 'publish', a: { data: new Uint8Array(65_536) } })
    expect(await r.read()).toEqual({ t: 'result', id: 6, value: undefined })
    r.send({ t: 'call', id: 7, cap: 7, m: 'publish', a: { data: 'text' } })
    expect(await r.read()).toMatchObject({ t: 'error', code: 'ERR_BAD_FRAME' })
    expect(await r.ended()).toBe(true)
  })

  it('join with a topic that is not a string closes the connection', async () => {
    const server = await start()
    const r = await raw(server.url)
    r.send({ t: 'call', id: 1, cap: 1, m: 'join', a: { topic: 5 }, bind: 7 })
    expect(await r.read()).toMatchObject({ t: 'error', code: 'ERR_BAD_FRAME' })
    expect(await r.ended()).toBe(true)
  })

  it('in the client library: the same codes, raised before anything is sent', async () => {
    const server = await start({ token: 'secret' })
    const s = await session(server.url)
    expect(s.pubsub.isNull).toBe(true)
    expect(() => s.pubsub.join('bad name!')).toThrow(expect.objectContaining({ code: 'ERR_TOPIC_NAME' }))
    const t = s.pubsub.join('chat')
    await expect(t.publish(new Uint8Array(65_537))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' })
    await t.publish(new Uint8Array(65_536))
    s.pubsub.release()
    expect(() => s.pubsub.join('chat')).toThrow(expect.objectContaining({ code: 'ERR_CAP_RELEASED' }))
  })
})

describe('capability errors: who raises which', () => {
  it('node: ERR_TOO_MANY_CAPS answers the creating call; the id stays unbound (ERR_CAP_UNKNOWN), as does a released one', async () => {
    const server = await start({ limits: { maxCaps: 3 } })
    const r = await raw(server.url)
    r.send({ t: 'call', id: 1, cap: 0, m: 'reverse', a: {}, bind: 2 })
    r.send({ t: 'call', id: 2, cap: 0, m: 'reverse', a: {}, bind: 3 })
    r.send({ t: 'call', id: 3, cap: 3, m: 'lookup', a: { q: ALL } })
    expect(await r.read()).toEqual({ t: 'result', id: 1, value: undefined })
    expect(await r.read()).toMatchObject({ t: 'result', id: 2, error: { code: 'ERR_TOO_MANY_CAPS' } })
    expect(await r.read()).toMatchObject({ t: 'result', id: 3, error: { code: 'ERR_CAP_UNKNOWN' } })
    r.send({ t: 'call', id: 4, cap: 2, m: 'release', a: {} })
    expect(await r.read()).toEqual({ t: 'result', id: 4, value: undefined })
    r.send({ t: 'call', id: 5, cap: 2, m: 'lookup', a: { q: ALL } })
    expect(await r.read()).toMatchObject({ t: 'result', id: 5, error: { code: 'ERR_CAP_UNKNOWN' } })
    r.send({ t: 'call', id: 6, cap: 2, m: 'release', a: {} })
    expect(await r.read()).toMatchObject({ t: 'result', id: 6, error: { code: 'ERR_CAP_UNKNOWN' } })
    // never ERR_CAP_RELEASED on the wire; the connection is still fine
    r.send({ t: 'call', id: 7, cap: 0, m: 'lookup', a: { q: ALL } })
    expect(await r.read()).toMatchObject({ t: 'result', id: 7, value: { peer: expect.any(String) } })
  })

  it('client: a refusal reaches every capability pipelined behind it as ERR_TOO_MANY_CAPS; a released one fails locally', async () => {
    const server = await start({ limits: { maxCaps: 2 } })
    const s = await session(server.url)
    // All three calls leave before the node answers the first.
    const child = s.view.reverse()
    const grandchild = child.reverse()
    const [a, b] = await Promise.allSettled([child.lookup(), grandchild.lookup()])
    expect(a).toMatchObject({ status: 'rejected', reason: { code: 'ERR_TOO_MANY_CAPS' } })
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'ERR_TOO_MANY_CAPS' } })
    const cur = grandchild.iter()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_TOO_MANY_CAPS')).toBe(true)
    s.view.release()
    await expect(s.view.lookup()).rejects.toMatchObject({ code: 'ERR_CAP_RELEASED' })
  })
})
