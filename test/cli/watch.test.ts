/**
 * `ww ls QUERY --watch` as a real process against a real node (an in-process table served
 * over WebSocket): ndjson and text output, Ctrl-C exits 130, a lost connection exits 3, and
 * `--reconnect` resyncs printing only what changed while away.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable } from '../../src/table/table.js'
import type { Server } from '../../src/proto/server/server.js'
import { peerId, serveTable } from '../proto/helpers.js'
import { ROOT, tempHome, wwArgv, wwEnv } from './helpers.js'

const home = tempHome()
const children: ChildProcess[] = []
const servers: Server[] = []
const tables: RoutingTable[] = []
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('close', r))
      try {
        process.kill(-c.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
      await gone
    }
  }
  await Promise.allSettled(servers.splice(0).map((s) => s.close()))
  for (const t of tables.splice(0)) t.close()
})

function rec(i: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peerId(i), server: '00000000000000aa', seq: 1, ttl: 86_400_000, host: `h${i}`, meta: { role: 'db' }, ...over }
}

/** A `ww` child whose stdout lines are collected as they come. */
function ww(args: string[]): { child: ChildProcess; lines: string[]; stderr: () => string; closed: Promise<number | null> } {
  const child = spawn(process.execPath, wwArgv(args), { cwd: ROOT, env: wwEnv(home.dir), detached: true })
  children.push(child)
  const lines: string[] = []
  let tail = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (tail + d).split('\n')
    tail = parts.pop() ?? ''
    lines.push(...parts)
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  return { child, lines, stderr: () => err, closed }
}

async function node(table: RoutingTable, port = 0): Promise<Server> {
  const s = await serveTable(table, { listen: `ws://127.0.0.1:${port}` })
  servers.push(s)
  return s
}

function table(): RoutingTable {
  const t = new RoutingTable({ sweep: false })
  tables.push(t)
  return t
}

describe('ww ls --watch', () => {
  it('ndjson: one object per event; Ctrl-C exits 130', async () => {
    const t = table()
    t.upsert(rec(1))
    t.upsert(rec(2, { meta: { role: 'web' } }))
    const s = await node(t)
    const w = ww(['ls', 'WHERE', 'role=db', '-w', '--format', 'ndjson', '--addr', s.url])
    await vi.waitFor(() => expect(w.lines).toHaveLength(2), { timeout: 20_000 })
    expect(JSON.parse(w.lines[0]!)).toEqual({ event: 'record', ...rec(1) })
    expect(JSON.parse(w.lines[1]!)).toEqual({ event: 'synced' })
    t.upsert(rec(3))
    await vi.waitFor(() => expect(w.lines).toHaveLength(3), { timeout: 10_000 })
    t.upsert(rec(3, { seq: 2, host: 'moved' }))
    await vi.waitFor(() => expect(w.lines).toHaveLength(4), { timeout: 10_000 })
    t.upsert(rec(1, { seq: 2, ttl: 0 }))
    await vi.waitFor(() => expect(w.lines).toHaveLength(5), { timeout: 10_000 })
    expect(w.lines.slice(2).map((l) => JSON.parse(l))).toEqual([
      { event: 'joined', ...rec(3) },
      { event: 'updated', ...rec(3, { seq: 2, host: 'moved' }), previous: rec(3) },
      { event: 'left', ...rec(1, { seq: 2, ttl: 0 }), previous: rec(1) },
    ])
    w.child.kill('SIGINT')
    expect(await w.closed).toBe(130)
    await vi.waitFor(() => expect(t.watching).toBe(0))
  }, 60_000)

  it('text: the initial table, then one line per change with an EVENT column; a lost connection exits 3', async () => {
    const t = table()
    t.upsert(rec(1, { host: 'alpha' }))
    const s = await node(t)
    const w = ww(['ls', 'WHERE', 'role=db', '--watch', '--addr', s.url])
    await vi.waitFor(() => expect(w.lines).toHaveLength(2), { timeout: 20_000 })
    expect(w.lines[0]).toMatch(/^EVENT\s+PEER\s+SERVER\s+HOST\s+META$/)
    expect(w.lines[1]).toMatch(new RegExp(`^\\s+${peerId(1)}\\s+00000000000000aa\\s+alpha\\s+role=db$`))
    t.upsert(rec(1, { seq: 2, host: 'alpha', meta: { role: 'web' } }))
    await vi.waitFor(() => expect(w.lines).toHaveLength(3), { timeout: 10_000 })
    expect(w.lines[2]).toMatch(new RegExp(`^unmatched\\s+${peerId(1)}\\s+00000000000000aa\\s+alpha\\s+role=web$`))
    // The columns line up with the header.
    expect(w.lines[2]!.indexOf(peerId(1))).toBe(w.lines[0]!.indexOf('PEER'))
    await s.close()
    expect(await w.closed).toBe(3)
    expect(w.stderr()).toMatch(/ERR_/)
  }, 60_000)

  it('--reconnect: dials again after the node restarts and prints only what changed while away', async () => {
    const t = table()
    t.upsert(rec(1))
    t.upsert(rec(2))
    const s = await node(t)
    const port = Number(new URL(s.url).port)
    const w = ww(['ls', 'WHERE', 'role=db', '-w', '--reconnect', '--format', 'ndjson', '--addr', s.url])
    await vi.waitFor(() => expect(w.lines).toHaveLength(3), { timeout: 20_000 })
    await s.close()
    await vi.waitFor(() => expect(w.stderr()).toMatch(/reconnecting/), { timeout: 10_000 })
    t.upsert(rec(2, { seq: 2, ttl: 0 }))
    t.upsert(rec(3))
    t.upsert(rec(1, { seq: 2 })) // a heartbeat only: not a change to print
    await node(t, port)
    await vi.waitFor(() => expect(w.lines).toHaveLength(5), { timeout: 20_000 })
    expect(w.lines.slice(3).map((l) => JSON.parse(l))).toEqual([
      { event: 'joined', ...rec(3) },
      { event: 'gone', ...rec(2) },
    ])
    // And it keeps watching on the new connection.
    t.upsert(rec(4))
    await vi.waitFor(() => expect(w.lines).toHaveLength(6), { timeout: 10_000 })
    expect(JSON.parse(w.lines[5]!)).toEqual({ event: 'joined', ...rec(4) })
    w.child.kill('SIGINT')
    expect(await w.closed).toBe(130)
  }, 60_000)

  it('refuses LIMIT with a clear error (exit 1)', async () => {
    const w = ww(['ls', 'LIMIT', '3', '-w', '--addr', 'ws://127.0.0.1:9'])
    expect(await w.closed).toBe(1)
    expect(w.stderr()).toMatch(/LIMIT/)
  }, 30_000)
})
