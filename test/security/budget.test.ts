/**
 * Per-connection budgets with real WebSockets: the bytes a connection's streams have in
 * flight are bounded before any batch goes out, streams a client never reads cannot stall the
 * one it reads, and one connection cannot take the node's pub/sub capacity.
 */
import { describe, expect, it } from 'vitest'
import { connect } from '../../src/proto/client/client.js'
import type { Server, ServeInit } from '../../src/proto/server/server.js'
import type { Statement } from '../../src/lang/ast.js'
import { MIN_STREAM_SHARE } from '../../src/proto/server/server-stream.js'
import { filledTable, RawClient, serveTable } from '../proto/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }
const BUDGET = 1 << 20

async function server(init: Partial<ServeInit> = {}, n = 20_000): Promise<Server> {
  const s = await serveTable(filledTable(n), init)
  cleanups.push(() => s.close())
  return s
}

/** Samples `f` every 5 ms for `ms` and returns the largest value. */
async function peak(f: () => number, ms: number): Promise<number> {
  let m = f()
  const end = Date.now() + ms
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 5))
    m = Math.max(m, f())
  }
  return m
}

describe('one memory budget per connection', () => {
  it('64 iter streams with 1 MiB windows, never read: every stream starts, the connection holds at most its budget plus 8 KiB per stream', async () => {
    const s = await server()
    const { raw } = await RawClient.hello(s.url)
    cleanups.push(() => raw.close())
    for (let id = 1; id <= 64; id++) raw.send({ t: 'call', id, cap: 0, m: 'iter', a: { q: ALL }, window: 1 << 20 })
    await expect.poll(() => s.stats().perStream.filter((x) => x.batches > 0).length, { timeout: 10_000 }).toBe(64)
    const inFlight = (): number => s.stats().perConnection[0]?.inFlight ?? 0
    const worst = await peak(inFlight, 300)
    // Without the budget each stream sent a 64 KiB batch before any check: over 4 MiB here.
    expect(worst).toBeLessThanOrEqual(BUDGET + 64 * (MIN_STREAM_SHARE + 1024))
    expect(worst).toBeGreaterThan(BUDGET / 2)
  })

  it('63 streams left unread hold the budget; a 64th stream on the same connection still runs to its end', async () => {
    const s = await server()
    const session = await connect(s.url)
    cleanups.push(() => session.close())
    const idle = Array.from({ length: 63 }, () => session.view.iter(ALL))
    for (const c of idle) expect(await c.next()).toBeDefined()
    await expect.poll(() => s.stats().perConnection[0]!.inFlight, { timeout: 10_000 }).toBeGreaterThan(BUDGET / 2)
    const all = await session.view.iter(ALL).toArray()
    expect(all).toHaveLength(20_000)
    expect(s.stats().maxInFlight).toBeLessThanOrEqual(BUDGET)
  })

  it('a budget smaller than one batch still lets every stream finish, in 8 KiB steps', async () => {
    const s = await server({ limits: { maxConnectionBytes: 4096 } }, 2000)
    const session = await connect(s.url)
    cleanups.push(() => session.close())
    const results = await Promise.all(Array.from({ length: 4 }, () => session.view.iter(ALL).toArray()))
    for (const r of results) expect(r).toHaveLength(2000)
  })
})

describe('the receiver hands credit back once drained', () => {
  it('a sender that stopped short of half a window gets credit when everything sent is consumed', async () => {
    const { CreditWindow } = await import('../../src/proto/wire/window.js')
    const w = new CreditWindow({ initial: 64 * 1024 })
    expect(w.onReceive(3000)).toBe(true)
    expect(w.onConsume(1000)).toBeUndefined()
    expect(w.onConsume(2000)).toEqual({ consumed: 3000, window: 64 * 1024 })
    // Nothing new consumed: no second credit.
    expect(w.onConsume(0)).toBeUndefined()
  })
})
