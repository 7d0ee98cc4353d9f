/**
 * Live-query benchmark (docs/benchmarks.md#watch). Every figure comes with the machine's load
 * average, since the development machine is shared.
 *
 * 1. Latency: from a heartbeat arriving at a real node (its gossipsub topic validator, the
 *    point after gossipsub's signature check where the node takes a heartbeat in) to the
 *    watcher's event at a client over WebSocket on 127.0.0.1; p50 / p99 of 2 000 heartbeats
 *    sent one at a time, each moving a peer's host (target p50 ≤ 1 ms, p99 ≤ 5 ms).
 * 2. Concurrency: 1 000 watches over the protocol (20 connections, from a client process of
 *    its own: bench/_watch-clients.ts) on one node that holds 10 000 peers, while those peers
 *    heartbeat every 5 s (2 000 heartbeats/s, 1 in 100 moving a host: an event for the 100
 *    watches of its region). Node CPU per event (the node's CPU with the watches, less the
 *    same heartbeats without them, over the events delivered), node memory per idle watch
 *    (heap + external, gc'd; target ≤ 64 KiB), and the heartbeat processing delay: from the
 *    time a heartbeat is due to when the node has taken it in, watchers fed (target ≤ 100 ms).
 * 3. A watch over the protocol that never reads while 1 000 000 changes happen to its 10 000
 *    matching peers: node heap growth (gc'd; the client's bounded receive window included),
 *    bytes per matching peer; then it reads, and gets one event per peer.
 * 4. Write cost on the table with 1 000 watchers attached, by how their queries spread.
 */
import { fork } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { RoutingTable } from '../src/table/table.js'
import type { RoutingRecord } from '../src/record/record.js'
import { connect } from '../src/proto/client/client.js'
import { parseQuery } from '../src/lang/index.js'
import { startNode, type Node } from '../src/node/node.js'
import { encodeHeartbeat } from '../src/cluster/heartbeat.js'
import type { Watcher } from '../src/table/watch.js'
import { benchPeer } from './_ids.js'

function gc(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

function mem(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

const load = (): string => `load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`
const peer = (i: number): string => benchPeer(i)
const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!
const tick = (): Promise<void> => new Promise((r) => setImmediate(r))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// Heartbeat seq is the sender's wall clock in µs; one counter keeps every record newer.
let seqNext = Date.now() * 1000
function rec(i: number, host: string, meta: Record<string, string>): RoutingRecord {
  return { peer: peer(i), server: '00000000000000aa', seq: seqNext++, ttl: 300_000, host, meta }
}

// A heartbeat as gossipsub hands it to the topic validator, signature already checked.
function message(r: RoutingRecord, topic: string): { from: PeerId; msg: Message } {
  const from = { toString: () => r.peer } as unknown as PeerId
  return { from, msg: { type: 'signed', topic, data: encodeHeartbeat(r), from, sequenceNumber: 0n, signature: new Uint8Array(64), key: undefined } as unknown as Message }
}

async function benchNode(): Promise<Node> {
  return startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: await generateKeyPair('Ed25519'), ttl: 60_000, host: 'bench' })
}

function offer(node: Node, r: RoutingRecord): void {
  const { from, msg } = message(r, node.membership.topic)
  const v = node.membership.validate(from, msg)
  if (v !== 'accept') throw new Error(`heartbeat not accepted: ${v}`)
}

async function latency(): Promise<void> {
  const node = await benchNode()
  for (let i = 0; i < 10_000; i++) offer(node, rec(i, `node-${i}`, { role: 'db', region: `r${i % 10}` }))
  const session = await connect(node.addr!)
  const w = session.view.watch('WHERE role=db')
  for (;;) if ((await w.next())?.kind === 'synced') break
  const samples: number[] = []
  for (let k = 0; k < 2000; k++) {
    const i = (k * 7919) % 10_000
    const { from, msg } = message(rec(i, `moved-${k}`, { role: 'db', region: `r${i % 10}` }), node.membership.topic)
    const t0 = performance.now()
    node.membership.validate(from, msg)
    const e = await w.next()
    samples.push(performance.now() - t0)
    if (e === undefined || e.kind !== 'updated') throw new Error(`unexpected event ${e?.kind}`)
  }
  samples.sort((a, b) => a - b)
  console.log(`latency heartbeat at the node → client event (2000 heartbeats, 10 000 peers, loopback): p50 ${pct(samples, 50).toFixed(3)} ms, p99 ${pct(samples, 99).toFixed(3)} ms, max ${samples.at(-1)!.toFixed(3)} ms (${load()})`)
  w.cancel()
  await session.close()
  await node.stop()
}

interface Phase {
  heartbeats: number
  cpuMs: number
  delays: number[]
}

// `seconds` of 10 000 peers heartbeating every 5 s: 2 000 per second, each offered when due
// (timers wake the loop; a late wake offers what has come due). 1 in 100 moves its host.
async function heartbeats(node: Node, hosts: string[], seconds: number): Promise<Phase> {
  const rate = 2000
  const n = rate * seconds
  const msgs: Array<{ from: PeerId; msg: Message }> = []
  for (let k = 0; k < n; k++) {
    const i = k % 10_000
    if (k % 100 === 50) hosts[i] = `moved-${seqNext}`
    msgs.push(message(rec(i, hosts[i]!, { role: 'db', region: `r${i % 10}` }), node.membership.topic))
  }
  const delays: number[] = []
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  let k = 0
  while (k < n) {
    const now = performance.now()
    while (k < n && start + (k * 1000) / rate <= now) {
      const { from, msg } = msgs[k]!
      node.membership.validate(from, msg)
      delays.push(performance.now() - (start + (k * 1000) / rate))
      k++
    }
    await sleep(Math.max(0, start + (k * 1000) / rate - performance.now()))
  }
  const cpu = process.cpuUsage(cpu0)
  delays.sort((a, b) => a - b)
  return { heartbeats: n, cpuMs: (cpu.user + cpu.system) / 1000, delays }
}

async function concurrent(): Promise<void> {
  const W = 1000
  const node = await benchNode()
  const hosts: string[] = []
  for (let i = 0; i < 10_000; i++) {
    hosts.push(`node-${i}`)
    offer(node, rec(i, hosts[i]!, { role: 'db', region: `r${i % 10}` }))
  }
  const base = await heartbeats(node, hosts, 5)
  const before = mem()
  const child = fork(fileURLToPath(new URL('./_watch-clients.ts', import.meta.url)), [node.addr!, String(W), '20'], { execArgv: process.execArgv.filter((a) => a !== '--expose-gc') })
  const ask = <T>(m: object, key: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (x: Record<string, unknown>): void => {
        if (key in x) {
          child.off('message', on)
          resolve(x[key] as T)
        }
      }
      child.on('message', on)
      child.send(m)
    })
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code) => reject(new Error(`clients exited ${code}`)))
  })
  await sleep(1000)
  const after = mem()
  console.log(`1000 watches over the protocol (20 connections), idle: node heap+external +${((after - before) / W / 1024).toFixed(1)} KiB per watch (${load()})`)
  const e0 = await ask<number>({ count: true }, 'events')
  const run = await heartbeats(node, hosts, 5)
  await sleep(500)
  const events = (await ask<number>({ count: true }, 'events')) - e0
  const extra = run.cpuMs - base.cpuMs
  console.log(`  2000 heartbeats/s from 10 000 peers for 5 s, 1 in 100 moving a host:`)
  console.log(`  without watches: node CPU ${base.cpuMs.toFixed(0)} ms (${((base.cpuMs * 1000) / base.heartbeats).toFixed(1)} µs per heartbeat); delay p50 ${pct(base.delays, 50).toFixed(2)} ms, p99 ${pct(base.delays, 99).toFixed(2)} ms, max ${base.delays.at(-1)!.toFixed(1)} ms`)
  console.log(`  with 1000 watches: node CPU ${run.cpuMs.toFixed(0)} ms, ${events} events delivered: ${((extra * 1000) / Math.max(1, events)).toFixed(1)} µs of node CPU per event; delay p50 ${pct(run.delays, 50).toFixed(2)} ms, p99 ${pct(run.delays, 99).toFixed(2)} ms, max ${run.delays.at(-1)!.toFixed(1)} ms (${load()})`)
  const gone = new Promise((r) => child.once('exit', r))
  child.send({ stop: true })
  await Promise.race([gone, sleep(5000)])
  child.kill('SIGKILL')
  await node.stop()
}

async function neverReads(): Promise<void> {
  const P = 10_000
  const node = await benchNode()
  for (let i = 0; i < P; i++) offer(node, rec(i, 'h-start', { role: 'db' }))
  const session = await connect(node.addr!)
  const w = session.view.watch('WHERE role=db')
  for (;;) if ((await w.next())?.kind === 'synced') break
  await sleep(200)
  const before = mem()
  const t0 = performance.now()
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < P; i++) offer(node, rec(i, `h-${round}`, { role: 'db' }))
    await tick() // the node's sockets run as they would between heartbeats
  }
  const ms = performance.now() - t0
  await sleep(500)
  const after = mem()
  // Now it reads: one event per peer, standing for the changes merged into it.
  let events = 0
  let merged = 0
  for (;;) {
    const e = await Promise.race([w.next(), sleep(2000).then(() => 'idle' as const)])
    if (e === 'idle' || e === undefined) break
    if (e.kind === 'updated') {
      events++
      merged += e.coalesced
    }
  }
  console.log(
    `never-reading watch over the protocol, 1 000 000 changes to ${P} matching peers (${((ms * 1000) / 1e6).toFixed(1)} µs per heartbeat): node heap+external +${((after - before) / 1024 / 1024).toFixed(2)} MiB = ${((after - before) / P).toFixed(0)} B per matching peer; then ${events} events standing for ${merged} changes (${load()})`,
  )
  w.cancel()
  await session.close()
  await node.stop()
}

// 1 000 watchers on a table of 10 000 peers, `query(k)` for the k-th, each read by a consumer
// that takes every event as it comes (as a protocol stream does); then 10 000 host moves.
async function writeCost(label: string, query: (k: number) => string, read = true): Promise<void> {
  const table = new RoutingTable({ sweep: false })
  const meta = (i: number): Record<string, string> => ({ role: 'db', region: `r${i % 10}` })
  for (let i = 0; i < 10_000; i++) table.upsert({ peer: peer(i), server: '00000000000000aa', seq: 1, ttl: 600_000, host: `host-${i}`, meta: meta(i) })
  const ws: Watcher[] = []
  let events = 0
  const consume = (w: Watcher): void => {
    for (;;) {
      const r = w.next()
      if (!(r instanceof Promise) && r.done !== true && r.value.kind !== 'record' && r.value.kind !== 'synced') events++
      if (r instanceof Promise) {
        void r.then((x) => {
          if (x.done !== true) {
            events++
            consume(w)
          }
        })
        return
      }
      if (r.done === true) return
    }
  }
  for (let k = 0; k < 1000; k++) {
    const w = table.watcher(parseQuery(query(k)))
    if (read) consume(w)
    else while ((w.next() as IteratorResult<{ kind: string }>).value?.kind !== 'synced');
    ws.push(w)
  }
  await tick()
  const t0 = performance.now()
  for (let k = 0; k < 10_000; k++) {
    table.upsert({ peer: peer(k), server: '00000000000000aa', seq: 2, ttl: 600_000, host: `moved-${k}`, meta: meta(k) })
    if (k % 100 === 99) await tick()
  }
  await tick()
  const ms = performance.now() - t0
  console.log(`  ${label}: ${((ms * 1000) / 10_000).toFixed(1)} µs per change (${((ms * 1e6) / 10_000 / 1000).toFixed(0)} ns per attached watcher), ${read ? `${(events / 10_000).toFixed(1)} events per change` : 'nothing read'}`)
  for (const w of ws) w.return()
  table.close()
}

/** Runs the measurements. */
export async function run(): Promise<void> {
  // First, in a fresh process: its heap growth is then not blurred by what the other runs
  // leave to be freed (it read as negative after them).
  await neverReads()
  await latency()
  await concurrent()
  console.log(`write cost, 1 000 watchers on a table of 10 000 peers, 10 000 host moves (${load()}):`)
  await writeCost('all WHERE role=db, never read (every change pending in every watcher)', () => 'WHERE role=db', false)
  await writeCost('all WHERE role=db, read', () => 'WHERE role=db')
  await writeCost('WHERE region=r<k%10>, read (a change concerns 100)', (k) => `WHERE region=r${k % 10}`)
  await writeCost('WHERE host=host-<k>, read (a change concerns at most 2)', (k) => `WHERE host=host-${k}`)
  await writeCost('WHERE region!=x<k>, read (distinct unkeyed queries: each sees every change)', (k) => `WHERE region!=x${k}`)
}
