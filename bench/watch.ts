/**
 * Live-query benchmark (docs/benchmarks.md#watch):
 * - latency from a record reaching the node's table (`upsert`) to the watcher's event at a
 *   client over WebSocket on 127.0.0.1 (node and client in this process), p50 / p99 of 2 000
 *   changes made one at a time (target p50 ≤ 1 ms, p99 ≤ 5 ms);
 * - memory per idle watcher: 1 000 watchers open on the table (gc'd heap difference, table
 *   side only: the listener, the watcher and its empty queue; target ≤ 64 KiB);
 * - a watcher that never reads while 1 000 000 changes happen to 10 000 matching peers: heap
 *   growth (gc'd), and bytes per matching peer. Bounded by the peers, not the changes.
 */
import { RoutingTable } from '../src/table/table.js'
import type { RoutingRecord } from '../src/record/record.js'
import { serve } from '../src/proto/server/server.js'
import { connect } from '../src/proto/client/client.js'
import { parseQuery } from '../src/lang/index.js'
import { benchPeer } from './_ids.js'

function gc(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

function heap(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const peer = (i: number): string => benchPeer(i)

function rec(i: number, seq: number, host = `node-${i}`): RoutingRecord {
  return { peer: peer(i), server: '00000000000000aa', seq, ttl: 600_000, host, meta: { role: 'db', region: 'eu-west-1' } }
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!

async function latency(): Promise<void> {
  const table = new RoutingTable()
  for (let i = 0; i < 10_000; i++) table.upsert(rec(i, 1))
  const server = await serve({ listen: 'ws://127.0.0.1:0', table, peer: peer(999_999) })
  const session = await connect(server.url)
  const w = session.view.watch('WHERE role=db')
  for (;;) if ((await w.next())?.kind === 'synced') break
  const samples: number[] = []
  for (let k = 0; k < 2000; k++) {
    const i = k % 10_000
    const t0 = performance.now()
    table.upsert(rec(i, 2 + k, `moved-${k}`))
    const e = await w.next()
    samples.push(performance.now() - t0)
    if (e === undefined || e.kind !== 'updated') throw new Error('unexpected event')
  }
  samples.sort((a, b) => a - b)
  console.log(`latency upsert → client event (2000 changes, 10 000 peers): p50 ${pct(samples, 50).toFixed(3)} ms, p99 ${pct(samples, 99).toFixed(3)} ms, max ${samples[samples.length - 1]!.toFixed(3)} ms`)
  w.cancel()
  await session.close()
  await server.close()
  table.close()
}

function idleWatchers(): void {
  const table = new RoutingTable()
  for (let i = 0; i < 10_000; i++) table.upsert(rec(i, 1))
  const s = parseQuery('WHERE role=db')
  const before = heap()
  const ws = []
  for (let k = 0; k < 1000; k++) {
    const w = table.watcher(s)
    for (let i = 0; i < 10_001; i++) w.next() // initial matches and synced: idle from here
    ws.push(w)
  }
  const after = heap()
  console.log(`idle watchers: ${((after - before) / 1000 / 1024).toFixed(2)} KiB each (1000 watchers, table side)`)
  const t0 = performance.now()
  for (let k = 0; k < 10_000; k++) table.upsert(rec(k, 2, `moved-${k}`))
  const ms = performance.now() - t0
  console.log(`  10 000 changes with 1000 watchers attached: ${((ms * 1000) / 10_000).toFixed(1)} µs per change (${((ms * 1e6) / 10_000 / 1000).toFixed(0)} ns per watcher per change)`)
  for (const w of ws) w.return()
  table.close()
}

function neverReads(): void {
  const P = 10_000
  const table = new RoutingTable()
  for (let i = 0; i < P; i++) table.upsert(rec(i, 1))
  const w = table.watcher(parseQuery('WHERE role=db'))
  for (let i = 0; i < P + 1; i++) w.next()
  const before = heap()
  let seq = 2
  const t0 = performance.now()
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < P; i++) table.upsert(rec(i, seq, `h-${round}`))
    seq++
  }
  const ms = performance.now() - t0
  const after = heap()
  const st = w.stats()
  console.log(`never-reading watcher, 1 000 000 changes to ${P} peers: heap +${((after - before) / 1024 / 1024).toFixed(2)} MiB (${((after - before) / P).toFixed(0)} B per matching peer, table versions included), pending ${st.pending}, max ${st.maxPending}; ${((ms * 1000) / 1e6).toFixed(2)} µs per change`)
  w.return()
  table.close()
}

/** Runs the three measurements. */
export async function run(): Promise<void> {
  await latency()
  idleWatchers()
  neverReads()
}
