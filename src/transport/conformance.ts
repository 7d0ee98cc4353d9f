/**
 * The transport conformance suite: vitest tests that every transport, built-in or plugin,
 * must pass. A plugin author calls it from a test file of their own:
 *
 *   import { transportConformance } from 'ww/transport/conformance'
 *   transportConformance('my-transport', async () => ({
 *     transport: myTransport(),
 *     listenUrl: 'my://127.0.0.1:0',
 *   }))
 *
 * `setup` runs before each test and returns a fresh transport and a URL to listen on (port 0
 * or its equivalent, so every test gets its own endpoint); `teardown`, if given, runs after
 * each test. Every wait in the suite is bounded, and every connection and listener a test
 * opens is dropped afterwards even when the test fails.
 *
 * The suite checks only what the contract (src/transport/types.ts) promises: ordered delivery
 * both ways, empty and large frames, concurrent connections, backpressure both ways with a
 * bounded read buffer, close and abort from either side, abort while the other end has
 * stopped reading (its `closed` settles and its reader ends with ERR_CONNECTION_CLOSED though
 * nobody reads), a fresh address for every `listen()`, connect failures and cancellation,
 * send after close, and a listener's close ending its connections.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hasCode } from '../errors.js'
import type { Connection, Listener, Transport } from './types.js'

/** What `setup` returns for each test. */
export interface ConformanceSetup {
  /** A fresh transport under test. */
  transport: Transport
  /**
   * A URL to listen on. Every `listen()` on it must get a fresh address (port 0, a fresh
   * socket path or name): tests run several listeners at once.
   */
  listenUrl: string
  /** Runs after each test. */
  teardown?: () => Promise<void>
}

/** Tuning for transports with smaller limits or slower links. */
export interface ConformanceOptions {
  /**
   * Size of the "large frame" test's frames (keep it within the transport's maximum payload).
   * @default 1048576 (1 MiB)
   */
  largeFrame?: number
  /**
   * Connections opened at once in the concurrency test.
   * @default 20
   */
  connections?: number
  /**
   * Per-test timeout in milliseconds.
   * @default 30000
   */
  timeout?: number
  /**
   * How long the backpressure test waits for a drain before deciding the sender is stalled.
   * @default 1000
   */
  stallWait?: number
}

/** Registers the conformance tests for one transport (call it at the top level of a test file). */
export function transportConformance(
  name: string,
  setup: () => Promise<ConformanceSetup>,
  options: ConformanceOptions = {},
): void {
  const largeFrame = options.largeFrame ?? 1 << 20
  const connections = options.connections ?? 20
  const timeout = options.timeout ?? 30_000
  const stallWait = options.stallWait ?? 1000
  // Bounded waits inside a test leave room for its cleanup within the test timeout.
  const wait = Math.max(1000, Math.floor(timeout / 3))

  describe(`transport conformance: ${name}`, () => {
    let env: ConformanceSetup
    let cleanups: Array<() => Promise<void> | void> = []

    beforeEach(async () => {
      cleanups = []
      env = await setup()
    })

    afterEach(async () => {
      for (const c of cleanups.reverse()) {
        try {
          await c()
        } catch {
          // cleanup is best effort: the test already reported what went wrong
        }
      }
      await env.teardown?.()
    })

    /** Listens on the setup URL; accepted connections are handed out by `accepted()`. */
    async function serve(): Promise<{ listener: Listener; accepted: () => Promise<Connection> }> {
      const queue: Connection[] = []
      const waiters: Array<(c: Connection) => void> = []
      const listener = await env.transport.listen(env.listenUrl, (conn) => {
        cleanups.push(() => conn.abort(new Error('test cleanup')))
        const w = waiters.shift()
        if (w !== undefined) w(conn)
        else queue.push(conn)
      })
      cleanups.push(() => listener.close())
      const accepted = (): Promise<Connection> => {
        const c = queue.shift()
        if (c !== undefined) return Promise.resolve(c)
        return within(new Promise<Connection>((resolve) => waiters.push(resolve)), wait, 'an accepted connection')
      }
      return { listener, accepted }
    }

    async function dial(url: string): Promise<Connection> {
      const conn = await within(env.transport.connect(url), wait, `connect ${url}`)
      cleanups.push(() => conn.abort(new Error('test cleanup')))
      return conn
    }

    async function pair(): Promise<{ client: Connection; server: Connection; listener: Listener }> {
      const { listener, accepted } = await serve()
      const client = await dial(listener.url)
      const server = await accepted()
      return { client, server, listener }
    }

    it('delivers many frames in order, both ways at once', { timeout }, async () => {
      const { client, server } = await pair()
      const n = 1000
      const frames = Array.from({ length: n }, (_, i) => makeFrame(i, 4 + ((i * 37) % 4096)))
      const [fromClient, fromServer] = await within(
        Promise.all([readN(server, n), readN(client, n), sendAll(client, frames), sendAll(server, frames)]),
        wait,
        'exchanging frames',
      )
      expect(fromClient.map(frameSeq)).toEqual(frames.map(frameSeq))
      expect(fromServer.map(frameSeq)).toEqual(frames.map(frameSeq))
      for (const f of [...fromClient, ...fromServer]) expect(frameIntact(f)).toBe(true)
    })

    it('delivers an empty frame', { timeout }, async () => {
      const { client, server } = await pair()
      client.send(new Uint8Array(0))
      client.send(Uint8Array.of(7))
      server.send(new Uint8Array(0))
      const [atServer, atClient] = await within(Promise.all([readN(server, 2), readN(client, 1)]), wait, 'empty frames')
      expect(atServer.map((f) => f.byteLength)).toEqual([0, 1])
      expect(atServer[1]?.[0]).toBe(7)
      expect(atClient[0]?.byteLength).toBe(0)
    })

    it(`delivers large frames (${largeFrame} bytes) intact`, { timeout }, async () => {
      const { client, server } = await pair()
      const frames = [0, 1, 2].map((i) => makeFrame(i, largeFrame))
      const [atServer, atClient] = await within(
        Promise.all([readN(server, 3), readN(client, 3), sendAll(client, frames), sendAll(server, frames)]),
        wait,
        'large frames',
      )
      for (const got of [atServer, atClient]) {
        expect(got.map((f) => f.byteLength)).toEqual([largeFrame, largeFrame, largeFrame])
        expect(got.map(frameSeq)).toEqual([0, 1, 2])
        for (const f of got) expect(frameIntact(f)).toBe(true)
      }
    })

    it(`serves ${connections} concurrent connections`, { timeout }, async () => {
      const { listener } = await serveEcho()
      const clients = await Promise.all(Array.from({ length: connections }, () => dial(listener.url)))
      const perConn = 20
      const results = await within(
        Promise.all(
          clients.map(async (c, k) => {
            const frames = Array.from({ length: perConn }, (_, i) => makeFrame(k * 1000 + i, 64 + k))
            const [echoed] = await Promise.all([readN(c, perConn), sendAll(c, frames)])
            return echoed
          }),
        ),
        wait,
        'echoes on every connection',
      )
      results.forEach((echoed, k) => {
        expect(echoed.map(frameSeq)).toEqual(Array.from({ length: perConn }, (_, i) => k * 1000 + i))
        for (const f of echoed) expect(frameIntact(f)).toBe(true)
      })
    })

    it('applies backpressure to a sender whose peer does not read, and keeps the reader bounded', { timeout }, async () => {
      const { client, server } = await pair()
      const size = 64 * 1024
      // If the reader buffered without bound, it would keep draining the link and the sender
      // would never stall; 2048 frames (128 MiB) is far past any sane set of buffers.
      const max = 2048
      let sent = 0
      let stalled = false
      while (sent < max && !stalled) {
        if (client.send(makeFrame(sent++, size))) continue
        expect(client.bufferedAmount).toBeGreaterThan(0)
        const drained = await Promise.race([client.onDrain().then(() => true), sleep(stallWait).then(() => false)])
        if (!drained) stalled = true
      }
      expect(stalled).toBe(true)
      expect(sent).toBeLessThan(max)
      expect(client.bufferedAmount).toBeGreaterThan(0)

      // Once the peer reads, everything arrives in order and the sender drains.
      const drain = within(client.onDrain(), wait, 'drain after the peer reads')
      const got = await within(readN(server, sent), wait, 'reading the backlog')
      await drain
      expect(got.map(frameSeq)).toEqual(Array.from({ length: sent }, (_, i) => i))
      expect(client.send(makeFrame(sent, 16))).toBe(true)
      const [last] = await within(readN(server, 1), wait, 'a frame after the drain')
      expect(frameSeq(last as Uint8Array)).toBe(sent)
    })

    it('backpressures the other direction too', { timeout }, async () => {
      const { client, server } = await pair()
      const size = 64 * 1024
      let sent = 0
      let stalled = false
      while (sent < 2048 && !stalled) {
        if (server.send(makeFrame(sent++, size))) continue
        const drained = await Promise.race([server.onDrain().then(() => true), sleep(stallWait).then(() => false)])
        if (!drained) stalled = true
      }
      expect(stalled).toBe(true)
      const got = await within(readN(client, sent), wait, 'reading the backlog')
      expect(got.map(frameSeq)).toEqual(Array.from({ length: sent }, (_, i) => i))
      await within(server.onDrain(), wait, 'drain')
    })

    for (const closer of ['client', 'server'] as const) {
      it(`closes gracefully from the ${closer}: frames sent before arrive, the other side ends`, { timeout }, async () => {
        const ends = await pair()
        const [a, b] = closer === 'client' ? [ends.client, ends.server] : [ends.server, ends.client]
        const frames = [0, 1, 2].map((i) => makeFrame(i, 100))
        await sendAll(a, frames)
        const closing = a.close()
        const got = await within(readAll(b), wait, 'the other side to end')
        expect(got.map(frameSeq)).toEqual([0, 1, 2])
        await within(closing, wait, 'close()')
        expect(await within(a.closed, wait, 'closed (closer)')).toBeUndefined()
        expect(await within(b.closed, wait, 'closed (other side)')).toBeUndefined()
      })

      it(`aborts from the ${closer}: the other side ends with ERR_CONNECTION_CLOSED`, { timeout }, async () => {
        const ends = await pair()
        const [a, b] = closer === 'client' ? [ends.client, ends.server] : [ends.server, ends.client]
        const reading = readAll(b).then(
          () => undefined,
          (err: unknown) => err,
        )
        const boom = new Error('boom')
        a.abort(boom)
        expect(await within(a.closed, wait, 'closed (aborter)')).toBe(boom)
        await expect(a[Symbol.asyncIterator]().next()).rejects.toBe(boom)
        const readErr = await within(reading, wait, 'the other side to end')
        expect(readErr).toBeInstanceOf(Error)
        expect((readErr as { code?: unknown }).code).toBe('ERR_CONNECTION_CLOSED')
        const otherClosed = await within(b.closed, wait, 'closed (other side)')
        expect(otherClosed).toBeInstanceOf(Error)
        expect((otherClosed as { code?: unknown }).code).toBe('ERR_CONNECTION_CLOSED')
        expect(codeOf(() => b.send(Uint8Array.of(1)))).toBe('ERR_CONNECTION_CLOSED')
      })
    }

    for (const aborter of ['sender', 'stalled reader'] as const) {
      it(`abort with a backlog (by the ${aborter}): closed settles on both ends though nobody reads, the peer's reader ends with ERR_CONNECTION_CLOSED`, { timeout }, async () => {
        const { client, server } = await pair()
        // Fill the link until the client's sends stall: the server holds a full read queue
        // it never reads, the client a full send buffer.
        let sent = 0
        let stalled = false
        while (sent < 2048 && !stalled) {
          if (client.send(makeFrame(sent++, 64 * 1024))) continue
          stalled = !(await Promise.race([client.onDrain().then(() => true), sleep(stallWait).then(() => false)]))
        }
        expect(stalled).toBe(true)
        const [a, b] = aborter === 'sender' ? [client, server] : [server, client]
        const boom = new Error('boom')
        a.abort(boom)
        expect(await within(a.closed, wait, 'closed (aborter)')).toBe(boom)
        // Nobody has read anything on either side: `closed` must still settle.
        const peerClosed = await within(b.closed, wait, 'closed (the peer, unread frames queued)')
        expect(peerClosed).toBeInstanceOf(Error)
        expect((peerClosed as { code?: unknown }).code).toBe('ERR_CONNECTION_CLOSED')
        // The peer's reader gets what had arrived (if the transport keeps it), then the error.
        const readErr = await within(readAll(b).then(() => undefined, (err: unknown) => err), wait, 'the peer’s reader to end')
        expect((readErr as { code?: unknown } | undefined)?.code).toBe('ERR_CONNECTION_CLOSED')
      })
    }

    it('gives a fresh address for every listen() on the setup URL', { timeout }, async () => {
      const first = await serve()
      const second = await serve()
      expect(second.listener.url).not.toBe(first.listener.url)
      const a = await dial(first.listener.url)
      const b = await dial(second.listener.url)
      const [sa, sb] = await Promise.all([first.accepted(), second.accepted()])
      expect(a.send(Uint8Array.of(1))).toBe(true)
      expect(b.send(Uint8Array.of(2))).toBe(true)
      expect([...((await within(readN(sa, 1), wait, 'a frame on the first'))[0] as Uint8Array)]).toEqual([1])
      expect([...((await within(readN(sb, 1), wait, 'a frame on the second'))[0] as Uint8Array)]).toEqual([2])
    })

    it('throws ERR_CONNECTION_CLOSED on send after close or abort', { timeout }, async () => {
      const first = await pair()
      await within(first.client.close(), wait, 'close()')
      expect(codeOf(() => first.client.send(Uint8Array.of(1)))).toBe('ERR_CONNECTION_CLOSED')
      await within(first.server.closed, wait, 'server closed')
      expect(codeOf(() => first.server.send(Uint8Array.of(1)))).toBe('ERR_CONNECTION_CLOSED')

      const second = await pair()
      second.server.abort(new Error('gone'))
      expect(codeOf(() => second.server.send(Uint8Array.of(1)))).toBe('ERR_CONNECTION_CLOSED')
      await within(second.client.closed, wait, 'client closed')
      expect(codeOf(() => second.client.send(Uint8Array.of(1)))).toBe('ERR_CONNECTION_CLOSED')
    })

    it('fails with ERR_CONNECT_FAILED when nothing listens', { timeout }, async () => {
      const { listener } = await serve()
      const url = listener.url
      await listener.close()
      const err = await within(env.transport.connect(url).then(keep, (e: unknown) => e), wait, 'connect to a closed listener')
      expect(hasCode(err, 'ERR_CONNECT_FAILED')).toBe(true)
    })

    it('honours an AbortSignal while connecting', { timeout }, async () => {
      const { listener } = await serve()
      const pre = await env.transport.connect(listener.url, { signal: AbortSignal.abort() }).then(keep, (e: unknown) => e)
      expect(hasCode(pre, 'ERR_ABORTED')).toBe(true)

      const ac = new AbortController()
      const connecting = env.transport.connect(listener.url, { signal: ac.signal }).then(keep, (e: unknown) => e)
      ac.abort()
      expect(hasCode(await within(connecting, wait, 'an aborted connect'), 'ERR_ABORTED')).toBe(true)
    })

    it('ends accepted connections when the listener closes', { timeout }, async () => {
      const { listener, accepted } = await serve()
      const clients = [await dial(listener.url), await dial(listener.url)]
      const servers = [await accepted(), await accepted()]
      const reading = clients.map((c) => readAll(c).then(() => 'ended', () => 'ended'))
      await within(listener.close(), wait, 'listener.close()')
      for (const s of servers) await within(s.closed, wait, 'accepted connection closed')
      expect(await within(Promise.all(reading), wait, 'clients to end')).toEqual(['ended', 'ended'])
      for (const c of clients) await within(c.closed, wait, 'client closed')
      const err = await within(env.transport.connect(listener.url).then(keep, (e: unknown) => e), wait, 'connect after close')
      expect(hasCode(err, 'ERR_CONNECT_FAILED')).toBe(true)
    })

    it('reports bufferedAmount 0 and an immediate onDrain on an idle connection', { timeout }, async () => {
      const { client } = await pair()
      expect(client.bufferedAmount).toBe(0)
      await within(client.onDrain(), 1000, 'onDrain on an idle connection')
      expect(typeof client.remoteAddress).toBe('string')
    })

    /** Listens and echoes every frame back. */
    async function serveEcho(): Promise<{ listener: Listener }> {
      const queue: Promise<void>[] = []
      const listener = await env.transport.listen(env.listenUrl, (conn) => {
        cleanups.push(() => conn.abort(new Error('test cleanup')))
        queue.push(
          (async () => {
            const it = conn[Symbol.asyncIterator]()
            for (;;) {
              const r = await it.next()
              if (r.done === true) return
              if (!conn.send(r.value)) await conn.onDrain()
            }
          })().catch(() => {}),
        )
      })
      cleanups.push(() => listener.close())
      return { listener }
    }
  })
}

/** A frame carrying `seq` in its first 4 bytes (when it has room) and a checkable pattern. */
function makeFrame(seq: number, size: number): Uint8Array {
  const f = new Uint8Array(Math.max(size, 4))
  new DataView(f.buffer).setUint32(0, seq)
  for (let i = 4; i < f.length; i++) f[i] = (seq + i) & 0xff
  return size < 4 ? f.subarray(0, size) : f
}

function frameSeq(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(0)
}

function frameIntact(f: Uint8Array): boolean {
  const seq = frameSeq(f)
  for (let i = 4; i < f.length; i++) if (f[i] !== ((seq + i) & 0xff)) return false
  return true
}

/** Sends every frame, waiting for drain whenever send() asks to. */
async function sendAll(conn: Connection, frames: Uint8Array[]): Promise<undefined> {
  for (const f of frames) if (!conn.send(f)) await conn.onDrain()
  return undefined
}

/** Reads exactly `n` frames without ending the iteration. */
async function readN(conn: Connection, n: number): Promise<Uint8Array[]> {
  const it = conn[Symbol.asyncIterator]()
  const out: Uint8Array[] = []
  while (out.length < n) {
    const r = await it.next()
    if (r.done === true) throw new Error(`the connection ended after ${out.length} of ${n} frames`)
    out.push(r.value)
  }
  return out
}

/** Reads until the connection ends; throws the error it ended with. */
async function readAll(conn: Connection): Promise<Uint8Array[]> {
  const it = conn[Symbol.asyncIterator]()
  const out: Uint8Array[] = []
  for (;;) {
    const r = await it.next()
    if (r.done === true) return out
    out.push(r.value)
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  return undefined
}

/** Turns an unexpected success into a value the assertions can reject. */
function keep(conn: Connection): string {
  conn.abort(new Error('unexpected connection'))
  return 'connected'
}
