import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Session, WatchEvent } from '../../src/api.js'
import { hasCode } from '../../src/errors.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { connect } from '../../src/proto/client/client.js'
import type { Server } from '../../src/proto/server/server.js'
import { RawClient, serveTable } from '../proto/helpers.js'
import { RoutingTable, ERR_WATCH_LIMIT } from '../../src/table/table.js'
import type { Cursor } from '../../src/iter.js'
import { Cluster } from './node-helpers.js'

const cluster = new Cluster()
const sessions: Session[] = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.allSettled(sessions.splice(0).map((s) => s.close()))
  await Promise.allSettled(servers.splice(0).map((s) => s.close()))
  await cluster.cleanup()
})

async function next(c: Cursor<WatchEvent>): Promise<WatchEvent> {
  const e = await c.next()
  if (e === undefined) throw c.err() ?? new Error('the watch ended')
  return e
}

describe('View.watch on a real node', () => {
  it('a watcher on another node sees the initial matches, synced, then join, update, unmatched, leave and expiry in order', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', host: 'a', meta: { role: 'web' } })
    const b = await cluster.start({ host: 'b', meta: { role: 'db' }, ttl: 1500, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.get(b.peer)).toBeDefined(), { timeout: 10_000 })
    const session = await connect(a.addr!)
    sessions.push(session)
    const w = session.view.watch('WHERE role=db')
    expect(await next(w)).toEqual({ kind: 'record', record: expect.objectContaining({ peer: b.peer, host: 'b' }) })
    expect(await next(w)).toEqual({ kind: 'synced' })

    // joined: a new node; updated: the same identity restarted (new server, new host)
    const key = await generateKeyPair('Ed25519')
    const d1 = await cluster.start({ identity: key, host: 'd1', meta: { role: 'db' }, bootstrap: [a.multiaddrs[0]!] })
    expect(await next(w)).toMatchObject({ kind: 'joined', record: { peer: d1.peer, host: 'd1', server: d1.server } })
    await d1.kill()
    const d2 = await cluster.start({ identity: key, host: 'd2', meta: { role: 'db' }, bootstrap: [a.multiaddrs[0]!] })
    expect(await next(w)).toMatchObject({ kind: 'updated', record: { host: 'd2', server: d2.server }, previous: { host: 'd1', server: d1.server } })
    // unmatched: restarted once more, now as role=web
    await d2.kill()
    const d3 = await cluster.start({ identity: key, host: 'd3', meta: { role: 'web' }, bootstrap: [a.multiaddrs[0]!] })
    expect(await next(w)).toMatchObject({ kind: 'unmatched', record: { host: 'd3', server: d3.server }, previous: { server: d2.server } })
    await d3.kill()
    // joined again, then left (a graceful stop sends ttl 0)
    const d4 = await cluster.start({ identity: key, host: 'd4', meta: { role: 'db' }, bootstrap: [a.multiaddrs[0]!] })
    expect(await next(w)).toMatchObject({ kind: 'joined', record: { server: d4.server } })
    await d4.stop()
    expect(await next(w)).toMatchObject({ kind: 'left', record: { peer: d4.peer, ttl: 0 }, previous: { server: d4.server } })
    // expired: b dies without a leave; a drops it 1.5 s after its last heartbeat
    await b.kill()
    expect(await next(w)).toMatchObject({ kind: 'expired', record: { peer: b.peer }, previous: { peer: b.peer } })
    w.cancel()
  }, 60_000)

  it('cancelling frees the node: the table listener goes, the stream ends', async () => {
    const table = new RoutingTable()
    const server = await serveTable(table)
    servers.push(server)
    const session = await connect(server.url)
    sessions.push(session)
    const ws = Array.from({ length: 5 }, () => session.view.watch('WHERE role=db'))
    for (const w of ws) expect(await next(w)).toEqual({ kind: 'synced' })
    expect(table.watching).toBe(5)
    for (const w of ws.slice(0, 3)) w.cancel()
    await vi.waitFor(() => expect(table.watching).toBe(2))
    await session.close()
    await vi.waitFor(() => expect(table.watching).toBe(0))
    table.close()
  })

  it('LIMIT is refused before sending and by the node; the null View yields synced and ends', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', token: 't' })
    const session = await connect(a.addr!, { token: 't' })
    sessions.push(session)
    expect(() => session.view.watch('WHERE role=db LIMIT 3')).toThrow(expect.objectContaining({ code: ERR_WATCH_LIMIT }))
    // A statement sent as data past the client's check (another-language client): the node
    // refuses it too, and the connection stays usable.
    const { raw } = await RawClient.hello(a.addr!, 't')
    try {
      const q = { op: 'ls', selector: { kind: 'all' }, constraints: [{ kind: 'limit', n: 3 }], reverse: false }
      raw.send({ t: 'call', id: 1, cap: 0, m: 'watch', a: { q }, window: 65536 })
      const refused = await raw.readUntil((f) => (f as { id?: number }).id === 1)
      expect(JSON.stringify(refused)).toContain(ERR_WATCH_LIMIT)
      raw.send({ t: 'call', id: 2, cap: 0, m: 'watch', a: { q: { ...q, constraints: [] } }, window: 65536 })
      const batch = await raw.readUntil((f) => (f as { id?: number }).id === 2)
      expect(batch).toMatchObject({ t: 'batch', id: 2 })
      expect(JSON.stringify(batch)).toContain('synced')
    } finally {
      raw.close()
    }
    const anonymous = await connect(a.addr!)
    sessions.push(anonymous)
    expect(anonymous.view.isNull).toBe(true)
    expect(await anonymous.view.watch('WHERE role=db').toArray()).toEqual([{ kind: 'synced' }])
    let err: unknown
    try {
      anonymous.view.watch('LIMIT 1')
    } catch (e) {
      err = e
    }
    expect(hasCode(err, ERR_WATCH_LIMIT)).toBe(true)
  })
})

describe('the service-discovery example of the README', () => {
  it('keeps a set of role=db peers current as nodes join and leave', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', meta: { role: 'web' } })
    const db1 = await cluster.start({ meta: { role: 'db' }, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.get(db1.peer)).toBeDefined(), { timeout: 10_000 })
    const session = await connect(a.addr!)
    sessions.push(session)
    // The README's loop, as written there.
    const dbs = new Map<string, RoutingRecord>()
    let ready = false
    const ac = new AbortController()
    const loop = (async () => {
      try {
        for await (const e of session.view.watch('WHERE role=db', { signal: ac.signal })) {
          if (e.kind === 'record' || e.kind === 'joined' || e.kind === 'updated') dbs.set(e.record.peer, e.record)
          else if (e.kind === 'synced') ready = true
          else dbs.delete(e.record.peer)
        }
      } catch (err) {
        if (!hasCode(err, 'ERR_ABORTED')) throw err
      }
    })()
    await vi.waitFor(() => expect(ready).toBe(true))
    expect([...dbs.keys()]).toEqual([db1.peer])
    const db2 = await cluster.start({ meta: { role: 'db' }, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect([...dbs.keys()].sort()).toEqual([db1.peer, db2.peer].sort()), { timeout: 10_000 })
    await db1.stop()
    await vi.waitFor(() => expect([...dbs.keys()]).toEqual([db2.peer]), { timeout: 10_000 })
    ac.abort()
    await loop
  }, 60_000)
})
