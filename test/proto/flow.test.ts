/**
 * Credit-based flow control, checked from the wire (docs/protocol.md, "Streams and flow
 * control"), both ways, over real WebSockets on 127.0.0.1 (the `ws` library, not ww's own
 * transport) with every frame written and read by hand as MessagePack:
 *
 * - a raw client that withholds credit, against the real node: the batch bytes that cross
 *   the socket never pass `consumed + window`, the node's own accounting agrees with the
 *   socket, and the node pulls no record from the table before it has credit to send it;
 * - a raw node that overruns the real client's credit: the client ends the session with
 *   ERR_FLOW_CONTROL, while a node that stays exactly at the credit (and sends its one
 *   allowed over-window item) is accepted.
 *
 * "Nothing more arrives" is never concluded from a pause. After the window is full the raw
 * client sends a `values` call and reads up to its `result`: the node handles frames in
 * order and answers on the same socket, so every batch it sent in the meantime arrives
 * before that result. A node that ignores credit sends at least one more batch per turn of
 * its event loop, so it is caught by the count, not by a timer.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { decode, encode } from '@msgpack/msgpack'
import WebSocket, { WebSocketServer } from 'ws'
import type { AddressInfo } from 'node:net'
import { connect } from '../../src/proto/client/client.js'
import type { Server } from '../../src/proto/server/server.js'
import type { ServedTable } from '../../src/proto/server/view-cap.js'
import type { RoutingRecord } from '../../src/record/record.js'
import type { Statement } from '../../src/lang/ast.js'
import type { RoutingTable } from '../../src/table/table.js'
import { hasCode } from '../../src/errors.js'
import { countingTable, filledTable, peerId, record, serveTable } from './helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

type Frame = Record<string, unknown> & { t: string }

/** One frame as it crossed the socket: decoded, and its size in bytes. */
interface Got {
  f: Frame
  bytes: number
}

/** A WebSocket speaking the protocol by hand: msgpack maps out, every message in kept in order. */
class Wire {
  readonly ws: WebSocket
  readonly #got: Got[] = []
  #taken = 0
  #wake: (() => void) | undefined
  #closed = false

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => {
      this.#got.push({ f: decode(data) as Frame, bytes: data.length })
      this.#wake?.()
    })
    ws.on('close', () => {
      this.#closed = true
      this.#wake?.()
    })
  }

  /** Opens a connection and completes the handshake. */
  static async hello(url: string): Promise<Wire> {
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const w = new Wire(ws)
    cleanups.push(() => ws.terminate())
    w.send({ t: 'hello', v: 1 })
    expect((await w.take()).f).toMatchObject({ t: 'welcome', v: 1, view: { cap: 0, null: false } })
    return w
  }

  send(f: Frame): void {
    this.ws.send(encode(f))
  }

  /** The next frame from the node, in arrival order (bounded wait). */
  async take(timeoutMs = 20_000): Promise<Got> {
    const deadline = setTimeout(() => this.#wake?.(), timeoutMs)
    try {
      while (this.#taken >= this.#got.length) {
        if (this.#closed) throw new Error('the node closed the connection')
        const before = this.#got.length
        await new Promise<void>((resolve) => (this.#wake = resolve))
        this.#wake = undefined
        if (this.#got.length === before && !this.#closed) throw new Error(`no frame within ${timeoutMs} ms`)
      }
      return this.#got[this.#taken++]!
    } finally {
      clearTimeout(deadline)
    }
  }
}

/** What the raw client has seen of one stream. */
class StreamLog {
  received = 0
  items: RoutingRecord[] = []
  batches = 0
  ended: Frame | undefined
  /** What the last credit reported consumed. */
  consumed = 0

  constructor(
    readonly id: number,
    /** The window in force (the node's cap applied). */
    public window: number,
  ) {}

  /** What the node may have sent in total: consumed + window. */
  get limit(): number {
    return this.consumed + this.window
  }

  /** Reports everything received so far consumed, and grants `window` beyond it. */
  credit(w: Wire, window: number, effective = window): void {
    w.send({ t: 'credit', id: this.id, consumed: this.received, window })
    this.consumed = this.received
    this.window = effective
  }

  /** Takes one frame of this stream: batches are counted and checked against the credit. */
  add(g: Got): void {
    expect(g.f.id, `a frame for stream ${this.id}`).toBe(this.id)
    if (g.f.t === 'end') {
      this.ended = g.f
      return
    }
    expect(g.f.t).toBe('batch')
    this.received += g.bytes
    this.batches++
    this.items.push(...(g.f.items as RoutingRecord[]))
    expect(this.received, `bytes of stream ${this.id} on the socket past the credit (consumed + window = ${this.limit})`).toBeLessThanOrEqual(this.limit)
  }
}

/**
 * Reads frames until the node cannot send another batch within the credit (`room` left is
 * less than the largest one-record batch), or the stream ended; then a round trip (a
 * `values` call answered in order) collects every batch the node sent meanwhile.
 */
async function fill(w: Wire, s: StreamLog, maxOneItemBatch: number, probeId: number): Promise<void> {
  while (s.ended === undefined && s.limit - s.received >= maxOneItemBatch) s.add(await w.take())
  w.send({ t: 'call', id: probeId, cap: 0, m: 'values', a: { index: { field: 'host' }, limit: 1 } })
  for (;;) {
    const g = await w.take()
    if (g.f.t === 'result' && g.f.id === probeId) break
    s.add(g)
  }
}

const counting = countingTable

/** Size of the largest batch frame holding one record of `records`: what may not fit any more. */
function maxOneItemBatch(records: Iterable<RoutingRecord>, id: number): number {
  let m = 0
  for (const r of records) m = Math.max(m, encode({ t: 'batch', id, items: [r] }).length)
  return m
}

async function start(table: ServedTable, limits: Parameters<typeof serveTable>[1] = {}): Promise<Server> {
  const s = await serveTable(table as RoutingTable, limits)
  cleanups.push(() => s.close())
  return s
}

describe('the node under a raw client that withholds credit', () => {
  it('sends no batch byte past the first window while no credit comes back, and pulls no record it cannot send', async () => {
    const base = filledTable(20_000)
    const table = counting(base)
    const server = await start(table)
    const w = await Wire.hello(server.url)
    const window = 16 * 1024
    w.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window })
    const s = new StreamLog(1, window)
    await fill(w, s, maxOneItemBatch(base.snapshot().scan(ALL), 1), 100)
    // Filled to within one record of the window, and not a byte more, after the round trip.
    expect(s.ended, 'the stream of 20 000 records ended: the node sent it all without credit').toBeUndefined()
    expect(s.received).toBeLessThanOrEqual(window)
    // The node's own accounting says the same as the socket.
    const st = server.stats().perStream
    expect(st).toHaveLength(1)
    expect(st[0]).toMatchObject({ id: 1, inFlight: s.received, window, batches: s.batches })
    expect(st[0]!.maxInFlight).toBeLessThanOrEqual(window)
    // At most the one record that did not fit is held back, beyond what was sent.
    expect(table.pulled - s.items.length).toBeLessThanOrEqual(1)
    // A second round trip: still nothing.
    await fill(w, s, Infinity, 101)
    expect(s.received).toBeLessThanOrEqual(window)
    expect(table.pulled - s.items.length).toBeLessThanOrEqual(1)
  })

  it('a consumer that returns credit a window at a time: every batch within consumed + window, the whole result intact', async () => {
    const base = filledTable(3000)
    const table = counting(base)
    const server = await start(table)
    const w = await Wire.hello(server.url)
    const window = 8 * 1024
    const big = maxOneItemBatch(base.snapshot().scan(ALL), 1)
    w.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window })
    const s = new StreamLog(1, window)
    let credits = 0
    for (let probe = 1000; s.ended === undefined; probe++) {
      await fill(w, s, big, probe)
      expect(table.pulled - s.items.length, 'records pulled beyond what was sent').toBeLessThanOrEqual(1)
      expect(server.stats().maxInFlight).toBeLessThanOrEqual(window)
      if (s.ended !== undefined) break
      // Consume everything received, and grant one more window beyond it.
      s.credit(w, window)
      credits++
      expect(credits, 'credit rounds (bounded)').toBeLessThan(1000)
    }
    expect(s.ended).toEqual({ t: 'end', id: 1 })
    expect(s.items).toEqual([...base.snapshot().scan(ALL)])
    // ~150 bytes a record: the 3000 records needed dozens of windows, each waited for.
    expect(credits).toBeGreaterThan(20)
  })

  it('a window smaller than one record: one record per batch, each only once everything before it was credited back', async () => {
    const base = filledTable(200)
    const table = counting(base)
    const server = await start(table)
    const w = await Wire.hello(server.url)
    const window = 64 // less than any record: each goes alone, and only with nothing in flight
    w.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window })
    const s = new StreamLog(1, window)
    for (let probe = 1000; s.ended === undefined; probe++) {
      const before = s.received
      // The one over-window batch the rule allows, alone.
      const g = await w.take()
      if (g.f.t === 'batch') {
        expect(s.received - s.consumed, 'bytes in flight when an over-window batch left').toBe(0)
        expect((g.f.items as unknown[]).length).toBe(1)
        s.window = Infinity
        s.add(g)
        s.window = window
      } else s.add(g)
      // Nothing more until credit comes back.
      await fill(w, s, Infinity, probe)
      if (s.ended !== undefined) break
      expect(s.received - before).toBe(g.bytes)
      expect(table.pulled - s.items.length).toBeLessThanOrEqual(1)
      s.credit(w, window)
    }
    expect(s.items).toEqual([...base.snapshot().scan(ALL)])
  })

  it('a window larger than the node’s cap is clamped: at most maxWindow in flight', async () => {
    const base = filledTable(20_000)
    const server = await start(base, { limits: { maxWindow: 32 * 1024 } })
    const w = await Wire.hello(server.url)
    w.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 4 * 1024 * 1024 })
    const s = new StreamLog(1, 32 * 1024)
    const big = maxOneItemBatch(base.snapshot().scan(ALL), 1)
    await fill(w, s, big, 100)
    expect(s.ended).toBeUndefined()
    // A credit asking for more is clamped too.
    s.credit(w, 1 << 30, 32 * 1024)
    await fill(w, s, big, 101)
    expect(s.ended).toBeUndefined()
    expect(server.stats().perStream[0]).toMatchObject({ window: 32 * 1024 })
    expect(server.stats().maxInFlight).toBeLessThanOrEqual(32 * 1024)
  })

  it('two streams on one connection: each stays within its own window, whatever the other does', async () => {
    const base = filledTable(20_000)
    const server = await start(base)
    const w = await Wire.hello(server.url)
    const big = maxOneItemBatch(base.snapshot().scan(ALL), 1)
    w.send({ t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 4 * 1024 })
    w.send({ t: 'call', id: 2, cap: 0, m: 'iter', a: { q: { ...ALL, reverse: true } }, window: 24 * 1024 })
    const streams = new Map([
      [1, new StreamLog(1, 4 * 1024)],
      [2, new StreamLog(2, 24 * 1024)],
    ])
    // Both fill their windows; batches of the two interleave.
    const full = (): boolean => [...streams.values()].every((s) => s.limit - s.received < big)
    while (!full()) {
      const g = await w.take()
      streams.get(g.f.id as number)!.add(g)
    }
    // Stream 1 gets credit again and again; stream 2 none.
    for (let i = 0; i < 5; i++) {
      const s1 = streams.get(1)!
      s1.credit(w, 4 * 1024)
      while (s1.limit - s1.received >= big) {
        const g = await w.take()
        streams.get(g.f.id as number)!.add(g)
      }
    }
    w.send({ t: 'call', id: 99, cap: 0, m: 'values', a: { index: { field: 'host' }, limit: 1 } })
    for (let g = await w.take(); !(g.f.t === 'result' && g.f.id === 99); g = await w.take()) streams.get(g.f.id as number)!.add(g)
    expect(streams.get(2)!.received).toBeLessThanOrEqual(24 * 1024)
    expect(streams.get(1)!.received).toBeGreaterThan(5 * 4 * 1024 - 5 * big)
    // The node's accounting of each stream matches its socket bytes.
    for (const p of server.stats().perStream) expect(p.inFlight).toBe(streams.get(p.id)!.received - streams.get(p.id)!.consumed)
  })
})

// ---------------------------------------------------------------------------------------
// The client under a raw node.

/** A record whose batch, alone or with others, can be sized to the byte: hosts of 32–255 chars are str8. */
function sized(i: number, hostLen: number): RoutingRecord {
  return { ...record(i), host: 'h'.repeat(hostLen) }
}

/** A batch frame of exactly `bytes` bytes for stream `id`, of `n` records numbered from `from`. */
function batchOfSize(id: number, from: number, n: number, bytes: number): { frame: Uint8Array; items: RoutingRecord[] } {
  const lens = Array.from({ length: n }, () => 32)
  const size = (): number => encode({ t: 'batch', id, items: lens.map((l, k) => sized(from + k, l)) }).length
  let short = bytes - size()
  if (short < 0) throw new Error(`${n} records do not fit ${bytes} bytes`)
  for (let k = 0; k < n && short > 0; k++) {
    const add = Math.min(short, 255 - lens[k]!)
    lens[k]! += add
    short -= add
  }
  if (short > 0) throw new Error(`${n} records cannot fill ${bytes} bytes`)
  const items = lens.map((l, k) => sized(from + k, l))
  const frame = encode({ t: 'batch', id, items })
  expect(frame.length).toBe(bytes)
  return { frame, items }
}

interface RawNode {
  url: string
  /** Frames the client sent, decoded. */
  frames: Frame[]
}

/**
 * A node written by hand on a `ws` server: answers `hello`, then hands each later frame to
 * `onFrame` with a way to send bytes back.
 */
async function rawNode(onFrame: (f: Frame, send: (b: Uint8Array | Frame) => void) => void): Promise<RawNode> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => resolve())
      }),
  )
  const node: RawNode = { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, frames: [] }
  wss.on('connection', (ws) => {
    const send = (b: Uint8Array | Frame): void => ws.send(b instanceof Uint8Array ? b : encode(b))
    ws.on('message', (data: Buffer) => {
      const f = decode(data) as Frame
      node.frames.push(f)
      if (f.t === 'hello') send({ t: 'welcome', v: 1, peer: peerId(7), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } })
      else onFrame(f, send)
    })
  })
  return node
}

describe('the client under a raw node', () => {
  it('one byte past the credit ends the session with ERR_FLOW_CONTROL', async () => {
    const window = 4096
    const node = await rawNode((f, send) => {
      if (f.t === 'call' && f.m === 'iter') {
        expect(f.window).toBe(window)
        const id = f.id as number
        // window − 1000 bytes, then 1001: one byte past, with nothing consumed or credited.
        send(batchOfSize(id, 0, 20, window - 1000).frame)
        send(batchOfSize(id, 100, 5, 1001).frame)
        send({ t: 'end', id })
      }
      // Answered behind the batches: by then the client has seen them all.
      if (f.t === 'call' && f.m === 'lookup') send({ t: 'result', id: f.id as number, value: null })
    })
    const s = await connect(node.url, { window: { initial: window, max: window } })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    await expect(s.view.lookup()).rejects.toMatchObject({ code: 'ERR_FLOW_CONTROL' })
    expect(await s.closed).toMatchObject({ code: 'ERR_FLOW_CONTROL' })
    while ((await cur.next()) !== undefined) {
      // what was accepted before the overrun may still be read
    }
    expect(hasCode(cur.err(), 'ERR_FLOW_CONTROL')).toBe(true)
  })

  it('a node that keeps sending without credit is cut off within one window', async () => {
    const window = 8192
    let sent = 0
    const node = await rawNode((f, send) => {
      if (f.t === 'call' && f.m === 'iter') {
        const id = f.id as number
        for (let k = 0; k < 50; k++) {
          const b = batchOfSize(id, k * 10, 10, 2000).frame
          sent += b.length
          send(b)
        }
        send({ t: 'end', id })
      }
      if (f.t === 'call' && f.m === 'lookup') send({ t: 'result', id: f.id as number, value: null })
    })
    const s = await connect(node.url, { window: { initial: window, max: window } })
    cleanups.push(() => s.close())
    const cur = s.view.iter()
    await expect(s.view.lookup()).rejects.toMatchObject({ code: 'ERR_FLOW_CONTROL' })
    let n = 0
    while ((await cur.next()) !== undefined) n++
    expect(hasCode(cur.err(), 'ERR_FLOW_CONTROL')).toBe(true)
    // Only batches within the window reached the consumer: 4 of 2000 bytes.
    expect(n).toBeLessThanOrEqual(40)
    expect(sent).toBe(100_000)
  })

  it('exactly at the credit, and one over-window record once all was credited back, are accepted', async () => {
    const window = 4096
    const want: RoutingRecord[] = []
    const node = await rawNode((f, send) => {
      if (f.t === 'call' && f.m === 'iter') {
        const id = f.id as number
        // Two half windows: the client credits back after each, the second time all of it.
        const a = batchOfSize(id, 0, 10, window / 2)
        const b = batchOfSize(id, 100, 10, window / 2)
        want.push(...a.items, ...b.items)
        send(a.frame)
        send(b.frame)
      }
      if (f.t === 'credit' && f.consumed === window) {
        // Everything consumed and credited back: one record larger than the whole window
        // may go alone (docs/protocol.md §5), even past consumed + window.
        const meta: Record<string, string> = {}
        for (let k = 0; k < 10; k++) meta[`k${k}`] = 'v'.repeat(1000)
        const huge = { ...record(500), meta }
        want.push(huge)
        const frame = encode({ t: 'batch', id: f.id as number, items: [huge] })
        expect(frame.length).toBeGreaterThan(2 * window)
        send(frame)
        send({ t: 'end', id: f.id as number })
      }
      if (f.t === 'call' && f.m === 'lookup') send({ t: 'result', id: f.id as number, value: null })
    })
    const s = await connect(node.url, { window: { initial: window, max: window } })
    cleanups.push(() => s.close())
    expect(await s.view.iter().toArray()).toEqual(want)
    expect(node.frames.filter((f) => f.t === 'credit').map((c) => c.consumed)).toEqual([window / 2, window])
    // The session is still up.
    expect(await s.view.lookup()).toBeUndefined()
  })
})
