import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request, type Server as HttpServer } from 'node:http'
import { createRequire } from 'node:module'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { hasCode } from '../../src/errors.js'
import { transportConformance } from '../../src/transport/conformance.js'
import type { Connection, Listener } from '../../src/transport/types.js'
import { webSockets } from '../../src/transport/ws.js'
import { cleanupAfterEach } from '../cleanup.js'

// A self-signed certificate for 127.0.0.1, made once for this file with the openssl CLI.
const certDir = mkdtempSync(join(tmpdir(), 'ww-ws-test-'))
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '2',
  '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
], { stdio: 'ignore' })
const cert = readFileSync(join(certDir, 'cert.pem'))
const key = readFileSync(join(certDir, 'key.pem'))
afterAll(() => rmSync(certDir, { recursive: true, force: true }))

// Known gap: a paused socket does not see the peer's reset until the reader drains the queue.
transportConformance('ws', async () => ({ transport: webSockets(), listenUrl: 'ws://127.0.0.1:0' }))
transportConformance('wss', async () => ({
  transport: webSockets({ tls: { cert, key }, clientTls: { ca: cert } }),
  listenUrl: 'wss://127.0.0.1:0',
}))

const cleanups = cleanupAfterEach()

async function listen(t = webSockets(), url = 'ws://127.0.0.1:0'): Promise<{ listener: Listener; accepted: () => Promise<Connection> }> {
  const queue: Connection[] = []
  const waiters: Array<(c: Connection) => void> = []
  const listener = await t.listen(url, (conn) => {
    cleanups.push(() => conn.abort(new Error('cleanup')))
    const w = waiters.shift()
    if (w !== undefined) w(conn)
    else queue.push(conn)
  })
  cleanups.push(() => listener.close())
  return {
    listener,
    accepted: () => {
      const c = queue.shift()
      return c !== undefined ? Promise.resolve(c) : new Promise((resolve) => waiters.push(resolve))
    },
  }
}

async function dial(url: string, t = webSockets()): Promise<Connection> {
  const c = await t.connect(url)
  cleanups.push(() => c.abort(new Error('cleanup')))
  return c
}

async function readErr(conn: Connection): Promise<unknown> {
  try {
    for (;;) {
      const r = await conn[Symbol.asyncIterator]().next()
      if (r.done === true) return undefined
    }
  } catch (err) {
    return err
  }
}

function rawClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  cleanups.push(() => ws.terminate())
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

describe('ws transport', () => {
  it('listens on a real port and reports it in the URL', async () => {
    const { listener } = await listen()
    expect(listener.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
    expect(listener.url).not.toMatch(/:0$/)
  })

  it('rejects a text frame with close code 1003 and ERR_TEXT_FRAME', async () => {
    const { listener, accepted } = await listen()
    const raw = await rawClient(listener.url)
    const server = await accepted()
    const closeCode = new Promise<number>((resolve) => raw.once('close', (code) => resolve(code)))
    raw.send(Uint8Array.of(1), { binary: true })
    raw.send('hello')
    const it = server[Symbol.asyncIterator]()
    expect([...((await it.next()).value ?? [])]).toEqual([1])
    const err = await it.next().then(() => undefined, (e: unknown) => e)
    expect(hasCode(err, 'ERR_TEXT_FRAME')).toBe(true)
    expect(hasCode(await server.closed, 'ERR_TEXT_FRAME')).toBe(true)
    expect(await closeCode).toBe(1003)
  })

  it('reports ERR_TEXT_FRAME on the sender side too, when our client meets a text-sending server', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => new Promise((r) => wss.close(r)))
    await new Promise((r) => wss.once('listening', r))
    wss.on('connection', (ws) => ws.send('not binary'))
    const port = (wss.address() as { port: number }).port
    const client = await dial(`ws://127.0.0.1:${port}`)
    expect(hasCode(await readErr(client), 'ERR_TEXT_FRAME')).toBe(true)
    expect(hasCode(await client.closed, 'ERR_TEXT_FRAME')).toBe(true)
  })

  it('rejects an oversized frame with ERR_FRAME_TOO_LARGE and keeps serving other connections', async () => {
    const small = webSockets({ maxPayload: 1024 })
    const { listener, accepted } = await listen(small)
    const big = await dial(listener.url, webSockets())
    const bigServer = await accepted()
    const other = await dial(listener.url)
    const otherServer = await accepted()

    big.send(new Uint8Array(2048))
    expect(hasCode(await readErr(bigServer), 'ERR_FRAME_TOO_LARGE')).toBe(true)
    expect(hasCode(await bigServer.closed, 'ERR_FRAME_TOO_LARGE')).toBe(true)
    // The sender learns why through the close code (1009).
    expect(hasCode(await big.closed, 'ERR_FRAME_TOO_LARGE')).toBe(true)

    other.send(Uint8Array.of(4, 2))
    const r = await otherServer[Symbol.asyncIterator]().next()
    expect([...(r.value ?? [])]).toEqual([4, 2])
    const third = await dial(listener.url)
    expect(third.send(new Uint8Array(1024))).toBe(true)
    const s3 = await accepted()
    expect((await s3[Symbol.asyncIterator]().next()).value?.byteLength).toBe(1024)
  })

  it('refuses to send a frame above its own maxPayload', async () => {
    const { listener } = await listen()
    const c = await dial(listener.url, webSockets({ maxPayload: 10 }))
    let err: unknown
    try {
      c.send(new Uint8Array(11))
    } catch (e) {
      err = e
    }
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
    expect(c.send(new Uint8Array(10))).toBe(true)
  })

  it('round-trips over wss with a self-signed certificate, and refuses an untrusted one', async () => {
    const t = webSockets({ tls: { cert, key }, clientTls: { ca: cert } })
    const { listener, accepted } = await listen(t, 'wss://127.0.0.1:0')
    expect(listener.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    const c = await dial(listener.url, t)
    const s = await accepted()
    c.send(Uint8Array.of(1, 2, 3))
    const got = await s[Symbol.asyncIterator]().next()
    expect([...(got.value ?? [])]).toEqual([1, 2, 3])
    s.send(Uint8Array.of(4))
    expect([...((await c[Symbol.asyncIterator]().next()).value ?? [])]).toEqual([4])

    const untrusting = await webSockets().connect(listener.url).catch((e: unknown) => e)
    expect(hasCode(untrusting, 'ERR_CONNECT_FAILED')).toBe(true)
  })

  it('needs TLS options to listen on wss', async () => {
    const err = await webSockets().listen('wss://127.0.0.1:0', () => {}).catch((e: unknown) => e)
    expect(hasCode(err, 'ERR_LISTEN_FAILED')).toBe(true)
  })

  it('fails to listen on a port in use with ERR_LISTEN_FAILED', async () => {
    const { listener } = await listen()
    const err = await webSockets().listen(listener.url, () => {}).catch((e: unknown) => e)
    expect(hasCode(err, 'ERR_LISTEN_FAILED')).toBe(true)
  })

  it('rejects other schemes and malformed URLs', async () => {
    const t = webSockets()
    expect(hasCode(await t.connect('http://127.0.0.1:1').catch((e: unknown) => e), 'ERR_UNSUPPORTED_SCHEME')).toBe(true)
    expect(hasCode(await t.connect('not a url').catch((e: unknown) => e), 'ERR_INVALID_URL')).toBe(true)
  })

  describe('against a server that never answers the handshake', () => {
    let server: Server
    const sockets = new Set<Socket>()
    async function silent(): Promise<string> {
      server = createServer((s) => {
        sockets.add(s)
        s.on('error', () => {})
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      cleanups.push(() => {
        for (const s of sockets) s.destroy()
        return new Promise((r) => server.close(r))
      })
      return `ws://127.0.0.1:${(server.address() as { port: number }).port}`
    }

    it('times out with ERR_CONNECT_FAILED', async () => {
      const url = await silent()
      const err = await webSockets({ connectTimeout: 200 }).connect(url).catch((e: unknown) => e)
      expect(hasCode(err, 'ERR_CONNECT_FAILED')).toBe(true)
      expect((err as Error).message).toMatch(/timed out/)
    })

    it('stops with ERR_ABORTED when the signal fires mid-handshake', async () => {
      const url = await silent()
      const ac = new AbortController()
      const connecting = webSockets().connect(url, { signal: ac.signal }).catch((e: unknown) => e)
      // Wait until the TCP connection is really up, so the abort lands in the handshake.
      await vi.waitFor(() => expect(sockets.size).toBe(1), { timeout: 10_000, interval: 10 })
      ac.abort()
      expect(hasCode(await connecting, 'ERR_ABORTED')).toBe(true)
    })
  })

  it('enforces the listen path and answers plain HTTP with 426', async () => {
    const { listener, accepted } = await listen(webSockets(), 'ws://127.0.0.1:0/ww')
    expect(listener.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ww$/)
    const ok = await dial(listener.url)
    ok.send(Uint8Array.of(1))
    expect((await (await accepted())[Symbol.asyncIterator]().next()).value?.[0]).toBe(1)
    const wrong = await webSockets().connect(listener.url.replace('/ww', '/other')).catch((e: unknown) => e)
    expect(hasCode(wrong, 'ERR_CONNECT_FAILED')).toBe(true)

    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(listener.url.replace('ws:', 'http:'), (res) => {
        res.resume()
        resolve(res.statusCode)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(426)
  })

  it('ends clients cleanly when the listener closes (close code 1001)', async () => {
    const { listener } = await listen()
    const c = await dial(listener.url)
    const ended = readErr(c)
    await listener.close()
    expect(await ended).toBeUndefined()
    expect(await c.closed).toBeUndefined()
  })

  it('reports a peer that drops the TCP connection as ERR_CONNECTION_CLOSED', async () => {
    const { listener, accepted } = await listen()
    const raw = await rawClient(listener.url)
    const s = await accepted()
    const ended = readErr(s)
    raw.terminate()
    expect(hasCode(await ended, 'ERR_CONNECTION_CLOSED')).toBe(true)
    expect(hasCode(await s.closed, 'ERR_CONNECTION_CLOSED')).toBe(true)
  })

  it('keepalive does not drop a live peer while this end has paused reading (it cannot read the pongs then)', async () => {
    const { listener, accepted } = await listen(webSockets({ pingInterval: 50, readBufferFrames: 1, readBufferBytes: 1024, pausedProbeInterval: 60_000 }))
    const raw = await rawClient(listener.url)
    const s = await accepted()
    // The raw client answers every ping, but the server, paused after the first frame, does
    // not read those answers until its reader catches up.
    const frames = 64
    for (let i = 0; i < frames; i++) raw.send(new Uint8Array(64 * 1024).fill(i))
    let pings = 0
    await new Promise<void>((resolve) => {
      raw.on('ping', () => ++pings === 8 && resolve())
      raw.once('close', () => resolve())
    })
    const settled = await Promise.race([s.closed.then(() => 'closed'), Promise.resolve('open')])
    expect(settled).toBe('open')
    const it = s[Symbol.asyncIterator]()
    for (let i = 0; i < frames; i++) {
      const r = await it.next()
      expect(r.value?.[0]).toBe(i)
    }
  })
})

describe('ws listener errors after listen', () => {
  // An accept that fails (EMFILE, ENFILE) is the real cause, and it cannot be produced on
  // purpose: libuv keeps a spare descriptor to swallow EMFILE. So the test takes hold of the
  // real HTTP server the transport creates and emits on it what Node's net.Server emits then.
  const nodeHttp = createRequire(import.meta.url)('node:http') as typeof import('node:http')
  function catchServer(): { server: () => HttpServer } {
    const made: HttpServer[] = []
    const real = nodeHttp.createServer
    const spy = vi.spyOn(nodeHttp, 'createServer').mockImplementation(((...args: Parameters<typeof real>) => {
      const s = real(...args)
      made.push(s)
      return s
    }) as typeof real)
    cleanups.push(() => spy.mockRestore())
    return { server: () => made[0]! }
  }
  const acceptError = (): Error => Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' })

  it('reports each server error to onServerError and keeps serving', async () => {
    const { server } = catchServer()
    const seen: Array<[string, string]> = []
    const { listener, accepted } = await listen(webSockets({ onServerError: (err, url) => seen.push([(err as { code?: string }).code ?? '', url]) }))
    server().emit('error', acceptError())
    server().emit('error', acceptError())
    expect(seen).toEqual([['EMFILE', listener.url], ['EMFILE', listener.url]])
    const c = await dial(listener.url)
    const s = await accepted()
    c.send(new Uint8Array([7]))
    const it = s[Symbol.asyncIterator]()
    expect([...((await it.next()).value as Uint8Array)]).toEqual([7])
  })

  it('by default reports a server error as a process warning', async () => {
    const { server } = catchServer()
    const { listener } = await listen()
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve))
    server().emit('error', acceptError())
    const w = await warned
    expect(w.name).toBe('WwListenerWarning')
    expect(w.message).toContain(listener.url)
    expect(w.message).toContain('EMFILE')
  })
})
