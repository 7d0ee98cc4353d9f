/**
 * The node side of the protocol over real WebSockets on 127.0.0.1, with a real RoutingTable:
 * query results, flow control, cancel, cleanup, limits, capabilities and every malformed frame.
 */
import { describe, expect, it, vi } from 'vitest'
import { encode } from '@msgpack/msgpack'
import { connect } from '../../src/proto/client/client.js'
import type { Server } from '../../src/proto/server/server.js'
import type { Session } from '../../src/api.js'
import type { RoutingRecord } from '../../src/record/record.js'
import type { Statement } from '../../src/lang/ast.js'
import { RoutingTable } from '../../src/table/table.js'
import { parseQuery } from '../../src/lang/index.js'
import type { ServedTable } from '../../src/proto/server/view-cap.js'
import { countingTable, filledTable, openSession, peerId, RawClient, record, serveTable } from './helpers.js'
import { hasCode } from '../../src/errors.js'
import { cleanupAfterEach } from '../cleanup.js'
import { killGroup, spawnGroup } from '../procs.js'

const cleanups = cleanupAfterEach()

async function start(table: ServedTable, init: Parameters<typeof serveTable>[1] = {}): Promise<Server> {
  const s = await serveTable(table as RoutingTable, init)
  cleanups.push(() => s.close())
  return s
}

const session = (url: string, token?: string): Promise<Session> => openSession(cleanups, url, token)

async function raw(url: string): Promise<RawClient> {
  const { raw: r, welcome } = await RawClient.hello(url)
  expect(welcome.t).toBe('welcome')
  cleanups.push(() => r.close())
  return r
}

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

const counting = countingTable

const QUERIES = [
  '',
  'LS',
  'REVERSE',
  'LIMIT 7',
  'WHERE region=us-east-1',
  'WHERE region=us*',
  'WHERE region=us* REVERSE LIMIT 13',
  'WHERE host=host-01*',
  'WHERE host=host-010',
  'WHERE meta.role=*',
  'WHERE role=db',
  'WHERE host=nosuchhost',
  'WHERE server=0*',
  `WHERE peer=${peerId(42)}`,
  'FROM host=host-050',
  'FROM host=host-050 TO host=host-060',
  'FROM host=host-050 TO host=host-06* REVERSE',
  'TO host=host-010',
  'TO host=host-01*',
  'FROM region=eu TO region=us LIMIT 100 REVERSE',
  `FROM peer=${peerId(1000)} LIMIT 50`,
  'LOOKUP',
  'LOOKUP WHERE role=web',
  'LOOKUP WHERE host=nosuchhost',
  'LOOKUP FROM host=host-090 REVERSE',
]

describe('queries over the wire', () => {
  it('every query form gives the same ordered result remotely as locally', async () => {
    const table = filledTable(3000)
    const server = await start(table)
    const s = await session(server.url)
    for (const q of QUERIES) {
      const want = await table.query(q).toArray()
      expect(await s.view.iter(q).toArray(), q).toEqual(want)
      expect(await s.view.lookup(q), q).toEqual(await table.lookup(q))
    }
  })

  it('concurrent streams on one connection each get their own, intact results', async () => {
    const table = filledTable(20_000)
    const server = await start(table)
    const s = await session(server.url)
    const qs = ['', 'REVERSE', 'WHERE region=us*', 'FROM host=host-050 REVERSE']
    const got = await Promise.all(qs.map((q) => s.view.iter(q).toArray()))
    for (let i = 0; i < qs.length; i++) expect(got[i], qs[i]).toEqual(await table.query(qs[i]!).toArray())
  })

  it('a reversed View yields every query in the opposite order, and reversing twice restores it', async () => {
    const table = filledTable(2000)
    const server = await start(table)
    const s = await session(server.url)
    const rev = s.view.reverse()
    const back = rev.reverse()
    for (const q of QUERIES) {
      const st = parseQuery(q)
      const flipped = await table.query({ ...st, reverse: !st.reverse }).toArray()
      expect(await rev.iter(q).toArray(), q).toEqual(flipped)
      expect(await back.iter(q).toArray(), q).toEqual(await table.query(q).toArray())
    }
  })

  it('values lists an index as the table does', async () => {
    const table = filledTable(500)
    const server = await start(table)
    const s = await session(server.url)
    expect(await s.view.values({ field: 'meta', key: 'region' })).toEqual(table.snapshot().values({ field: 'meta', key: 'region' }))
    expect(await s.view.values({ field: 'meta' })).toEqual(['region', 'role'])
    expect(await s.view.values({ field: 'host' }, 'host-01', { limit: 3 })).toEqual(['host-010', 'host-011', 'host-012'])
  })

  it('a long stream reads its snapshot: upserts during it change nothing it yields', async () => {
    const table = filledTable(20_000)
    const server = await start(table)
    const s = await session(server.url)
    const want = await table.query('WHERE region=us*').toArray()
    const cur = s.view.iter('WHERE region=us*')
    const got: RoutingRecord[] = []
    for (let i = 0; i < 100; i++) got.push((await cur.next())!)
    // New peers that match, newer versions moved out of the match, and leaves.
    for (let i = 20_000; i < 21_000; i++) table.upsert({ ...record(i), meta: { region: 'us-east-1' } })
    for (let i = 0; i < 5000; i++) table.upsert({ ...record(i, 2), meta: { region: 'eu-west-1' } })
    for (let i = 5000; i < 6000; i++) table.upsert({ ...record(i, 3), ttl: 0 })
    for (let r = await cur.next(); r !== undefined; r = await cur.next()) got.push(r)
    expect(cur.err()).toBeUndefined()
    expect(got).toEqual(want)
    // A new stream sees the new table.
    expect(await s.view.iter('WHERE region=us*').toArray()).toEqual(await table.query('WHERE region=us*').toArray())
  })
})

/** The largest batch frame of one record of `table`: less room than this and the node may be stuck on credit. */
function oneRecordBatch(table: RoutingTable, bound: 'max' | 'min'): number {
  let m = bound === 'max' ? 0 : Infinity
  for (const r of table.snapshot().scan(ALL)) {
    const n = encode({ t: 'batch', id: 0xffff_ffff, items: [r] }).length
    m = bound === 'max' ? Math.max(m, n) : Math.min(m, n)
  }
  return m
}

/**
 * Waits until the session's only stream is stalled on credit: after a round trip on the same
 * connection (so every credit the client sent before has reached the node) the node has no
 * room for another record and pulled nothing more. Returns what it had pulled.
 */
async function stalled(s: Session, server: Server, table: { pulled: number }, big: number): Promise<number> {
  return vi.waitFor(
    async () => {
      const before = table.pulled
      await s.view.values({ field: 'host' }, '', { limit: 1 })
      const p = server.stats().perStream[0]!
      expect(p.window - p.inFlight, 'room left in the window').toBeLessThan(big)
      expect(table.pulled, 'records pulled during a round trip').toBe(before)
      return before
    },
    { timeout: 20_000, interval: 20 },
  )
}

describe('flow control (through the real client; the wire-level checks are in flow.test.ts)', () => {
  it('a consumer that pauses for round trips: the node honours its own window cap and reads no further ahead than it may send', async () => {
    const base = filledTable(20_000)
    const table = counting(base)
    const cap = 64 * 1024
    const server = await start(table, { limits: { maxWindow: cap } })
    const s = await connect(server.url, { window: { initial: 16 * 1024, max: 4 * 1024 * 1024 } })
    cleanups.push(() => s.close())
    const small = oneRecordBatch(base, 'min')
    const cur = s.view.iter()
    let read = 0
    for (let r = await cur.next(); r !== undefined && read < 4000; r = await cur.next()) {
      read++
      if (read % 250 === 0) {
        // A pause on an event, not a timer: the node runs on meanwhile, up to its credit.
        await s.view.values({ field: 'host' }, '', { limit: 1 })
        for (const p of server.stats().perStream) {
          expect(p.window).toBeLessThanOrEqual(cap)
          expect(p.inFlight).toBeLessThanOrEqual(cap)
          expect(p.bufferedAmount).toBeLessThanOrEqual(cap)
        }
        // Not yet consumed: at most a window of records, plus the one held back.
        expect(table.pulled - read).toBeLessThanOrEqual(Math.ceil(cap / small) + 1)
      }
    }
    expect(read).toBe(4000)
    const st = server.stats()
    expect(st.perStream).toHaveLength(1)
    expect(st.maxInFlight).toBeGreaterThan(0)
    expect(st.maxInFlight).toBeLessThanOrEqual(cap)
    cur.cancel()
    await vi.waitFor(() => expect(server.stats().streams, 'stream freed').toBe(0), { timeout: 10_000 })
    expect(table.closed).toBe(1)
  })

  it('a window of a few records: every record arrives intact and in order (a record that did not fit is sent first in the next batch)', async () => {
    // Records are ~100–150 bytes: most batches end on a record encoded in place that did
    // not fit, which the node takes back out and sends first in the next batch.
    const table = filledTable(300)
    const server = await start(table)
    const s = await connect(server.url, { window: { initial: 400, max: 400 } })
    cleanups.push(() => s.close())
    const got = await s.view.iter().toArray()
    expect(got).toHaveLength(300)
    expect(got).toEqual([...table.snapshot().scan(ALL)])
    expect(server.stats().maxInFlight).toBeLessThanOrEqual(400)
  })

  it('a node whose maxWindow is below half the client’s window: the stream still runs to its end', async () => {
    // The client credits back every half window, and also whenever it has drained what it
    // received: without the second rule a node stopping at 16 KiB would wait forever for a
    // credit the client sends only at 32 KiB.
    const table = filledTable(3000)
    const server = await start(table, { limits: { maxWindow: 16 * 1024 } })
    const s = await connect(server.url, { window: { initial: 64 * 1024, max: 1024 * 1024 } })
    cleanups.push(() => s.close())
    const cur = s.view.iter(undefined, { signal: AbortSignal.timeout(20_000) })
    expect(await cur.toArray()).toEqual([...table.snapshot().scan(ALL)])
    expect(cur.err()).toBeUndefined()
    expect(server.stats().maxInFlight).toBeLessThanOrEqual(16 * 1024)
  })

  it('a consumer that stops reading stalls the node: nothing more is produced while it waits', async () => {
    const base = filledTable(20_000)
    const table = counting(base)
    const server = await start(table)
    const s = await session(server.url)
    const cur = s.view.iter()
    await cur.next()
    const at = await stalled(s, server, table, oneRecordBatch(base, 'max'))
    // More round trips on the same connection: served, while the stream stays put.
    for (let i = 0; i < 5; i++) expect(await s.view.values({ field: 'host' }, 'host-00', { limit: 1 })).toEqual(['host-000'])
    expect(table.pulled).toBe(at)
    expect(at).toBeLessThan(20_000)
    const p = server.stats().perStream[0]!
    expect(p.produced).toBe(at)
    expect(p.inFlight).toBeLessThanOrEqual(p.window)
    cur.cancel()
  })

  it('cancel mid-stream: the node stops producing and closes the scan', async () => {
    const base = filledTable(20_000)
    const table = counting(base)
    const server = await start(table)
    const s = await session(server.url)
    const cur = s.view.iter()
    for (let i = 0; i < 1000; i++) await cur.next()
    const atCancel = await stalled(s, server, table, oneRecordBatch(base, 'max'))
    cur.cancel()
    await vi.waitFor(() => expect(table.closed, 'scan closed').toBe(1), { timeout: 10_000 })
    // Stalled on credit when the cancel came: not one more record.
    expect(table.pulled).toBe(atCancel)
    await vi.waitFor(() => expect(server.stats().streams, 'stream freed').toBe(0), { timeout: 10_000 })
    // The session still works after the cancel.
    expect(await s.view.lookup(`WHERE peer=${peerId(5)}`)).toEqual(record(5))
  })

  it('break out of for-await sends cancel too', async () => {
    const table = counting(filledTable(50_000))
    const server = await start(table)
    const s = await session(server.url)
    let n = 0
    for await (const _ of s.view.iter()) if (++n === 10) break
    await vi.waitFor(() => expect(table.closed === 1 && server.stats().streams === 0, 'stream freed').toBe(true), { timeout: 10_000 })
    expect(table.pulled).toBeLessThan(50_000)
  })
})

describe('connection lifecycle', () => {
  it('300 connect/drop cycles leave no connection, stream or capability behind', async () => {
    const table = filledTable(5000)
    const server = await start(table)
    for (let i = 0; i < 300; i++) {
      const s = await connect(server.url)
      if (i % 3 === 0) {
        // a stream left open, and a pipelined capability, when the connection drops
        const cur = s.view.iter()
        await cur.next()
        s.view.reverse()
      }
      if (i % 2 === 0) await s.close()
      else {
        const r = await RawClient.open(server.url)
        r.send({ t: 'hello', v: 1 })
        await r.read()
        r.close() // abrupt drop
        await s.close()
      }
    }
    await vi.waitFor(() => expect(server.stats().connections, 'all connections gone').toBe(0), { timeout: 20_000 })
    expect(server.stats()).toMatchObject({ connections: 0, streams: 0, caps: 0 })
  }, 180_000)

  it('a node killed mid-stream: the iterator ends with ERR_CONNECTION_LOST, it never hangs', async () => {
    const g = spawnGroup(process.execPath, ['--import', 'tsx', 'test/proto/fixtures/serve-proc.ts', '50000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    cleanups.push(() => killGroup(g))
    const child = g.child
    let out = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (d: string) => (out += d))
    await vi.waitFor(() => expect(out.includes('\n'), 'child node to listen').toBe(true), { timeout: 30_000 })
    const s = await connect(out.trim())
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    for (let i = 0; i < 100; i++) expect(await cur.next()).toBeDefined()
    await killGroup(g)
    const started = Date.now()
    while ((await cur.next()) !== undefined) {
      // drain what was already buffered
    }
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(hasCode(cur.err(), 'ERR_CONNECTION_LOST')).toBe(true)
    expect(await s.closed).toMatchObject({ code: 'ERR_CONNECTION_LOST' })
    await expect(s.view.lookup()).rejects.toMatchObject({ code: 'ERR_CONNECTION_LOST' })
  }, 60_000)

  it('server.close(): clients get ERR_NODE_CLOSING on their streams and sessions', async () => {
    const table = filledTable(50_000)
    const server = await serveTable(table)
    const s = await session(server.url)
    const cur = s.view.iter()
    await cur.next()
    await server.close()
    while ((await cur.next()) !== undefined) {
      // drain
    }
    expect(hasCode(cur.err(), 'ERR_NODE_CLOSING')).toBe(true)
    expect(await s.closed).toMatchObject({ code: 'ERR_NODE_CLOSING' })
    expect(server.stats()).toMatchObject({ connections: 0, streams: 0, caps: 0 })
  })
})

describe('capabilities', () => {
  it('a node with a token hands the null View to a client without it (or with a wrong one)', async () => {
    const table = filledTable(100)
    const server = await start(table, { token: 'sekret' })
    for (const token of [undefined, 'wrong']) {
      const s = await session(server.url, token)
      expect(s.view.isNull).toBe(true)
      expect(s.pubsub.isNull).toBe(true)
      expect(await s.view.iter().toArray()).toEqual([])
      expect(await s.view.lookup()).toBeUndefined()
      expect(await s.view.values({ field: 'host' })).toEqual([])
      expect(s.view.reverse().isNull).toBe(true)
    }
    const ok = await session(server.url, 'sekret')
    expect(ok.view.isNull).toBe(false)
    expect(await ok.view.iter().toArray()).toHaveLength(100)
    // the wire says so too
    const { raw: r, welcome } = await RawClient.hello(server.url)
    cleanups.push(() => r.close())
    expect(welcome).toMatchObject({ t: 'welcome', view: { null: true }, pubsub: { null: true } })
  })

  it('the null View on the wire: iter ends at once, lookup is nil, values empty', async () => {
    const server = await start(filledTable(100), { token: 't' })
    const r = await raw(server.url)
    r.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 65536 })
    expect(await r.read()).toEqual({ t: 'end', id: 1 })
    r.send({ t: 'call', id: 2, cap: 0, m: 'lookup', a: { q: ALL } })
    expect(await r.read()).toEqual({ t: 'result', id: 2, value: undefined })
    r.send({ t: 'call', id: 3, cap: 0, m: 'values', a: { index: { field: 'host' } } })
    expect(await r.read()).toEqual({ t: 'result', id: 3, value: [] })
  })

  it('capability ids mean nothing on another connection', async () => {
    const server = await start(filledTable(100))
    const a = await raw(server.url)
    a.send({ t: 'call', id: 1, cap: 0, m: 'reverse', a: {}, bind: 5 })
    expect(await a.read()).toMatchObject({ t: 'result', id: 1 })
    a.send({ t: 'call', id: 2, cap: 5, m: 'lookup', a: { q: ALL } })
    expect(await a.read()).toMatchObject({ t: 'result', id: 2, value: { peer: expect.any(String) } })
    const b = await raw(server.url)
    b.send({ t: 'call', id: 1, cap: 5, m: 'lookup', a: { q: ALL } })
    expect(await b.read()).toMatchObject({ t: 'result', id: 1, error: { code: 'ERR_CAP_UNKNOWN' } })
    b.send({ t: 'call', id: 2, cap: 99, m: 'iter', a: { q: ALL } })
    expect(await b.read()).toMatchObject({ t: 'result', id: 2, error: { code: 'ERR_CAP_UNKNOWN' } })
    // released ids are unknown too, and the connection stays usable
    a.send({ t: 'call', id: 3, cap: 5, m: 'release', a: {} })
    expect(await a.read()).toMatchObject({ t: 'result', id: 3 })
    a.send({ t: 'call', id: 4, cap: 5, m: 'lookup', a: { q: ALL } })
    expect(await a.read()).toMatchObject({ t: 'result', id: 4, error: { code: 'ERR_CAP_UNKNOWN' } })
    a.send({ t: 'call', id: 5, cap: 0, m: 'lookup', a: { q: ALL } })
    expect(await a.read()).toMatchObject({ t: 'result', id: 5, value: { peer: expect.any(String) } })
  })

  it('an unknown method is an error result, not a closed connection', async () => {
    const server = await start(filledTable(10))
    const r = await raw(server.url)
    r.send({ t: 'call', id: 1, cap: 0, m: 'drop', a: {} })
    expect(await r.read()).toMatchObject({ t: 'result', id: 1, error: { code: 'ERR_UNKNOWN_METHOD' } })
    r.send({ t: 'call', id: 2, cap: 1, m: 'join', a: { topic: 'x' }, bind: 9 })
    expect(await r.read()).toMatchObject({ t: 'result', id: 2 })
    r.send({ t: 'call', id: 3, cap: 9, m: 'subscribe', a: {} })
    expect(await r.read()).toEqual({ t: 'end', id: 3 })
  })
})

describe('limits', () => {
  it('ERR_TOO_MANY_STREAMS past maxStreams; the open streams go on', async () => {
    const server = await start(filledTable(50_000), { limits: { maxStreams: 2 } })
    const s = await session(server.url)
    const a = s.view.iter()
    const b = s.view.iter()
    await a.next()
    await b.next()
    const c = s.view.iter()
    expect(await c.next()).toBeUndefined()
    expect(hasCode(c.err(), 'ERR_TOO_MANY_STREAMS')).toBe(true)
    expect(await a.next()).toBeDefined()
    a.cancel()
    await vi.waitFor(() => expect(server.stats().streams).toBe(1), { timeout: 5000 })
    const d = s.view.iter('LIMIT 3')
    expect(await d.toArray()).toHaveLength(3)
    b.cancel()
  })

  it('ERR_TOO_MANY_CAPS past maxCaps surfaces on the pipelined View’s first use', async () => {
    const server = await start(filledTable(100), { limits: { maxCaps: 3 } })
    const s = await session(server.url)
    const r1 = s.view.reverse() // the third capability: allowed
    const r2 = s.view.reverse() // the fourth: refused
    await expect(r2.lookup()).rejects.toMatchObject({ code: 'ERR_TOO_MANY_CAPS' })
    const cur = r2.iter()
    expect(await cur.next()).toBeUndefined()
    expect(hasCode(cur.err(), 'ERR_TOO_MANY_CAPS')).toBe(true)
    expect(await r1.lookup()).toBeDefined()
    // releasing one makes room
    r1.release()
    await expect(r1.lookup()).rejects.toMatchObject({ code: 'ERR_CAP_RELEASED' })
    await vi.waitFor(() => expect(server.stats().caps).toBe(2), { timeout: 5000 })
    expect(await s.view.reverse().lookup()).toBeDefined()
  })

  it('no hello within the handshake timeout: ERR_HANDSHAKE_TIMEOUT, then closed', async () => {
    const server = await start(filledTable(10), { limits: { handshakeTimeout: 200 } })
    const r = await RawClient.open(server.url)
    cleanups.push(() => r.close())
    expect(await r.read()).toMatchObject({ t: 'error', code: 'ERR_HANDSHAKE_TIMEOUT' })
    expect(await r.ended()).toBe(true)
    await vi.waitFor(() => expect(server.stats().connections).toBe(0), { timeout: 5000 })
  })

  it('a version mismatch: ERR_PROTOCOL_VERSION naming both versions', async () => {
    const server = await start(filledTable(10))
    const r = await RawClient.open(server.url)
    cleanups.push(() => r.close())
    r.send({ t: 'hello', v: 7 })
    const f = await r.read()
    expect(f).toMatchObject({ t: 'error', code: 'ERR_PROTOCOL_VERSION' })
    expect((f as { message: string }).message).toMatch(/7.*1/)
    expect(await r.ended()).toBe(true)
  })
})

describe('malformed frames: an error frame naming the problem, that connection closed, others unaffected', () => {
  async function expectRejected(send: (r: RawClient) => void, code: string, init: Parameters<typeof serveTable>[1] = {}, handshake = true): Promise<void> {
    const table = filledTable(2000)
    const server = await start(table, init)
    const other = await session(server.url, init.token)
    const otherCur = other.view.iter()
    await otherCur.next()
    let r: RawClient
    if (handshake) r = await raw(server.url)
    else {
      r = await RawClient.open(server.url)
      cleanups.push(() => r.close())
    }
    send(r)
    const f = await r.readUntil((x) => x.t === 'error')
    expect(f).toMatchObject({ t: 'error', code })
    expect((f as { message: string }).message.length).toBeGreaterThan(5)
    expect(await r.ended()).toBe(true)
    // the other client carries on, mid-stream and with new calls
    let n = 1
    for (let x = await otherCur.next(); x !== undefined; x = await otherCur.next()) n++
    expect(otherCur.err()).toBeUndefined()
    expect(n).toBe(2000)
    expect(await other.view.iter('LIMIT 5').toArray()).toHaveLength(5)
    await vi.waitFor(() => expect(server.stats().connections).toBe(1), { timeout: 5000 })
  }

  it('random bytes', async () => {
    await expectRejected((r) => r.sendBytes(Uint8Array.from([0xc1, 0x07, 0x99, 0x00, 0xff])), 'ERR_BAD_FRAME')
  })

  it('random bytes instead of hello', async () => {
    await expectRejected((r) => r.sendBytes(Uint8Array.from([0xde, 0xad, 0xbe, 0xef])), 'ERR_BAD_FRAME', {}, false)
  })

  it('MessagePack that is not a map', async () => {
    await expectRejected((r) => r.sendBytes(encode([1, 2, 3])), 'ERR_BAD_FRAME')
  })

  it('an unknown frame type', async () => {
    await expectRejected((r) => r.send({ t: 'shutdown' }), 'ERR_BAD_FRAME')
  })

  it('a field of the wrong type', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 'one', cap: 0, m: 'iter', a: { q: ALL } }), 'ERR_BAD_FRAME')
  })

  it('an oversized frame', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'lookup', a: { q: ALL, pad: 'x'.repeat(4096) } }), 'ERR_FRAME_TOO_LARGE', { limits: { maxFrameBytes: 1024 } })
  })

  it('a malformed Statement', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: { ...ALL, selector: { kind: 'everything' } } } }), 'ERR_BAD_QUERY')
  })

  it('a malformed Statement on the null View too', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'lookup', a: { q: 'ls' } }), 'ERR_BAD_QUERY', { token: 't' })
  })

  it('malformed values arguments', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'values', a: { index: { field: 'seq' } } }), 'ERR_BAD_FRAME')
  })

  it('a call before hello', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL } }), 'ERR_BAD_FRAME', {}, false)
  })

  it('hello twice', async () => {
    await expectRejected((r) => r.send({ t: 'hello', v: 1 }), 'ERR_BAD_FRAME')
  })

  it('a call id already in use by an open stream', async () => {
    await expectRejected((r) => {
      r.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 1024 })
      r.send({ t: 'call', id: 1, cap: 0, m: 'lookup', a: { q: ALL } })
    }, 'ERR_BAD_FRAME')
  })

  it('binding a capability id already in use', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'reverse', a: {}, bind: 0 }), 'ERR_BAD_FRAME')
  })

  it('reverse without a bind id', async () => {
    await expectRejected((r) => r.send({ t: 'call', id: 1, cap: 0, m: 'reverse', a: {} }), 'ERR_BAD_FRAME')
  })

  it('credit for bytes never sent', async () => {
    await expectRejected((r) => {
      r.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 1024 })
      r.send({ t: 'credit', id: 1, consumed: 10_000_000, window: 1024 })
    }, 'ERR_BAD_FRAME')
  })
})

describe('generic capabilities (the extension point PubSub uses)', () => {
  it('an async stream source: items flow as they come, and a cancel while it is quiet frees it', async () => {
    let produced = 0
    let closed = 0
    let release: (() => void) | undefined
    const quiet = new Promise<void>((r) => (release = r))
    const cap = {
      isNull: false,
      call(m: string) {
        if (m !== 'ticks') throw new Error('no')
        return {
          stream: (async function* () {
            try {
              for (let i = 0; i < 3; i++) {
                produced++
                yield { i }
              }
              await quiet // then nothing, until the test ends
            } finally {
              closed++
            }
          })(),
        }
      },
    }
    const server = await start(filledTable(10), { pubsub: () => cap })
    let conn: import('../../src/proto/client/client-conn.js').ClientConn | undefined
    let capId = -1
    const s = await connect(server.url, {
      pubsub: (c, id) => {
        conn = c
        capId = id
        return { isNull: false, join: () => { throw new Error('unused') }, release: () => {} }
      },
    })
    cleanups.push(() => s.close())
    cleanups.push(() => release?.())
    const cur = conn!.stream(capId, 'ticks', {}, (x) => x as { i: number })
    expect(await cur.next()).toEqual({ i: 0 })
    expect(await cur.next()).toEqual({ i: 1 })
    expect(await cur.next()).toEqual({ i: 2 })
    await vi.waitFor(() => expect(server.stats().streams).toBe(1), { timeout: 5000 })
    cur.cancel()
    await vi.waitFor(() => expect(server.stats().streams, 'quiet stream freed').toBe(0), { timeout: 5000 })
    expect(produced).toBe(3)
    release!()
    await vi.waitFor(() => expect(closed, 'source closed').toBe(1), { timeout: 5000 })
  })
})

describe('a stream source that fails while closing', () => {
  it('a refused stream whose return() rejects leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason)
    }
    process.on('unhandledRejection', onUnhandled)
    cleanups.push(() => process.off('unhandledRejection', onUnhandled))
    let closes = 0
    // A source that never yields and fails when closed (an async source over a broken store).
    const table = {
      values: () => [],
      scan: (): AsyncIterator<unknown> => ({
        next: () => new Promise<IteratorResult<unknown>>(() => {}),
        return: () => {
          closes++
          return Promise.reject(new Error('close failed'))
        },
      }),
    } as unknown as ServedTable
    const server = await start(table, { limits: { maxStreams: 1 } })
    const s = await session(server.url)
    const a = s.view.iter()
    void a.next()
    await vi.waitFor(() => expect(server.stats().streams).toBe(1), { timeout: 5000 })
    const b = s.view.iter()
    expect(await b.next()).toBeUndefined()
    expect(hasCode(b.err(), 'ERR_TOO_MANY_STREAMS')).toBe(true)
    expect(closes).toBe(1) // the refused stream's source was closed
    // An unhandled rejection is reported once the microtask queue drains: give it a turn.
    await new Promise((resolve) => setImmediate(resolve))
    expect(unhandled).toEqual([])
    a.cancel()
  })
})
