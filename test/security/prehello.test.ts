/**
 * Hostile first frames against a real server over real WebSockets: a stranger's frame is
 * refused before it costs the node real CPU, and an honest client keeps getting answers.
 */
import { describe, expect, it } from 'vitest'
import net from 'node:net'
import { once } from 'node:events'
import { decode, encode } from '@msgpack/msgpack'
import { connect } from '../../src/proto/client/client.js'
import type { Server } from '../../src/proto/server/server.js'
import { filledTable, serveTable } from '../proto/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()

/** `n` one-element arrays nested, around a nil. */
function nested(n: number): Uint8Array {
  const b = new Uint8Array(n + 1).fill(0x91)
  b[n] = 0xc0
  return b
}

async function server(): Promise<Server> {
  const s = await serveTable(filledTable(2000))
  cleanups.push(() => s.close())
  return s
}

/**
 * Runs honest lookups back to back on their own connection while `attack` runs; returns the
 * slowest answer in ms.
 */
async function honestDuring(url: string, attack: () => Promise<void>): Promise<number> {
  const s = await connect(url)
  cleanups.push(() => s.close())
  await s.view.lookup('WHERE host=host-001')
  let worst = 0
  let stop = false
  const loop = (async () => {
    while (!stop) {
      const t = performance.now()
      expect(await s.view.lookup('WHERE host=host-001')).toBeDefined()
      worst = Math.max(worst, performance.now() - t)
    }
  })()
  try {
    await attack()
  } finally {
    stop = true
    await loop
  }
  return worst
}

/**
 * One binary WebSocket frame, client to server, with an all-zero mask (so building it costs
 * nothing here: the attack's cost is measured on the node, not in the test's own loop).
 */
function wsFrame(payload: Uint8Array): Buffer {
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 0x10000 ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b })()])
  return Buffer.concat([head, Buffer.alloc(4), payload])
}

/**
 * A WebSocket client on a bare TCP socket: upgrades, optionally says hello, sends `frame`,
 * and resolves with the code of the node's `error` frame once the node has closed the socket.
 */
async function attack(url: string, hello: boolean, frame: Buffer): Promise<string> {
  const u = new URL(url)
  const sock = net.connect({ host: u.hostname, port: Number(u.port) })
  sock.on('error', () => {})
  cleanups.push(() => sock.destroy())
  await once(sock, 'connect')
  sock.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  let buf = Buffer.alloc(0)
  const closed = once(sock, 'close')
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no upgrade answer within 20 s')), 20_000)
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.indexOf('\r\n\r\n') >= 0) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  expect(buf.toString('latin1')).toMatch(/^HTTP\/1.1 101/)
  buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4)
  if (hello) sock.write(wsFrame(encode({ t: 'hello', v: 1 })))
  sock.write(frame)
  await closed
  // Server frames are unmasked: walk them and find the error frame.
  let pos = 0
  while (pos + 2 <= buf.length) {
    const op = buf[pos]! & 0x0f
    let len = buf[pos + 1]! & 0x7f
    let at = pos + 2
    if (len === 126) { len = buf.readUInt16BE(at); at += 2 } else if (len === 127) { len = Number(buf.readBigUInt64BE(at)); at += 8 }
    if (op === 2) {
      const f = decode(buf.subarray(at, at + len)) as { t: string; code?: string }
      if (f.t === 'error') return f.code!
    }
    pos = at + len
  }
  throw new Error('the node closed without an error frame')
}

async function attackers(url: string, n: number, hello: boolean, payload: Uint8Array): Promise<{ codes: string[] }> {
  const frame = wsFrame(payload)
  const codes = await Promise.all(Array.from({ length: n }, () => attack(url, hello, frame)))
  return { codes }
}

describe('the endpoint before and after hello', () => {
  it('twenty 1 MiB deeply nested frames before hello: each refused at once, an honest client still answered promptly', async () => {
    const s = await server()
    let result: { codes: string[] } | undefined
    const worst = await honestDuring(s.url, async () => {
      result = await attackers(s.url, 20, false, nested((1 << 20) - 1))
    })
    expect(new Set(result!.codes)).toEqual(new Set(['ERR_FRAME_TOO_LARGE']))
    // Before the limits, each of these frames cost the node ~360 ms of CPU and the honest
    // client waited 6.9 s; loopback transfer of 20 MiB and a busy test machine leave slack.
    if (process.env.WW_MEASURE) console.log('worst honest ms', worst)
    expect(worst).toBeLessThan(500)
    await expect.poll(() => s.stats().connections, { timeout: 5000 }).toBe(1)
  })

  it('a hello small enough to be a first frame but with a 4 000-deep key: refused by the depth scan, not decoded', async () => {
    const s = await server()
    // {t:'hello', v:1, x:[[[…]]]}: a valid hello to the decoder, which ignores the extra key.
    const head = Uint8Array.from([0x83, 0xa1, 0x74, 0xa5, ...new TextEncoder().encode('hello'), 0xa1, 0x76, 0x01, 0xa1, 0x78])
    const frame = new Uint8Array(head.length + 4001)
    frame.set(head, 0)
    frame.set(nested(4000), head.length)
    const { codes } = await attackers(s.url, 1, false, frame)
    expect(codes).toEqual(['ERR_BAD_FRAME'])
  })

  it('twenty 1 MiB deeply nested frames after hello: ERR_BAD_FRAME each, the honest client still answered promptly', async () => {
    const s = await server()
    let result: { codes: string[] } | undefined
    const worst = await honestDuring(s.url, async () => {
      result = await attackers(s.url, 20, true, nested((1 << 20) - 64))
    })
    expect(new Set(result!.codes)).toEqual(new Set(['ERR_BAD_FRAME']))
    if (process.env.WW_MEASURE) console.log('worst honest ms', worst)
    expect(worst).toBeLessThan(500)
  })
})
