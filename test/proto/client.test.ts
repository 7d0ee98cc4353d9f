/**
 * The client side of the protocol: local parsing, the frames it puts on the wire (memory
 * transport's frame log), pipelining, cancellation, session end, and a misbehaving node
 * (a hand-written one on the memory transport: the real node can't be made to overrun).
 */
import { describe, expect, it, vi } from 'vitest'
import { decode } from '@msgpack/msgpack'
import { connect, type ConnectInit } from '../../src/proto/client/client.js'
import { serve, type Server } from '../../src/proto/server/server.js'
import type { Session } from '../../src/api.js'
import { defaultTransports, TransportRegistry } from '../../src/transport/registry.js'
import { MemoryNetwork, memoryTransport, type MemoryConnection } from '../../src/transport/memory.js'
import type { Connection } from '../../src/transport/types.js'
import { encodeBatch, encodeFrame, encodeItem, scanFrame } from '../../src/proto/wire/frames.js'
import { filledTable, peerId, record, serveTable } from './helpers.js'
import { hasCode } from '../../src/errors.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()

let n = 0
/** A node on a private memory network, and a registry whose dials keep the client's connection for its frame log. */
async function memoryNode(rows = 1000, init: { token?: string } = {}): Promise<{ server: Server; dial: (o?: ConnectInit) => Promise<{ s: Session; conn: MemoryConnection }> }> {
  const mt = memoryTransport({ network: new MemoryNetwork() })
  const server = await serve({ listen: `memory://client-test-${n++}`, table: filledTable(rows), peer: peerId(1), transports: new TransportRegistry().register(mt), ...init })
  cleanups.push(() => server.close())
  return {
    server,
    async dial(o: ConnectInit = {}) {
      let conn: MemoryConnection | undefined
      const transports = new TransportRegistry().register({
        schemes: ['memory'],
        connect: async (url, opts) => (conn = await mt.connect(url, opts)),
        listen: (url, on, opts) => mt.listen(url, on, opts),
      })
      const s = await connect(server.url, { ...o, transports })
      cleanups.push(() => s.close())
      return { s, conn: conn! }
    },
  }
}

type Logged = { dir: 'in' | 'out'; f: Record<string, unknown>; bytes: number; message: number }
// Every frame on the wire, in order, with its own length: a node that packs (hello `pack`)
// may carry several frames in one message.
function log(conn: MemoryConnection): Logged[] {
  const out: Logged[] = []
  conn.frames.forEach((x, message) => {
    for (let pos = 0; pos < x.data.length; ) {
      const rest = x.data.subarray(pos)
      const end = scanFrame(rest, 64, Infinity)
      out.push({ dir: x.dir, f: decode(rest.subarray(0, end)) as Record<string, unknown>, bytes: end, message })
      pos += end
    }
  })
  return out
}

describe('client', () => {
  it('a malformed text query throws synchronously from iter, and nothing is sent', async () => {
    const { dial } = await memoryNode()
    const { s, conn } = await dial()
    const before = conn.frames.length
    let code: string | undefined
    try {
      s.view.iter('WHERE region=')
    } catch (err) {
      code = (err as { code: string }).code
    }
    expect(code).toMatch(/^ERR_QUERY_/)
    await expect(s.view.lookup('LOOKUP LIMIT 3')).rejects.toMatchObject({ code: 'ERR_QUERY_LOOKUP_LIMIT' })
    expect(conn.frames.length).toBe(before)
  })

  it('the wire exchange: hello, welcome, call with a window, batches under credit, end', async () => {
    const { dial } = await memoryNode(5000)
    const { s, conn } = await dial({ window: { initial: 16 * 1024 } })
    expect(s.peer).toBe(peerId(1))
    const got = await s.view.iter('WHERE region=us*').toArray()
    expect(got.length).toBeGreaterThan(1000)
    const frames = log(conn)
    expect(frames[0]).toMatchObject({ dir: 'out', f: { t: 'hello', v: 1, lang: 2, pack: true } })
    expect(frames[1]).toMatchObject({ dir: 'in', f: { t: 'welcome', v: 1, lang: 2, pack: true, peer: peerId(1), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } } })
    expect(frames[2]).toMatchObject({ dir: 'out', f: { t: 'call', id: 1, cap: 0, m: 'iter', window: 16 * 1024 } })
    const batches = frames.filter((x) => x.f.t === 'batch')
    const credits = frames.filter((x) => x.f.t === 'credit')
    expect(batches.reduce((k, b) => k + (b.f.items as unknown[]).length, 0)).toBe(got.length)
    expect(credits.length).toBeGreaterThan(0)
    // Every batch fits the credit in force when it left the node.
    let consumed = 0
    let window = 16 * 1024
    let sent = 0
    for (const { f, bytes } of frames) {
      if (f.t === 'credit') {
        consumed = f.consumed as number
        window = f.window as number
      }
      if (f.t === 'batch') {
        sent += bytes
        expect(sent - consumed).toBeLessThanOrEqual(window)
      }
    }
    expect(frames.at(-1)).toMatchObject({ dir: 'in', f: { t: 'end', id: 1 } })
  })

  it('reverse() is pipelined: the call on the new capability leaves before the node answered', async () => {
    const { dial } = await memoryNode(100)
    const { s, conn } = await dial()
    const rev = s.view.reverse()
    const p = rev.lookup()
    expect(await p).toEqual(await filledTable(100).lookup('REVERSE'))
    const frames = log(conn).slice(2)
    expect(frames[0]).toMatchObject({ dir: 'out', f: { t: 'call', m: 'reverse', cap: 0, bind: 2 } })
    expect(frames[1]).toMatchObject({ dir: 'out', f: { t: 'call', m: 'lookup', cap: 2 } })
    expect(frames[2]).toMatchObject({ dir: 'in', f: { t: 'result', id: 1 } })
  })

  it('an abort signal mid-stream ends the cursor with ERR_ABORTED and cancels on the node', async () => {
    const { server, dial } = await memoryNode(50_000)
    const { s, conn } = await dial()
    const ac = new AbortController()
    const cur = s.view.iter(undefined, { signal: ac.signal })
    for (let i = 0; i < 10; i++) await cur.next()
    ac.abort()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_ABORTED')).toBe(true)
    await vi.waitFor(() => expect(server.stats().streams, 'stream freed').toBe(0), { timeout: 5000 })
    expect(log(conn).some((x) => x.dir === 'out' && x.f.t === 'cancel' && x.f.id === 1)).toBe(true)
  })

  it('a released View fails with ERR_CAP_RELEASED and the node drops the capability', async () => {
    const { server, dial } = await memoryNode(10)
    const { s } = await dial()
    const rev = s.view.reverse()
    expect(await rev.lookup()).toBeDefined()
    expect(server.stats().caps).toBe(3)
    rev.release()
    await expect(rev.lookup()).rejects.toMatchObject({ code: 'ERR_CAP_RELEASED' })
    await expect(rev.values({ field: 'host' })).rejects.toMatchObject({ code: 'ERR_CAP_RELEASED' })
    const cur = rev.iter()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_CAP_RELEASED')).toBe(true)
    await vi.waitFor(() => expect(server.stats().caps).toBe(2), { timeout: 5000 })
  })

  it('close(): closed settles with undefined, open streams and later calls fail with ERR_SESSION_CLOSED', async () => {
    const { server, dial } = await memoryNode(50_000)
    const { s } = await dial()
    const cur = s.view.iter()
    await cur.next()
    await s.close()
    expect(await s.closed).toBeUndefined()
    while ((await cur.next()) !== undefined) {
      // drain what was buffered
    }
    expect(hasCode(cur.err(), 'ERR_SESSION_CLOSED')).toBe(true)
    await expect(s.view.lookup()).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' })
    const later = s.view.iter()
    expect(await later.next()).toBeUndefined()
    expect(hasCode(later.err(), 'ERR_SESSION_CLOSED')).toBe(true)
    await vi.waitFor(() => expect(server.stats().connections).toBe(0), { timeout: 5000 })
  })

  it('connect errors carry codes', async () => {
    await expect(connect('ws://127.0.0.1:1')).rejects.toMatchObject({ code: 'ERR_CONNECT_FAILED' })
    await expect(connect('gopher://127.0.0.1:1')).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_SCHEME' })
    await expect(connect('ws://127.0.0.1:1', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('connects over ws by default and reads a table', async () => {
    const server = await serveTable(filledTable(300))
    cleanups.push(() => server.close())
    const s = await connect(server.url)
    cleanups.push(() => s.close())
    expect(await s.view.iter().toArray()).toEqual(await filledTable(300).query('').toArray())
  })
})

describe('client against a misbehaving node', () => {
  async function fakeNode(behave: (conn: Connection) => Promise<void>): Promise<{ url: string; transports: TransportRegistry }> {
    const transports = defaultTransports({ memory: { network: new MemoryNetwork() } })
    const l = await transports.listen(`memory://fake-${n++}`, (conn) => {
      void behave(conn).catch(() => {})
    })
    cleanups.push(() => l.close())
    return { url: l.url, transports }
  }

  async function welcome(conn: Connection): Promise<AsyncIterator<Uint8Array>> {
    const it = conn[Symbol.asyncIterator]()
    await it.next() // hello
    conn.send(encodeFrame({ t: 'welcome', v: 1, peer: peerId(3), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } }))
    return it
  }

  it('a node sending past its credit ends the session with ERR_FLOW_CONTROL (the buffer stays bounded)', async () => {
    const { url, transports } = await fakeNode(async (conn) => {
      const it = await welcome(conn)
      const call = decode((await it.next()).value as Uint8Array) as { id: number; window: number }
      const items = Array.from({ length: 256 }, (_, i) => encodeItem(record(i)))
      // far more than the window the client opened with
      for (let k = 0; k < 20; k++) conn.send(encodeBatch(call.id, items))
    })
    const s = await connect(url, { transports, window: { initial: 8 * 1024 } })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    while ((await cur.next()) !== undefined) {
      // read until the session ends
    }
    expect(hasCode(cur.err(), 'ERR_FLOW_CONTROL')).toBe(true)
    expect(await s.closed).toMatchObject({ code: 'ERR_FLOW_CONTROL' })
  })

  it('a node answering hello with a newer version: ERR_PROTOCOL_VERSION', async () => {
    const { url, transports } = await fakeNode(async (conn) => {
      const it = conn[Symbol.asyncIterator]()
      await it.next()
      conn.send(encodeFrame({ t: 'welcome', v: 9, peer: peerId(3), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } }))
    })
    const err = await connect(url, { transports }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_PROTOCOL_VERSION' })
    expect((err as Error).message).toMatch(/1.*9/)
  })

  it('a node that never answers the handshake: ERR_CONNECT_FAILED after the timeout, ERR_ABORTED on the caller\'s signal', async () => {
    const { url, transports } = await fakeNode(async () => {})
    await expect(connect(url, { transports, timeout: 200 })).rejects.toMatchObject({ code: 'ERR_CONNECT_FAILED' })
    await expect(connect(url, { transports, signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('a node sending garbage mid-session: the stream ends with ERR_BAD_FRAME', async () => {
    const { url, transports } = await fakeNode(async (conn) => {
      const it = await welcome(conn)
      await it.next()
      conn.send(Uint8Array.from([0xc1, 0xc1]))
    })
    const s = await connect(url, { transports })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_BAD_FRAME')).toBe(true)
  })

  it('a node sending a record past a bound: the records before it arrive, then the stream ends with ERR_BAD_FRAME', async () => {
    const good = Array.from({ length: 300 }, (_, i) => record(i))
    const { url, transports } = await fakeNode(async (conn) => {
      const it = await welcome(conn)
      const call = decode((await it.next()).value as Uint8Array) as { id: number }
      conn.send(encodeBatch(call.id, good.map((r) => encodeItem(r))))
      // Well formed, in the node's own layout, but its host is one byte past the limit.
      conn.send(encodeBatch(call.id, [encodeItem({ ...record(1), host: 'h'.repeat(256) })]))
    })
    const s = await connect(url, { transports })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    const got: unknown[] = []
    for (let b = await cur.nextBatch(); b.length > 0; b = await cur.nextBatch()) got.push(...b)
    expect(got).toEqual(good)
    expect(cur.err()).toMatchObject({ code: 'ERR_BAD_FRAME', message: expect.stringMatching(/host/) })
  })

  it('packed messages (hello pack): the batches in one message arrive in order, a bad record among them ends the stream with ERR_BAD_FRAME', async () => {
    const a = Array.from({ length: 100 }, (_, i) => record(i))
    const b = Array.from({ length: 100 }, (_, i) => record(100 + i))
    const { url, transports } = await fakeNode(async (conn) => {
      const it = conn[Symbol.asyncIterator]()
      await it.next() // hello
      conn.send(encodeFrame({ t: 'welcome', v: 1, peer: peerId(3), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true }, pack: true }))
      const c1 = decode((await it.next()).value as Uint8Array) as { id: number }
      // One message: two batches and the end of the stream.
      conn.send(Buffer.concat([encodeBatch(c1.id, a.map((r) => encodeItem(r))), encodeBatch(c1.id, b.map((r) => encodeItem(r))), encodeFrame({ t: 'end', id: c1.id })]))
      const c2 = decode((await it.next()).value as Uint8Array) as { id: number }
      // One message: a good batch, then one whose second record's ttl is past a day.
      conn.send(Buffer.concat([encodeBatch(c2.id, a.map((r) => encodeItem(r))), encodeBatch(c2.id, [encodeItem(b[0]), encodeItem({ ...b[1]!, ttl: 86_400_001 })])]))
    })
    const s = await connect(url, { transports })
    cleanups.push(() => s.close())
    expect(await s.view.iter().toArray()).toEqual([...a, ...b])
    const cur = s.view.iter()
    const got: unknown[] = []
    for (let x = await cur.nextBatch(); x.length > 0; x = await cur.nextBatch()) got.push(...x)
    expect(got).toEqual([...a, b[0]])
    expect(cur.err()).toMatchObject({ code: 'ERR_BAD_FRAME', message: expect.stringMatching(/ttl/) })
  })

  it('a node sending a batch frame with bytes after it (no packing): none of its records arrive, the stream ends with ERR_BAD_FRAME', async () => {
    const { url, transports } = await fakeNode(async (conn) => {
      const it = await welcome(conn)
      const call = decode((await it.next()).value as Uint8Array) as { id: number }
      // A well-formed batch in the node's own layout, then one stray byte in the same message.
      conn.send(Buffer.concat([encodeBatch(call.id, [encodeItem(record(0)), encodeItem(record(1))]), Uint8Array.of(0xc0)]))
    })
    const s = await connect(url, { transports, pack: false })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    expect(await cur.nextBatch()).toEqual([])
    expect(hasCode(cur.err(), 'ERR_BAD_FRAME')).toBe(true)
  })

  it('a node sending an invalid record: the stream ends with ERR_BAD_FRAME', async () => {
    const { url, transports } = await fakeNode(async (conn) => {
      const it = await welcome(conn)
      const call = decode((await it.next()).value as Uint8Array) as { id: number }
      conn.send(encodeBatch(call.id, [encodeItem({ peer: 'not base58 0OIl', server: 'x' })]))
    })
    const s = await connect(url, { transports })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_BAD_FRAME')).toBe(true)
  })
})
