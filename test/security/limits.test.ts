/**
 * Connection limits of the client endpoint, with real sockets on 127.0.0.1: the connection
 * caps (raw sockets count), the per-IP cap (127.0.0.2 is another address on loopback), the
 * upgrade deadline against silent and slowloris sockets, ping keepalive, and the idle timeout.
 */
import { describe, expect, it } from 'vitest'
import net from 'node:net'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type WebSocket from 'ws'
import { connect } from '../../src/proto/client/client.js'
import type { Server, ServeLimits } from '../../src/proto/server/server.js'
import { defaultTransports } from '../../src/transport/registry.js'
import { webSockets, type WebSocketsInit } from '../../src/transport/ws.js'
import { hasCode } from '../../src/errors.js'
import { filledTable, RawClient, serveTable } from '../proto/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const WS = createRequire(import.meta.url)('ws') as typeof WebSocket

async function server(ws: WebSocketsInit, limits: ServeLimits = {}): Promise<Server> {
  const s = await serveTable(filledTable(50), { transports: defaultTransports({ ws }), limits })
  cleanups.push(() => s.close())
  return s
}

function portOf(url: string): number {
  return Number(new URL(url).port)
}

/** A raw TCP socket to the server, from `localAddress`; resolves once connected. */
async function rawSocket(url: string, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: portOf(url), localAddress })
  s.on('error', () => {})
  cleanups.push(() => s.destroy())
  await once(s, 'connect')
  return s
}

/** Everything the server sends on `s` until it closes it (bounded wait). */
async function readToClose(s: net.Socket, timeoutMs = 10_000): Promise<string> {
  let text = ''
  s.on('data', (d: Buffer) => (text += d.toString()))
  await Promise.race([once(s, 'close'), new Promise((_, rej) => setTimeout(() => rej(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs).unref())])
  return text
}

async function connectError(url: string): Promise<unknown> {
  try {
    const s = await connect(url, { transports: defaultTransports() })
    await s.close()
  } catch (err) {
    return err
  }
  return undefined
}

describe('connection caps', () => {
  it('maxConnections counts raw sockets too; one more is refused with ERR_TOO_MANY_CONNECTIONS, and a freed place is usable again', async () => {
    const s = await server({ maxConnections: 3 })
    const socks = [await rawSocket(s.url), await rawSocket(s.url), await rawSocket(s.url)]
    const err = await connectError(s.url)
    expect(hasCode(err, 'ERR_TOO_MANY_CONNECTIONS')).toBe(true)
    // A raw socket over the cap reads the documented answer.
    const extra = await rawSocket(s.url)
    const answer = await readToClose(extra)
    expect(answer).toMatch(/^HTTP\/1.1 503/)
    expect(answer).toContain('x-ww-error: ERR_TOO_MANY_CONNECTIONS')
    socks[0]!.destroy()
    await expect.poll(async () => (await connectError(s.url)) === undefined, { timeout: 5000 }).toBe(true)
  })

  it('maxConnectionsPerIp: a fourth socket from 127.0.0.1 is refused while one from 127.0.0.2 is served', async () => {
    const s = await server({ maxConnectionsPerIp: 3 })
    for (let i = 0; i < 3; i++) await rawSocket(s.url)
    expect(hasCode(await connectError(s.url), 'ERR_TOO_MANY_CONNECTIONS')).toBe(true)
    const other = new WS(s.url, { localAddress: '127.0.0.2' })
    cleanups.push(() => other.terminate())
    await once(other, 'open')
  })

  it('the protocol server caps connections of any transport with an error frame', async () => {
    const s = await server({}, { maxConnections: 2 })
    const a = await RawClient.open(s.url)
    const b = await RawClient.open(s.url)
    cleanups.push(() => a.close(), () => b.close())
    await expect.poll(() => s.stats().connections).toBe(2)
    const c = await RawClient.open(s.url)
    cleanups.push(() => c.close())
    expect(await c.read()).toMatchObject({ t: 'error', code: 'ERR_TOO_MANY_CONNECTIONS' })
    expect(await c.ended()).toBe(true)
    const e = await connectError(s.url)
    expect(e, String(e)).toBeDefined()
    expect(hasCode(e, 'ERR_TOO_MANY_CONNECTIONS'), String(e)).toBe(true)
  })
})

describe('sockets that never upgrade', () => {
  it('a silent socket is closed at the upgrade deadline', async () => {
    const s = await server({ upgradeTimeout: 300 })
    const sock = await rawSocket(s.url)
    const t = performance.now()
    const text = await readToClose(sock, 5000)
    expect(performance.now() - t).toBeGreaterThanOrEqual(250)
    expect(text).toMatch(/^HTTP\/1.1 408/)
  })

  it('a slowloris socket (a header line every 100 ms, never done) is closed at the deadline, and its place freed', async () => {
    const s = await server({ upgradeTimeout: 400, maxConnections: 1 })
    const sock = await rawSocket(s.url)
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n')
    const drip = setInterval(() => sock.writable && sock.write('X-Slow: 1\r\n'), 100)
    cleanups.push(() => clearInterval(drip))
    await readToClose(sock, 5000)
    clearInterval(drip)
    await expect.poll(async () => (await connectError(s.url)) === undefined, { timeout: 5000 }).toBe(true)
  })

  it('an upgraded connection outlives the upgrade deadline', async () => {
    const s = await server({ upgradeTimeout: 200 })
    const session = await connect(s.url)
    cleanups.push(() => session.close())
    await new Promise((r) => setTimeout(r, 600))
    expect(await session.view.iter('LIMIT 3').toArray()).toHaveLength(3)
  })
})

describe('keepalive and idle', () => {
  it('a peer that stops answering pings is dropped; one that answers stays', async () => {
    const s = await server({ pingInterval: 150 })
    const mute = new WS(s.url, { autoPong: false })
    cleanups.push(() => mute.terminate())
    await once(mute, 'open')
    const live = await connect(s.url)
    cleanups.push(() => live.close())
    const [code] = (await once(mute, 'close')) as [number]
    expect(code).toBe(1006)
    expect(await live.view.iter('LIMIT 2').toArray()).toHaveLength(2)
  })

  it('idle: a session with nothing open is closed with ERR_IDLE_TIMEOUT; one with an open stream is kept', async () => {
    const s = await server({}, { idleTimeout: 300 })
    const idle = await RawClient.hello(s.url)
    cleanups.push(() => idle.raw.close())
    const busy = await RawClient.hello(s.url)
    cleanups.push(() => busy.raw.close())
    // A stream the client never gives more credit to: open, and quiet.
    busy.raw.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false } }, window: 200 })
    expect(await idle.raw.readUntil((f) => f.t === 'error')).toMatchObject({ code: 'ERR_IDLE_TIMEOUT' })
    expect(await idle.raw.ended()).toBe(true)
    await new Promise((r) => setTimeout(r, 500))
    expect(s.stats().connections).toBe(1)
    expect(s.stats().streams).toBe(1)
  })
})
