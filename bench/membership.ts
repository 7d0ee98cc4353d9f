/**
 * Membership benchmark: clusters of 16, 32 and 64 real nodes spread over 4 OS processes
 * (bench/_memb-worker.ts, N/4 nodes each) on 127.0.0.1 (TCP + Noise + Yamux + gossipsub,
 * state sync, the mesh keeper at its default of 6 peers), with the default TTL of 10 s.
 *
 * For each size, in order, on one cluster:
 * - cold start: the bootstrap node (node 0) starts, then the other N − 1 start at once, each
 *   with node 0 as its only bootstrap address; until every node lists all N (target: ≤ 3 s at
 *   N = 64). Also shown from the moment the last node was up;
 * - traffic in steady state, over 10 s: gossipsub RPC bytes each node sends (protobuf RPCs as
 *   gossipsub's metrics count them: messages, IHAVE/IWANT/GRAFT/PRUNE, subscriptions; Noise,
 *   Yamux and TCP framing not included), and state-sync bytes (none once the mesh is stable);
 * - join: node N starts in process 1 with node 0 as bootstrap; until it lists all N + 1
 *   (target: ≤ 1 s at N = 64), also from its first connection, and until every node lists it;
 *   with the bytes of state sync that one join cost (pulled by the newcomer, served by all);
 * - bootstrap killed: node 0 stops without a leave (its connections close, as when its process
 *   dies); for 2 × TTL every other node must keep listing every other one (sampled every
 *   20 ms; target: no loss), and node 0 must drop out of every table (≈ TTL);
 * - partition and heal: processes 2 and 3 get SIGSTOP for 2 × TTL (half the cluster frozen:
 *   the others expire it, its own timers stand still), then SIGCONT; until every node lists
 *   every live node again (target: ≤ TTL). A record counts only while live on the lister's
 *   clock, so a frozen node's stale table doesn't pass for a healed one.
 *
 * Baselines measured in the same run: times are also shown relative to N = 16; traffic
 * relative to N = 16 and to the floor a perfect broadcast would need (each node receives
 * each other node's heartbeat payload exactly once: (N − 1) × payload bytes × heartbeat rate).
 *
 * The 4 processes share this machine's cores with each other (and with whatever else runs):
 * every node verifies every heartbeat signature, so a process does N/4 times the work one node
 * of a real cluster does. The load average is printed with the results, and so is the CPU
 * time the 4 processes used: over the cold start, against the shortest cold start the
 * machine's cores could give it (that CPU time spread over every core; a ratio near 1 means
 * the cold start was bound by CPU), and in the steady-state window, as cores busy, share of
 * the machine and share of a core per node.
 *
 * `WW_BENCH_SIZES=16,32` picks the sizes; `WW_BENCH_DEBUG=1` prints each node's cold-start
 * completion time, the mesh's dials and hang-ups in steady state, and every 5 s of a slow
 * phase each process's incomplete nodes, event-loop delay and CPU; `WW_BENCH_TRACE=1` has
 * each process print every 500 ms, per node, its table size, connections, distinct peers,
 * connected peers not (yet) subscribed to the heartbeat topic, and mesh hang-ups.
 * `WW_BENCH_WARN=1` prints every node's warnings (peers refused, bootstrap unreachable);
 * `WW_BENCH_SCORES=1` prints, when a phase times out, each node's peers with a gossipsub score
 * below −10 (−100 is one ScoreGuard punishment) and the nodes with no connection at all.
 *
 * Children are spawned detached (their own process group) and killed by group, SIGKILL, when
 * a size is done, on any error and when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

const TTL = 10_000
const SIZES = [16, 32, 64]
const PROCS = 4
const WINDOW = 10_000
// Bounds on each phase (the results say 'timeout' when one is hit).
const COLD_TIMEOUT = 60_000
const JOIN_TIMEOUT = 30_000
const HEAL_TIMEOUT = 3 * TTL
const REQUEST_SLACK = 30_000

const WORKER = fileURLToPath(new URL('./_memb-worker.ts', import.meta.url))

interface Reply {
  id: number
  ok: boolean
  error?: string
  [k: string]: unknown
}

/** One child process and its pending requests. */
class Worker {
  readonly child: ChildProcess
  readonly ready: Promise<void>
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  #next = 1

  constructor(readonly n: number) {
    // Same runtime and loader flags (tsx) as this process; its own process group.
    this.child = spawn(process.execPath, [...process.execArgv, WORKER], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    live.add(this.child)
    this.child.on('exit', () => {
      live.delete(this.child)
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer)
        p.reject(new Error(`worker ${n} exited`))
      }
      this.#pending.clear()
    })
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${n} not ready in 60 s`)), 60_000)
      this.child.once('exit', (code, signal) => reject(new Error(`worker ${n} exited before it was ready (${code ?? signal})`)))
      this.child.on('message', (m: Reply) => {
        if (m.id === 0) {
          clearTimeout(timer)
          resolve()
          return
        }
        const p = this.#pending.get(m.id)
        if (p === undefined) return
        this.#pending.delete(m.id)
        clearTimeout(p.timer)
        if (m.ok) p.resolve(m)
        else p.reject(new Error(`worker ${n}: ${m.error}`))
      })
    })
  }

  /** Sends a request; rejects after `timeout` ms without an answer. */
  ask<T = Reply>(op: string, args: Record<string, unknown> = {}, timeout = REQUEST_SLACK): Promise<T & Reply> {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`worker ${this.n}: no answer to ${op} in ${timeout} ms`))
      }, timeout)
      this.#pending.set(id, { resolve: resolve as (r: Reply) => void, reject, timer })
      this.child.send({ id, op, ...args })
    })
  }

  /** Sends a signal to the worker's whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) process.kill(-this.child.pid, sig)
  }
}

// Every child still running, killed by group on exit whatever happens.
const live = new Set<ChildProcess>()
function killAll(): void {
  for (const c of live) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll()
    process.exit(130)
  })
}

async function stopAll(workers: Worker[]): Promise<void> {
  await Promise.allSettled(workers.map((w) => w.ask('stop', {}, 10_000)))
  for (const w of workers) {
    // SIGCONT first: a stopped process can't die of SIGTERM, and SIGKILL is the backstop.
    w.signal('SIGCONT')
    w.child.disconnect?.()
  }
  await Promise.allSettled(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve()
          const timer = setTimeout(() => {
            w.signal('SIGKILL')
            resolve()
          }, 5000)
          w.child.once('exit', () => {
            clearTimeout(timer)
            resolve()
          })
        }),
    ),
  )
  // Anything the group left behind.
  for (const w of workers) {
    try {
      if (w.child.pid !== undefined) process.kill(-w.child.pid, 'SIGKILL')
    } catch {
      // The group is gone.
    }
  }
}

interface Traffic {
  nodes: number
  sent: number
  published: number
  publishedBytes: number
  syncPulled: number
  syncServed: number
  pulls: number
  connections: number
  meshDials: number
  hangUps: number
  reconnects: number
  /** CPU time (user + system, µs) the worker processes have used so far. */
  cpu: number
  at: number
}

interface Result {
  n: number
  coldMs: number
  coldAfterUpMs: number
  joinMs: number
  joinAfterConnMs: number
  joinAllMs: number
  joinPulledBytes: number
  joinPulls: number
  joinServedBytes: number
  lost: number
  lostPairs: string[]
  bootGoneMs: number
  healMs: number
  bytesPerSec: number
  syncBytesPerSec: number
  beatsPerSec: number
  payload: number
  connections: number
  dialsPerMin: number
  hangUpsPerMin: number
  /** CPU of all worker processes from the first start to the cold start's end, in core-seconds. */
  coldCpuS: number
  /** CPU of all worker processes in steady state, in cores (1 = one core busy). */
  steadyCores: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Latest `at` of the workers' `complete` answers, NaN when one timed out. */
async function completeAll(workers: Worker[], timeout: number, only?: Map<Worker, number[]>): Promise<{ at: number; replies: Reply[] }> {
  const asked = only === undefined ? workers : workers.filter((w) => only.has(w))
  const replies = await Promise.all(asked.map((w) => w.ask('complete', { timeout, ...(only?.has(w) ? { only: only.get(w) } : {}) }, timeout + REQUEST_SLACK)))
  for (const r of replies) if (r.done !== true) console.error(`  not complete: ${(r.short as string[]).slice(0, 8).join(', ')}`)
  if (replies.some((r) => r.done !== true)) return { at: Number.NaN, replies }
  return { at: Math.max(...replies.map((r) => r.at as number)), replies }
}

async function sumTraffic(workers: Worker[]): Promise<Traffic> {
  const all = await Promise.all(workers.map((w) => w.ask<Traffic>('traffic')))
  const out: Traffic = { nodes: 0, sent: 0, published: 0, publishedBytes: 0, syncPulled: 0, syncServed: 0, pulls: 0, connections: 0, meshDials: 0, hangUps: 0, reconnects: 0, cpu: 0, at: 0 }
  for (const t of all) {
    for (const k of ['nodes', 'sent', 'published', 'publishedBytes', 'syncPulled', 'syncServed', 'pulls', 'connections', 'meshDials', 'hangUps', 'reconnects', 'cpu'] as const) out[k] += t[k]
    out.at = Math.max(out.at, t.at)
  }
  return out
}

async function cluster(n: number): Promise<Result> {
  // Keys made here, so every peer ID is known before any node starts.
  const keys = await Promise.all(Array.from({ length: n + 1 }, () => generateKeyPair('Ed25519')))
  const peers = keys.map((k) => peerIdFromPrivateKey(k).toString())
  const key = (i: number): string => Buffer.from(privateKeyToProtobuf(keys[i]!)).toString('base64')
  // Node i lives in process i mod 4 (the joiner, node n, in process 1 since n is a multiple of 4).
  // WW_BENCH_SEED_ALONE=1 (an experiment, not the benchmark's layout): node 0, the seed, gets a
  // fifth process of its own, as a real seed has, instead of sharing worker 0's event loop with
  // N/4 − 1 other nodes.
  const seedAlone = process.env.WW_BENCH_SEED_ALONE === '1'
  const home = (i: number): number => (seedAlone && i === 0 ? PROCS : i % PROCS)
  const workers = Array.from({ length: seedAlone ? PROCS + 1 : PROCS }, (_, i) => new Worker(i))
  try {
    await Promise.all(workers.map((w) => w.ready))
    const first = peers.slice(0, n)

    // Cold start.
    await Promise.all(workers.map((w) => w.ask('expect', { peers: first })))
    const cpu0 = (await sumTraffic(workers)).cpu
    const t0 = Date.now()
    const boot = await workers[home(0)]!.ask('start', { nodes: [{ index: 0, key: key(0) }], ttl: TTL, bootstrap: [] })
    const bootAddr = (boot.started as Array<{ addr: string }>)[0]!.addr
    const ups = await Promise.all(
      workers.map((w, p) => {
        const mine = Array.from({ length: n }, (_, i) => i).filter((i) => i > 0 && home(i) === p)
        return w.ask("start", { nodes: mine.map((i) => ({ index: i, key: key(i) })), ttl: TTL, bootstrap: [bootAddr] }, COLD_TIMEOUT)
      }),
    )
    const allUp = Math.max(...ups.map((u) => u.at as number))
    const cold = await completeAll(workers, COLD_TIMEOUT)
    const coldCpuS = ((await sumTraffic(workers)).cpu - cpu0) / 1e6
    const coldMs = cold.at - t0
    const coldAfterUpMs = cold.at - allUp
    if (process.env.WW_BENCH_DEBUG !== undefined) console.error(`cold start: up at ${allUp - t0}; per node`, cold.replies.flatMap((r) => (r.times as number[]) ?? []).map((t) => t - t0).sort((a, b) => a - b).join(' '))

    // Steady-state traffic (after the mesh settles: connections made on start have synced).
    await sleep(2000)
    const a = await sumTraffic(workers)
    await sleep(WINDOW)
    const b = await sumTraffic(workers)
    if (process.env.WW_BENCH_DEBUG !== undefined) console.error('steady state, 10 s:', JSON.stringify({ pulls: b.pulls - a.pulls, meshDials: b.meshDials - a.meshDials, hangUps: b.hangUps - a.hangUps, reconnects: b.reconnects - a.reconnects, connections: b.connections }))
    const secs = (b.at - a.at) / 1000
    const steadyCores = (b.cpu - a.cpu) / 1e6 / secs
    const bytesPerSec = (b.sent - a.sent) / n / secs
    const syncBytesPerSec = (b.syncServed - a.syncServed) / n / secs
    const beatsPerSec = (b.published - a.published) / n / secs
    const payload = (b.publishedBytes - a.publishedBytes) / Math.max(1, b.published - a.published)

    // One node joins through node 0.
    const all = peers.slice(0, n + 1)
    await Promise.all(workers.map((w) => w.ask('expect', { peers: all })))
    const before = await sumTraffic(workers)
    const tj = Date.now()
    const joiner = workers[home(n)]!
    await joiner.ask('start', { nodes: [{ index: n, key: key(n) }], ttl: TTL, bootstrap: [bootAddr] }, JOIN_TIMEOUT)
    const seen = await completeAll(workers, JOIN_TIMEOUT, new Map([[joiner, [n]]]))
    const joinMs = seen.at - tj
    const firstConn = (seen.replies[0]?.firstConnAt as Record<string, number> | undefined)?.[n] ?? Number.NaN
    const joinAfterConnMs = seen.at - firstConn
    const everyone = await completeAll(workers, JOIN_TIMEOUT)
    const joinAllMs = everyone.at - tj
    // The sync traffic of this join: the newcomer's pulls, and what every node served (the
    // newcomer's connections are the only new ones); read once the newcomer's pulls are done.
    await sleep(1000)
    const jsync = await joiner.ask('sync', { index: n })
    const after = await sumTraffic(workers)
    const joinServedBytes = after.syncServed - before.syncServed

    // The bootstrap node dies; nobody may lose anybody else.
    const rest = all.filter((p) => p !== peers[0])
    await Promise.all(workers.map((w) => w.ask('expect', { peers: rest })))
    const tk = Date.now()
    await workers[home(0)]!.ask('kill', { index: 0 })
    const held = await Promise.all(workers.map((w) => w.ask('hold', { ms: 2 * TTL, gone: peers[0] }, 2 * TTL + REQUEST_SLACK)))
    const lostPairs = held.flatMap((h) => h.lost as string[])
    const bootGoneMs = Math.max(...held.map((h) => h.goneSeenAt as number)) - tk

    // Partition: processes 2 and 3 frozen for 2 × TTL, then thawed.
    const frozen = [workers[2]!, workers[3]!]
    for (const w of frozen) w.signal('SIGSTOP')
    await sleep(2 * TTL)
    // Queued before SIGCONT, so the frozen processes see it first thing; the others now.
    await Promise.all(workers.filter((w) => !frozen.includes(w)).map((w) => w.ask('expect', { peers: rest })))
    const expecting = frozen.map((w) => w.ask('expect', { peers: rest }))
    const th = Date.now()
    for (const w of frozen) w.signal('SIGCONT')
    await Promise.all(expecting)
    const healed = await completeAll(workers, HEAL_TIMEOUT)
    const healMs = healed.at - th

    return {
      n,
      coldMs,
      coldAfterUpMs,
      joinMs,
      joinAfterConnMs,
      joinAllMs,
      joinPulledBytes: jsync.bytesPulled as number,
      joinPulls: jsync.pulled as number,
      joinServedBytes,
      lost: lostPairs.length,
      lostPairs,
      bootGoneMs,
      healMs,
      bytesPerSec,
      syncBytesPerSec,
      beatsPerSec,
      payload,
      connections: b.connections / n,
      dialsPerMin: ((b.meshDials - a.meshDials) / n / secs) * 60,
      hangUpsPerMin: ((b.hangUps - a.hangUps) / n / secs) * 60,
      coldCpuS,
      steadyCores,
    }
  } finally {
    await stopAll(workers)
  }
}

function fmt(v: number, digits = 0): string {
  return Number.isFinite(v) ? v.toFixed(digits) : 'timeout'
}

/** Runs the membership benchmark and prints one table per measurement. */
export async function run(): Promise<void> {
  const sizes = process.env.WW_BENCH_SIZES?.split(',').map(Number) ?? SIZES
  const results: Result[] = []
  const load: number[] = []
  for (const n of sizes) {
    if (n % PROCS !== 0) throw new Error(`cluster size ${n} is not a multiple of ${PROCS}`)
    load.push(loadavg()[0]!)
    results.push(await cluster(n))
    load.push(loadavg()[0]!)
  }
  const base = results[0]!
  const x = (v: number, b: number): string => fmt(v / b, 2)
  console.log(
    `${PROCS} processes, N/${PROCS} nodes each${process.env.WW_BENCH_SEED_ALONE === '1' ? ' (node 0, the seed, in a fifth process of its own)' : ''}; TTL ${TTL} ms (heartbeat every ${TTL / 4}-${TTL / 2} ms); --min-peers 6; ` +
      `load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} on ${cpus().length} cores; ratios (×) against N=${base.n}`,
  )
  console.log(['N', 'cold start ms (×)', 'after last up ms', 'join: sees all ms (×)', 'after 1st conn ms', 'all see it ms', 'boot killed: pairs lost', 'boot gone ms (×TTL)', 'heal ms (×TTL)'].join(' | '))
  for (const r of results) {
    console.log(
      [
        r.n,
        `${fmt(r.coldMs)} (${x(r.coldMs, base.coldMs)})`,
        fmt(r.coldAfterUpMs),
        `${fmt(r.joinMs)} (${x(r.joinMs, base.joinMs)})`,
        fmt(r.joinAfterConnMs),
        fmt(r.joinAllMs),
        `${r.lost}${r.lost > 0 ? ` (${r.lostPairs.slice(0, 4).join(', ')}…)` : ''}`,
        `${fmt(r.bootGoneMs)} (${fmt(r.bootGoneMs / TTL, 2)})`,
        `${fmt(r.healMs)} (${fmt(r.healMs / TTL, 2)})`,
      ].join(' | '),
    )
  }
  console.log(`traffic over ${WINDOW / 1000} s in steady state; sync bytes of one join (MessagePack bodies)`)
  console.log(['N', 'connections/node', 'heartbeats/s/node', 'payload B', 'gossip B/s/node (×)', 'floor B/s', '×floor', 'sync B/s/node', 'mesh dials, hang-ups /node/min', 'join: pulls', 'pulled B', 'served B (all nodes)', 'B/record pulled'].join(' | '))
  for (const r of results) {
    const floor = (r.n - 1) * r.payload * r.beatsPerSec
    console.log(
      [
        r.n,
        fmt(r.connections, 1),
        fmt(r.beatsPerSec, 3),
        fmt(r.payload),
        `${fmt(r.bytesPerSec)} (${x(r.bytesPerSec, base.bytesPerSec)})`,
        fmt(floor),
        fmt(r.bytesPerSec / floor, 1),
        fmt(r.syncBytesPerSec),
        `${fmt(r.dialsPerMin, 1)}, ${fmt(r.hangUpsPerMin, 1)}`,
        r.joinPulls,
        r.joinPulledBytes,
        r.joinServedBytes,
        fmt(r.joinPulledBytes / Math.max(1, r.joinPulls) / (r.n + 1)),
      ].join(' | '),
    )
  }
  // What the machine had to give: a cold start can't end before its CPU time spread over every
  // core, and what the steady state already takes is not there for anything else.
  const cores = cpus().length
  console.log(`CPU of the ${PROCS} worker processes (user + system), on ${cores} cores`)
  console.log(['N', 'cold start: CPU s', 'its floor on these cores ms', 'cold start ÷ floor', 'steady state: cores busy', 'share of the machine', 'per node % of a core'].join(' | '))
  for (const r of results) {
    const floorMs = (r.coldCpuS / cores) * 1000
    console.log(
      [r.n, fmt(r.coldCpuS, 1), fmt(floorMs), fmt(r.coldMs / floorMs, 1), fmt(r.steadyCores, 2), `${fmt((r.steadyCores / cores) * 100)} %`, fmt((r.steadyCores / r.n) * 100, 2)].join(' | '),
    )
  }
  const big = results.find((r) => r.n === 64)
  if (big !== undefined) {
    const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED')
    console.log(`targets at N=64: cold start ≤ 3000 ms → ${fmt(big.coldMs)} ${verdict(big.coldMs <= 3000)}; join sees all ≤ 1000 ms → ${fmt(big.joinMs)} ${verdict(big.joinMs <= 1000)}`)
  }
  for (const r of results) {
    console.log(`N=${r.n}: bootstrap killed, no pair lost → ${r.lost === 0 ? 'met' : 'MISSED'}; heal ≤ TTL → ${fmt(r.healMs)} ms ${r.healMs <= TTL ? 'met' : 'MISSED'}`)
  }
}
