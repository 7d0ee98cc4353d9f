/**
 * Hostile first frames against a real server over real WebSockets: a stranger's frame is
 * refused before it costs the node real CPU, and an honest client keeps getting answers.
 */
import { describe, expect, it } from 'vitest'
import { connect } from '../../src/proto/client/client.js'
import type { Server } from '../../src/proto/server/server.js'
import { filledTable, RawClient, serveTable } from '../proto/helpers.js'
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

async function attackers(url: string, n: number, hello: boolean, frame: Uint8Array): Promise<{ codes: string[]; ms: number[] }> {
  const raws = await Promise.all(
    Array.from({ length: n }, async () => {
      const r = hello ? (await RawClient.hello(url)).raw : await RawClient.open(url)
      cleanups.push(() => r.close())
      return r
    }),
  )
  const out = await Promise.all(
    raws.map(async (r) => {
      const t = performance.now()
      r.sendBytes(frame)
      const f = await r.readUntil((x) => x.t === 'error')
      const ms = performance.now() - t
      expect(await r.ended()).toBe(true)
      return { code: (f as { code: string }).code, ms }
    }),
  )
  return { codes: out.map((o) => o.code), ms: out.map((o) => o.ms) }
}

describe('the endpoint before and after hello', () => {
  it('twenty 1 MiB deeply nested frames before hello: each refused at once, an honest client still answered promptly', async () => {
    const s = await server()
    let result: { codes: string[]; ms: number[] } | undefined
    const worst = await honestDuring(s.url, async () => {
      result = await attackers(s.url, 20, false, nested((1 << 20) - 1))
    })
    expect(new Set(result!.codes)).toEqual(new Set(['ERR_FRAME_TOO_LARGE']))
    // Before the limits, each of these frames cost the node ~360 ms of CPU and the honest
    // client waited 6.9 s; loopback transfer of 20 MiB and a busy test machine leave slack.
    if (process.env.WW_MEASURE) console.log("worst honest ms", worst, "refusal ms max", Math.max(...result!.ms))
    expect(worst).toBeLessThan(1000)
    await expect.poll(() => s.stats().connections, { timeout: 5000 }).toBe(1)
  })

  it('a nested frame small enough to be a first frame: refused by the depth scan, not decoded', async () => {
    const s = await server()
    const { codes } = await attackers(s.url, 1, false, nested(4000))
    expect(codes).toEqual(['ERR_BAD_FRAME'])
  })

  it('twenty 1 MiB deeply nested frames after hello: ERR_BAD_FRAME each, the honest client still answered promptly', async () => {
    const s = await server()
    let result: { codes: string[]; ms: number[] } | undefined
    const worst = await honestDuring(s.url, async () => {
      result = await attackers(s.url, 20, true, nested((1 << 20) - 64))
    })
    expect(new Set(result!.codes)).toEqual(new Set(['ERR_BAD_FRAME']))
    if (process.env.WW_MEASURE) console.log("worst honest ms", worst, "refusal ms max", Math.max(...result!.ms))
    expect(worst).toBeLessThan(1000)
  })
})
