/**
 * The tcp plugin: the shared transport conformance suite, plus its own specifics (framing
 * limits, URL checks, loading through the plugin loader).
 */
import { connect as netConnect, Server as NetServer } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { transportConformance } from '../src/transport/conformance.js'
import { loadPlugin } from '../src/client/plugins.js'
import { hasCode } from '../src/errors.js'
import type { Connection, Listener, Transport } from '../src/transport/types.js'
import plugin, { tcpTransport } from './tcp.js'

transportConformance('tcp plugin', async () => ({ transport: tcpTransport(), listenUrl: 'tcp://127.0.0.1:0' }))

describe('tcp plugin specifics', () => {
  const cleanup: Array<() => Promise<unknown> | void> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  async function pair(t: Transport): Promise<{ listener: Listener; client: Connection; server: Connection }> {
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await t.listen('tcp://127.0.0.1:0', (c) => accept(c))
    cleanup.push(() => listener.close())
    const client = await t.connect(listener.url)
    cleanup.push(() => client.abort(new Error('cleanup')))
    const server = await accepted
    return { listener, client, server }
  }

  it('loads through the plugin loader with the tcp scheme', async () => {
    const p = await loadPlugin(new URL('./tcp.js', import.meta.url).pathname)
    expect(p.name).toBe('tcp')
    expect(p.transports.map((t) => t.schemes)).toEqual([['tcp']])
    expect(plugin.name).toBe('tcp')
  })

  it('listens on port 0 and reports the real port', async () => {
    const { listener } = await pair(tcpTransport())
    expect(listener.url).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/)
  })

  it('refuses to send a frame over maxPayload', async () => {
    const { client } = await pair(tcpTransport({ maxPayload: 1024 }))
    let err: unknown
    try {
      client.send(new Uint8Array(1025))
    } catch (e) {
      err = e
    }
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
  })

  it('resets a connection whose peer announces a frame over maxPayload', async () => {
    const small = tcpTransport({ maxPayload: 1024 })
    const big = tcpTransport({ maxPayload: 1 << 20 })
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await small.listen('tcp://127.0.0.1:0', (c) => accept(c))
    cleanup.push(() => listener.close())
    const client = await big.connect(listener.url)
    cleanup.push(() => client.abort(new Error('cleanup')))
    const server = await accepted
    client.send(new Uint8Array(4096))
    const err = await server.closed
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
    expect(hasCode(await client.closed, 'ERR_CONNECTION_CLOSED')).toBe(true)
  })

  it('while paused, probes the peer with bodiless 0xFFFFFFFF headers, and a probe received is never delivered', async () => {
    const t = tcpTransport({ readBufferFrames: 1, readBufferBytes: 16, pausedProbeInterval: 20 })
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await t.listen('tcp://127.0.0.1:0', (c) => accept(c))
    cleanup.push(() => listener.close())
    const { port } = new URL(listener.url)
    const raw = netConnect({ host: '127.0.0.1', port: Number(port) })
    cleanup.push(() => void raw.destroy())
    await new Promise((r) => raw.once('connect', r))
    const server = await accepted
    // A peer's probe between two frames is skipped; then enough frames to pause the server.
    const frame = (i: number): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from([i])])
    raw.write(Buffer.concat([frame(0), Buffer.from([0xff, 0xff, 0xff, 0xff]), ...Array.from({ length: 7 }, (_, i) => frame(i + 1))]))
    // The paused server probes: the raw peer receives headers only, 0xFFFFFFFF each.
    const got: Buffer[] = []
    await new Promise<void>((resolve) => {
      raw.on('data', (chunk: Buffer) => {
        got.push(chunk)
        if (Buffer.concat(got).length >= 12) resolve()
      })
      raw.once('close', () => resolve())
    })
    const probes = Buffer.concat(got)
    expect(probes.length % 4).toBe(0)
    expect([...probes].every((b) => b === 0xff)).toBe(true)
    const it = server[Symbol.asyncIterator]()
    const read: number[] = []
    for (let i = 0; i < 8; i++) read.push(((await it.next()).value as Uint8Array)[0]!)
    expect(read).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('rejects URLs that are not tcp://host:port', async () => {
    const t = tcpTransport()
    for (const url of ['tcp://127.0.0.1', 'ws://127.0.0.1:1', 'not a url']) {
      const err = await t.connect(url).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(hasCode(err, 'ERR_INVALID_URL') || hasCode(err, 'ERR_UNSUPPORTED_SCHEME')).toBe(true)
    }
  })

  it('a throwing onConnection costs only its connection: reset, reported, the listener keeps serving', async () => {
    const reported: string[] = []
    const t = tcpTransport({ onServerError: (err, url) => reported.push(`${url} ${err.message}`) })
    let calls = 0
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await t.listen('tcp://127.0.0.1:0', (c) => {
      if (++calls === 1) throw new Error('handler bug')
      accept(c)
    })
    cleanup.push(() => listener.close())
    // The refused connection is reset: the reset may reach the client before or after its own
    // connect completed, so it fails to connect or its connection ends with an error.
    const outcome = await t.connect(listener.url).then(
      async (c) => {
        cleanup.push(() => c.abort(new Error('cleanup')))
        return await c.closed
      },
      (e: unknown) => e,
    )
    expect(hasCode(outcome, 'ERR_CONNECTION_CLOSED') || hasCode(outcome, 'ERR_CONNECT_FAILED')).toBe(true)
    expect(reported).toEqual([`${listener.url} handler bug`])
    const second = await t.connect(listener.url)
    cleanup.push(() => second.abort(new Error('cleanup')))
    const server = await accepted
    second.send(new Uint8Array([1, 2, 3]))
    const r = await server[Symbol.asyncIterator]().next()
    expect([...(r.value as Uint8Array)]).toEqual([1, 2, 3])
  })

  it('reports a server error after listen (a failed accept) and keeps serving', async () => {
    // A failed accept (EMFILE) cannot be produced on purpose (libuv keeps a spare descriptor
    // to swallow it), so the test takes hold of the real server and emits what net.Server
    // emits then.
    const servers: NetServer[] = []
    const real = NetServer.prototype.listen
    const spy = vi.spyOn(NetServer.prototype, 'listen').mockImplementation(function (this: NetServer, ...args: unknown[]) {
      servers.push(this)
      return (real as (...a: unknown[]) => NetServer).apply(this, args)
    })
    cleanup.push(() => spy.mockRestore())
    const reported: string[] = []
    const t = tcpTransport({ onServerError: (err, url) => reported.push(`${url} ${(err as { code?: string }).code}`) })
    const { listener, client, server } = await pair(t)
    servers[0]!.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }))
    expect(reported).toEqual([`${listener.url} EMFILE`])
    client.send(new Uint8Array([5]))
    const r = await server[Symbol.asyncIterator]().next()
    expect([...(r.value as Uint8Array)]).toEqual([5])
  })
})
