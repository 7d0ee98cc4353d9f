import { describe, expect, it } from 'vitest'
import { hasCode } from '../../src/errors.js'
import { transportConformance } from '../../src/transport/conformance.js'
import { MemoryNetwork, memoryPair, memoryTransport, type MemoryConnection } from '../../src/transport/memory.js'

transportConformance('memory', async () => ({
  transport: memoryTransport({ network: new MemoryNetwork() }),
  listenUrl: 'memory://',
}))

async function next(conn: MemoryConnection): Promise<Uint8Array> {
  const r = await conn[Symbol.asyncIterator]().next()
  if (r.done === true) throw new Error('ended')
  return r.value
}

describe('memory transport', () => {
  it('logs every frame on both ends, as copies', async () => {
    const [a, b] = memoryPair()
    const sent = Uint8Array.of(1, 2, 3)
    a.send(sent)
    b.send(Uint8Array.of(9))
    sent[0] = 42 // the wire already has its own copy
    expect([...(await next(b))]).toEqual([1, 2, 3])
    expect([...(await next(a))]).toEqual([9])
    expect(a.frames.map((f) => [f.dir, [...f.data]])).toEqual([
      ['out', [1, 2, 3]],
      ['in', [9]],
    ])
    expect(b.frames.map((f) => [f.dir, [...f.data]])).toEqual([
      ['in', [1, 2, 3]],
      ['out', [9]],
    ])
  })

  it('bounds the frame log and counts what it dropped', () => {
    const [a] = memoryPair({ frameLog: 3 })
    for (let i = 0; i < 5; i++) a.send(Uint8Array.of(i))
    expect(a.frames.map((f) => f.data[0])).toEqual([2, 3, 4])
    expect(a.framesDropped).toBe(2)
    const [quiet] = memoryPair({ frameLog: 0 })
    quiet.send(Uint8Array.of(1))
    expect(quiet.frames).toEqual([])
  })

  it('gives the logged frames of a dialed connection on both sides', async () => {
    const network = new MemoryNetwork()
    const t = memoryTransport({ network })
    let server: MemoryConnection | undefined
    const listener = await t.listen('memory://node', (c) => (server = c as MemoryConnection))
    try {
      expect(listener.url).toBe('memory://node')
      const client = await t.connect('memory://node')
      client.send(Uint8Array.of(5))
      expect(server).toBeDefined()
      expect(server?.frames).toEqual([{ dir: 'in', data: Uint8Array.of(5) }])
      expect(client.frames).toEqual([{ dir: 'out', data: Uint8Array.of(5) }])
      expect(server?.remoteAddress).toMatch(/^memory:\/\/node#client-\d+$/)
    } finally {
      await listener.close()
    }
  })

  it('keeps the reader bounded: the sender holds the rest and send() reports it', async () => {
    const [a, b] = memoryPair({ readBufferFrames: 4, highWaterMark: 10 })
    const results = Array.from({ length: 8 }, (_, i) => a.send(Uint8Array.of(i, i, i, i)))
    // 4 frames fill the reader's queue; the next ones wait in a's outbox (16 bytes >= 10).
    expect(results).toEqual([true, true, true, true, true, true, false, false])
    expect(a.bufferedAmount).toBe(16)
    expect(b.frames.filter((f) => f.dir === 'in')).toHaveLength(4)
    // Reading down to half the queue lets the held frames flow.
    await next(b)
    await next(b)
    expect(a.bufferedAmount).toBe(8)
    await a.onDrain()
    const rest = [await next(b), await next(b), await next(b), await next(b), await next(b), await next(b)]
    expect(rest.map((f) => f[0])).toEqual([2, 3, 4, 5, 6, 7])
    expect(a.bufferedAmount).toBe(0)
  })

  it('rejects a frame above maxPayload when sending', () => {
    const [a] = memoryPair({ maxPayload: 4 })
    let err: unknown
    try {
      a.send(new Uint8Array(5))
    } catch (e) {
      err = e
    }
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
    expect(a.send(new Uint8Array(4))).toBe(true)
  })

  it('refuses to listen twice on a name and picks fresh names for memory://', async () => {
    const t = memoryTransport({ network: new MemoryNetwork() })
    const one = await t.listen('memory://x', () => {})
    const err = await t.listen('memory://x', () => {}).catch((e: unknown) => e)
    expect(hasCode(err, 'ERR_LISTEN_FAILED')).toBe(true)
    const a = await t.listen('memory://', () => {})
    const b = await t.listen('memory://0', () => {})
    expect(a.url).not.toBe(b.url)
    expect(t.network.names.sort()).toEqual([a.url.slice(9), b.url.slice(9), 'x'].sort())
    await Promise.all([one.close(), a.close(), b.close()])
    expect(t.network.names).toEqual([])
  })

  it('separates networks', async () => {
    const t1 = memoryTransport({ network: new MemoryNetwork() })
    const t2 = memoryTransport({ network: new MemoryNetwork() })
    const l = await t1.listen('memory://shared', () => {})
    try {
      const err = await t2.connect('memory://shared').catch((e: unknown) => e)
      expect(hasCode(err, 'ERR_CONNECT_FAILED')).toBe(true)
    } finally {
      await l.close()
    }
  })

  it('closes the connection when the reader breaks out of its loop', async () => {
    const [a, b] = memoryPair()
    a.send(Uint8Array.of(1))
    a.send(Uint8Array.of(2))
    for await (const f of b) {
      expect(f[0]).toBe(1)
      break
    }
    expect(await b.closed).toBeUndefined()
    expect(await a.closed).toBeUndefined()
  })

  it('drops the connection when a graceful close cannot be delivered in time', async () => {
    const [a, b] = memoryPair({ readBufferFrames: 1, highWaterMark: 1, closeTimeout: 50 })
    a.send(Uint8Array.of(1))
    a.send(Uint8Array.of(2)) // held in a's outbox: b never reads
    await a.close()
    const err = await a.closed
    expect(hasCode(err, 'ERR_CONNECTION_CLOSED')).toBe(true)
    expect(await b.closed).toBeInstanceOf(Error)
  })

  it('fails close() with ERR_ABORTED through its signal', async () => {
    const [a] = memoryPair({ readBufferFrames: 1, highWaterMark: 1 })
    a.send(Uint8Array.of(1))
    a.send(Uint8Array.of(2))
    const ac = new AbortController()
    const closing = a.close({ signal: ac.signal }).catch((e: unknown) => e)
    ac.abort()
    expect(hasCode(await closing, 'ERR_ABORTED')).toBe(true)
    expect(hasCode(await a.closed, 'ERR_ABORTED')).toBe(true)
  })

  it('rejects onDrain once the connection is gone, and honours its signal', async () => {
    const [a, b] = memoryPair({ readBufferFrames: 1, highWaterMark: 1 })
    a.send(Uint8Array.of(1))
    expect(a.send(Uint8Array.of(2))).toBe(false)
    const ac = new AbortController()
    const aborted = a.onDrain({ signal: ac.signal }).catch((e: unknown) => e)
    ac.abort()
    expect(hasCode(await aborted, 'ERR_ABORTED')).toBe(true)
    const waiting = a.onDrain().catch((e: unknown) => e)
    b.abort(new Error('peer gone'))
    expect(hasCode(await waiting, 'ERR_CONNECTION_CLOSED')).toBe(true)
  })
})
