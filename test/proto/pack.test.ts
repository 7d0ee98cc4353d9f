/**
 * Frame packing (hello `pack`, docs/protocol.md#1-transport-and-encoding): the node writes the
 * frames of all streams of one connection once per turn of the event loop, several frames per
 * message for a client that asked; a client that didn't ask gets one frame per message. Real
 * node code over the memory transport, whose log shows each message as it crossed.
 */
import { describe, expect, it, vi } from 'vitest'
import { decode } from '@msgpack/msgpack'
import type { Cursor } from '../../src/iter.js'
import type { WatchEvent } from '../../src/api.js'
import { connect } from '../../src/proto/client/client.js'
import { serve } from '../../src/proto/server/server.js'
import { TransportRegistry } from '../../src/transport/registry.js'
import { MemoryNetwork, memoryTransport, type MemoryConnection } from '../../src/transport/memory.js'
import { RoutingTable } from '../../src/table/table.js'
import type { RoutingRecord } from '../../src/record/record.js'
import {
  decodeNodeFrames,
  encodeFrame,
  ERR_BAD_FRAME,
  ERR_FRAME_TOO_LARGE,
  MAX_PACK_BYTES,
  MAX_PACK_FRAMES,
  packFrames,
  scanFrame,
} from '../../src/proto/wire/frames.js'
import { cleanupAfterEach } from '../cleanup.js'
import { peerId } from './helpers.js'

const cleanups = cleanupAfterEach()

function rec(i: number, host: string): RoutingRecord {
  return { peer: peerId(i), server: '00000000000000aa', seq: Date.now() * 1000 + i, ttl: 86_400_000, host, meta: { role: 'db' } }
}

let n = 0
// A node serving `table` on a private memory network, and a client session whose connection
// (with its frame log) the test keeps.
async function session(table: RoutingTable, pack: boolean): Promise<{ conn: MemoryConnection; watch: (q: string) => Cursor<WatchEvent> }> {
  const mt = memoryTransport({ network: new MemoryNetwork() })
  const server = await serve({ listen: `memory://pack-test-${n++}`, table, peer: peerId(999), transports: new TransportRegistry().register(mt) })
  cleanups.push(() => server.close())
  let conn: MemoryConnection | undefined
  const transports = new TransportRegistry().register({
    schemes: ['memory'],
    connect: async (url, opts) => (conn = await mt.connect(url, opts)),
    listen: (url, on, opts) => mt.listen(url, on, opts),
  })
  const s = await connect(server.url, { transports, pack })
  cleanups.push(() => s.close())
  return { conn: conn!, watch: (q) => s.view.watch(q) }
}

// The node's messages received from `from` on: for each, the frames it holds.
function received(conn: MemoryConnection, from: number): Record<string, unknown>[][] {
  return conn.frames.slice(from).filter((x) => x.dir === 'in').map((x) => decodeNodeFrames(x.data).map((f) => f.frame as unknown as Record<string, unknown>))
}

async function synced(c: Cursor<WatchEvent>): Promise<void> {
  for (;;) if ((await c.next())?.kind === 'synced') return
}

describe('frame packing', () => {
  const W = 40
  for (const pack of [true, false]) {
    it(`one change seen by ${W} watches of one connection: ${pack ? 'one message holding the 40 batches (a packing client)' : 'one message per batch (a client that did not ask)'}`, async () => {
      const table = new RoutingTable({ sweep: false })
      cleanups.push(() => table.close())
      for (let i = 0; i < 10; i++) table.upsert(rec(i, `h${i}`))
      const { conn, watch } = await session(table, pack)
      const ws: Cursor<WatchEvent>[] = []
      for (let k = 0; k < W; k++) ws.push(watch('WHERE role=db'))
      for (const w of ws) await synced(w)
      const from = conn.frames.length
      table.upsert(rec(3, 'moved'))
      const events = await Promise.all(ws.map((w) => w.next()))
      for (const e of events) expect(e).toMatchObject({ kind: 'updated', record: { host: 'moved' }, previous: { host: 'h3' } })
      const messages = received(conn, from)
      const batches = messages.flat().filter((f) => f.t === 'batch')
      expect(batches).toHaveLength(W)
      if (pack) {
        // The watches woke in one turn: their batches left in one write.
        expect(messages).toHaveLength(1)
        expect(messages[0]).toHaveLength(W)
      } else {
        expect(messages).toHaveLength(W)
        for (const m of messages) expect(m).toHaveLength(1)
        // and each message is exactly one MessagePack value, as the original protocol has it
        for (const x of conn.frames.slice(from).filter((y) => y.dir === 'in')) expect(scanFrame(x.data, 64, Infinity)).toBe(x.data.length)
      }
    })
  }

  it('the welcome travels alone and says pack only when the hello asked', async () => {
    const table = new RoutingTable({ sweep: false })
    cleanups.push(() => table.close())
    for (const pack of [true, false]) {
      const { conn } = await session(table, pack)
      const hello = decode(conn.frames[0]!.data) as Record<string, unknown>
      const welcome = conn.frames[1]!
      expect(hello.pack).toBe(pack ? true : undefined)
      expect(scanFrame(welcome.data, 64, Infinity)).toBe(welcome.data.length)
      expect((decode(welcome.data) as Record<string, unknown>).pack).toBe(pack ? true : undefined)
    }
  })
})

describe('the outbox under transport backpressure', () => {
  it('a client whose socket is not read, with credit for everything: the node stops at the high-water mark, then sends the rest once it drains', async () => {
    const HWM = 64 * 1024
    const table = new RoutingTable({ sweep: false })
    cleanups.push(() => table.close())
    const N = 30_000
    for (let i = 0; i < N; i++) table.upsert(rec(i, `host-${i}`))
    // Small transport buffers both ways; credit and budget far above them, so only the
    // transport's backpressure can stop the node.
    const mt = memoryTransport({ network: new MemoryNetwork(), highWaterMark: HWM, readBufferBytes: HWM, readBufferFrames: 8 })
    const big = 64 * 1024 * 1024
    const server = await serve({ listen: `memory://pack-test-${n++}`, table, peer: peerId(999), transports: new TransportRegistry().register(mt), limits: { maxWindow: big, maxConnectionBytes: big } })
    cleanups.push(() => server.close())
    const conn = await mt.connect(server.url)
    cleanups.push(() => conn.abort(new Error('test done')))
    const it = conn[Symbol.asyncIterator]()
    conn.send(encodeFrame({ t: 'hello', v: 1, pack: true }))
    expect(decodeNodeFrames((await it.next()).value as Uint8Array)[0]!.frame).toMatchObject({ t: 'welcome', pack: true })
    conn.send(encodeFrame({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false } }, window: big }))
    // The node waits for the drain: it stopped because the transport is full.
    await vi.waitFor(() => expect(server.stats().totals.drainWaits).toBeGreaterThan(0), { timeout: 10_000 })
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)) // turns in which a node not waiting would go on
    const st = server.stats().perStream[0]!
    // What the node holds (transport buffer + outbox) stays near the mark: a turn's batch or
    // two past it, not the 30 000 records it has credit for.
    expect(st.bufferedAmount).toBeLessThan(HWM + 3 * 64 * 1024)
    expect(st.produced).toBeLessThan(N / 2)
    // Reading resumes the stream: every record, then the end.
    let records = 0
    for (;;) {
      const r = await it.next()
      expect(r.done).not.toBe(true)
      const fs = decodeNodeFrames(r.value as Uint8Array)
      for (const { frame } of fs) if (frame.t === 'batch') records += frame.items.length
      if (fs.some(({ frame }) => frame.t === 'end')) break
    }
    expect(records).toBe(N)
  })
})

describe('packFrames / decodeNodeFrames', () => {
  const frame = (id: number, pad = 0): Uint8Array => encodeFrame({ t: 'end', id, ...(pad > 0 ? { error: { code: 'ERR_X', message: 'x'.repeat(pad) } } : {}) })

  it('packs frames in order into messages of at most MAX_PACK_BYTES and MAX_PACK_FRAMES; a larger frame goes alone', () => {
    const frames: Uint8Array[] = []
    for (let i = 0; i < 2000; i++) frames.push(frame(i)) // small: MAX_PACK_FRAMES bounds them
    for (let i = 2000; i < 3000; i++) frames.push(frame(i, i % 97 === 0 ? 20_000 : 10))
    frames.splice(1500, 0, frame(99_999, MAX_PACK_BYTES + 10))
    const messages = packFrames(frames)
    const back = messages.flatMap((m) => decodeNodeFrames(m).map((x) => x.frame))
    expect(back).toEqual(frames.map((f) => decode(f)))
    for (const m of messages) {
      const inside = decodeNodeFrames(m)
      expect(inside.length).toBeLessThanOrEqual(MAX_PACK_FRAMES)
      if (inside.length > 1) expect(m.length).toBeLessThanOrEqual(MAX_PACK_BYTES)
    }
    expect(messages.some((m) => m.length > MAX_PACK_BYTES && decodeNodeFrames(m).length === 1)).toBe(true)
    expect(messages.some((m) => decodeNodeFrames(m).length === MAX_PACK_FRAMES)).toBe(true)
  })

  it('reports each frame with its own length (what credit counts)', () => {
    const a = frame(1)
    const b = frame(2, 300)
    const m = packFrames([a, b])
    expect(m).toHaveLength(1)
    expect(decodeNodeFrames(m[0]!).map((x) => x.bytes)).toEqual([a.length, b.length])
  })

  it('refuses an empty message, one cut inside a frame, and a frame past the limit', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f()
      } catch (err) {
        return (err as { code?: string }).code
      }
      return undefined
    }
    const whole = packFrames([frame(1), frame(2)])[0]!
    expect(code(() => decodeNodeFrames(new Uint8Array(0)))).toBe(ERR_BAD_FRAME)
    expect(code(() => decodeNodeFrames(whole.subarray(0, whole.length - 1)))).toBe(ERR_BAD_FRAME)
    expect(code(() => decodeNodeFrames(Uint8Array.from([...whole, 0xc1])))).toBe(ERR_BAD_FRAME)
    expect(code(() => decodeNodeFrames(packFrames([frame(1), frame(2, 2000)])[0]!, { maxFrameBytes: 1000 }))).toBe(ERR_FRAME_TOO_LARGE)
  })
})
