/**
 * The query language over the wire: `hello.lang` negotiates the Statement with `where` and the
 * View methods `count`/`explain`, and a client of the original protocol — replayed here byte
 * for byte from a recorded session of today's client — gets exactly the answers it got before.
 */
import { readFileSync } from 'node:fs'
import { decode } from '@msgpack/msgpack'
import { afterEach, describe, expect, it } from 'vitest'
import { connect } from '../../src/proto/client/client.js'
import { webSockets } from '../../src/transport/ws.js'
import { filledTable, peerId, RawClient, record, serveTable } from './helpers.js'
import { defaultTransports } from '../../src/transport/registry.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { encodeBatch, encodeFrame, encodeItem } from '../../src/proto/wire/frames.js'
import { ERR_NODE_LANG } from '../../src/proto/client/remote-view.js'
import type { Server } from '../../src/proto/server/server.js'

// What today's client sent, and what the node answered, recorded against filledTable(60)
// (test/proto/fixtures/old-client-session.json: client frames as hex, node frames decoded with
// byte strings as {bin: hex}).
const recorded = JSON.parse(readFileSync(new URL('./fixtures/old-client-session.json', import.meta.url), 'utf8')) as { sent: string[]; got: unknown[] }

const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? { bin: Buffer.from(x).toString('hex') } : x)))

// Node frames by stream/call id, in order (streams of different calls may interleave).
function byId(frames: unknown[]): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>()
  for (const f of frames) {
    const k = String((f as { id?: number }).id ?? (f as { t: string }).t)
    out.set(k, [...(out.get(k) ?? []), f])
  }
  return out
}

describe('query language negotiation', () => {
  let server: Server | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('a recorded session of the original client gets the same answers from a new node', async () => {
    server = await serveTable(filledTable(60))
    const conn = await webSockets().connect(server.url)
    const it = conn[Symbol.asyncIterator]()
    const got: unknown[] = []
    for (const hex of recorded.sent) conn.send(new Uint8Array(Buffer.from(hex, 'hex')))
    while (got.length < recorded.got.length) {
      const r = await it.next()
      if (r.done === true) break
      got.push(asJson(decode(r.value)))
    }
    conn.abort(new Error('test done'))
    expect(recorded.sent[0]).toBe('82a174a568656c6c6fa17601') // {t:'hello', v:1}: no lang
    expect((got[0] as { lang?: number }).lang).toBeUndefined()
    expect(byId(got)).toEqual(byId(recorded.got))
  })

  it('the welcome carries the lower language when the hello asks', async () => {
    server = await serveTable(filledTable(5))
    for (const [asked, agreed] of [[2, 2], [1, 1], [7, 2]] as const) {
      const raw = await RawClient.open(server.url)
      raw.send({ t: 'hello', v: 1, lang: asked })
      expect(await raw.read()).toMatchObject({ t: 'welcome', lang: agreed })
      raw.close()
    }
  })

  it('a new client runs where, count and explain on a new node', async () => {
    const table = filledTable(200)
    server = await serveTable(table)
    const s = await connect(server.url)
    try {
      const q = 'ls WHERE role=db AND region!=us-east-1 AND host IN (host-00*, host-01*)'
      const want = [...table.snapshot().scan((await import('../../src/lang/index.js')).parseQuery(q))].map((r) => r.peer)
      expect(want.length).toBeGreaterThan(0)
      const got: string[] = []
      for await (const r of s.view.iter(q)) got.push(r.peer)
      expect(got).toEqual(want)
      expect(await s.view.count(q)).toBe(want.length)
      expect(await s.view.count('ls WHERE role=db LIMIT 3')).toBe(3)
      const plan = await s.view.explain(q)
      expect(plan).toMatchObject({ actualRows: want.length, order: 'meta.role' })
      expect(plan.query).toBe('ls WHERE role=db AND region!=us-east-1 AND host IN (host-00*, host-01*)')
    } finally {
      await s.close()
    }
  })

  it('a new client against a node of the original language: where is refused before sending, count counts the stream', async () => {
    // A node of today's protocol: its welcome has no lang; it answers each iter with 7 records.
    const calls: Array<{ m: string; a: unknown }> = []
    const transports = defaultTransports({ memory: { network: new MemoryNetwork() } })
    const l = await transports.listen('memory://old-node', (conn) => {
      void (async () => {
        const it = conn[Symbol.asyncIterator]()
        await it.next()
        conn.send(encodeFrame({ t: 'welcome', v: 1, peer: peerId(3), view: { cap: 0, null: false }, pubsub: { cap: 1, null: true } }))
        for (;;) {
          const r = await it.next()
          if (r.done === true) return
          const f = decode(r.value) as { t: string; id: number; m: string; a: unknown }
          if (f.t !== 'call') continue
          calls.push({ m: f.m, a: f.a })
          conn.send(encodeBatch(f.id, Array.from({ length: 7 }, (_, i) => encodeItem(record(i)))))
          conn.send(encodeFrame({ t: 'end', id: f.id }))
        }
      })().catch(() => {})
    })
    const s = await connect(l.url, { transports })
    try {
      expect(() => s.view.iter('ls WHERE a=1 AND b=2')).toThrow(expect.objectContaining({ code: ERR_NODE_LANG }))
      await expect(s.view.lookup('ls WHERE a!=1')).rejects.toMatchObject({ code: ERR_NODE_LANG })
      await expect(s.view.explain('ls')).rejects.toMatchObject({ code: ERR_NODE_LANG })
      expect(calls).toEqual([])
      expect(await s.view.count('ls WHERE role=db')).toBe(7)
      expect(calls.map((c) => c.m)).toEqual(['iter'])
    } finally {
      await s.close()
      await l.close()
    }
  })
})
