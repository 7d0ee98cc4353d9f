/**
 * Scale on one host: N separate `ww start` OS processes (16, 32, 64) on 127.0.0.1, TTL 10 s.
 *
 * Four seed nodes start first (seeds 2–4 bootstrap through seed 1); every other node
 * bootstraps through all four. Nodes start a few at a time (the next one once an earlier
 * one has printed its `listen` line), each with its own `--identity` file in a temp dir, each
 * in a process group of its own (`detached`), killed by group at the end, also on failure.
 *
 * For each N it measures:
 * - convergence: from the moment the last node printed `listen` until every node's table
 *   (asked over the client protocol: `count`) holds all N;
 * - idle cost per node: CPU from /proc/<pid>/stat (utime + stime) over a 20 s window once
 *   converged (nobody querying), and RSS (VmRSS of /proc/<pid>/status) at the end of it;
 * - the seeds' death: the four seeds are SIGKILLed, and 2 × TTL later every other node must
 *   list exactly the live nodes (checked by peer ID).
 *
 * Baselines measured in the same run: times and costs relative to N = 16 (the smallest size
 * run), and per-node cost relative to a bare idle `node -e` process started the same way.
 *
 * Sizes: `WW_SCALE_SIZES=16,32` picks others (default 16,32,64); `WW_SCALE_TTL=30000` another TTL. Needs the build
 * (run() calls `npx tsc -b tsconfig.build.json` first). For experiments: `WW_SCALE_ARGS`
 * adds `ww start` flags, `WW_SCALE_NODE_ARGS` node flags (e.g. `--max-semi-space-size=16`),
 * and `WW_SCALE_PROFILE=DIR` writes a `--cpu-prof` of one node and prints the idle window in
 * its clock. Memory is reported three ways: VmRSS (counts the shared node binary in every
 * process), RssAnon (the process's own pages) and PSS (shared pages divided among sharers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect } from '../src/proto/client/client.js'
import type { NodeInfo, Session } from '../src/api.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const MAIN = join(root, 'dist/cli/main.js')
// TTL of every node: 10 s, or WW_SCALE_TTL ms (e.g. to see how the cost follows the heartbeat rate).
const TTL = Number(process.env.WW_SCALE_TTL ?? 10_000)
const SEEDS = 4
const IN_FLIGHT = 4
const IDLE_WINDOW = 20_000
const SETTLE = 5_000
const CONVERGE_LIMIT = 60_000
const START_LIMIT = 60_000
// Linux clock ticks per second (USER_HZ); /proc/<pid>/stat counts CPU time in these.
const HZ = 100

/** One `ww start` process. */
interface Proc {
  i: number
  child: ChildProcess
  pid: number
  exited: Promise<void>
  peer: string
  p2p: string
  listen: string
  err: string[]
  session?: Session
}

const groups = new Set<number>()
// Every node spawned in the current cluster, listening or not: a node still starting when a
// start fails must be killed too (it would go on writing into the temp folder).
let spawned: Array<{ pid: number; exited: Promise<void> }> = []
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
// Whatever happens (an exception, Ctrl-C of the bench runner), no node outlives the bench.
process.on('exit', () => {
  for (const pid of groups) killGroup(pid)
})

// Profiling aid: WW_SCALE_PROFILE=DIR runs node 5 with --cpu-prof into DIR (it is stopped
// with SIGTERM so the profile is written) and prints the idle window in its clock.
const PROFILE = process.env.WW_SCALE_PROFILE
const PROFILED = 5

function spawnNode(i: number, dir: string, bootstrap: string[], extra: string[] = []): Promise<Proc> {
  const nodeArgs = (process.env.WW_SCALE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  if (PROFILE !== undefined && i === PROFILED) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${PROFILE}`)
  const args = [
    ...nodeArgs,
    MAIN, 'start',
    '--p2p', '/ip4/127.0.0.1/tcp/0',
    '--listen', 'ws://127.0.0.1:0',
    '--identity', join(dir, `n${i}.key`),
    '--ttl', `${TTL}ms`,
    '--host', `scale-${i}`,
    ...bootstrap.flatMap((b) => ['--bootstrap', b]),
    ...extra,
  ]
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  const pid = child.pid!
  groups.add(pid)
  spawned.push({ pid, exited: new Promise<void>((r) => child.once('close', () => r())) })
  const exited = new Promise<void>((r) => child.once('close', () => r()))
  const p: Proc = { i, child, pid, exited, peer: '', p2p: '', listen: '', err: [] }
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    for (const l of s.split('\n')) if (l !== '') p.err.push(l)
    if (p.err.length > 50) p.err.splice(0, p.err.length - 50)
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${i} printed no listen line in ${START_LIMIT} ms; stderr: ${p.err.join(' | ')}`)), START_LIMIT)
    let buf = ''
    const onData = (s: string): void => {
      buf += s
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const [k, v] = [line.slice(0, 8).trim(), line.slice(8).trim()]
        if (k === 'peer') p.peer = v
        else if (k === 'p2p' && p.p2p === '') p.p2p = v
        else if (k === 'listen' && p.listen === '') {
          p.listen = v
          clearTimeout(timer)
          resolve(p)
        }
      }
      // After the banner only change lines follow: keep reading (a full pipe would block the node), drop them.
      if (p.listen !== '') buf = ''
    }
    child.stdout!.setEncoding('utf8').on('data', onData)
    child.once('close', (code) => {
      clearTimeout(timer)
      reject(new Error(`node ${i} exited (${code}) before listening; stderr: ${p.err.join(' | ')}`))
    })
  })
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.allSettled(procs.map((p) => p.session?.close()))
  const profiled = PROFILE !== undefined ? procs.find((p) => p.i === PROFILED) : undefined
  if (profiled !== undefined) {
    profiled.child.kill('SIGTERM')
    await Promise.race([profiled.exited, sleep(10_000)])
  }
  for (const p of procs) killGroup(p.pid)
  await Promise.all(procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))])))
  for (const p of procs) groups.delete(p.pid)
  for (const s of spawned) killGroup(s.pid)
  await Promise.all(spawned.map((s) => Promise.race([s.exited, sleep(5000)])))
  for (const s of spawned) groups.delete(s.pid)
  spawned = []
}

/** CPU ticks (utime + stime) of a process, or NaN once it is gone. */
function ticks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return Number.NaN
  }
}

/** A `Name:  N kB` line of a /proc file, in MiB (NaN when the process is gone). */
function kbLine(file: string, name: string): number {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'))
    return m === null ? Number.NaN : Number(m[1]) / 1024
  } catch {
    return Number.NaN
  }
}

/** Resident set size of a process in MiB (VmRSS: its shared pages, the node binary's, counted whole). */
const rssMiB = (pid: number): number => kbLine(`/proc/${pid}/status`, 'VmRSS')
/** Its anonymous resident memory (heaps, stacks) in MiB: what is its own. */
const anonMiB = (pid: number): number => kbLine(`/proc/${pid}/status`, 'RssAnon')
/** Its proportional set size in MiB: shared pages divided among the processes sharing them. */
const pssMiB = (pid: number): number => kbLine(`/proc/${pid}/smaps_rollup`, 'Pss')

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function count(p: Proc): Promise<number> {
  try {
    p.session ??= await connect(p.listen, { timeout: 5000 })
    return await p.session.view.count(undefined, { signal: AbortSignal.timeout(5000) })
  } catch {
    await p.session?.close().catch(() => {})
    p.session = undefined
    return -1
  }
}

async function peers(p: Proc): Promise<Set<string> | undefined> {
  try {
    p.session ??= await connect(p.listen, { timeout: 5000 })
    const out = new Set<string>()
    for await (const r of p.session.view.iter(undefined, { signal: AbortSignal.timeout(10_000) })) out.add(r.peer)
    return out
  } catch {
    return undefined
  }
}

async function info(p: Proc): Promise<NodeInfo | undefined> {
  try {
    p.session ??= await connect(p.listen, { timeout: 5000 })
    return await p.session.view.info({ signal: AbortSignal.timeout(5000) })
  } catch {
    return undefined
  }
}

/** Polls every node until each counts `n` records; ms from now, or NaN after `limit`. */
async function converge(procs: Proc[], n: number, limit: number): Promise<number> {
  const t0 = performance.now()
  const done = new Set<number>()
  while (performance.now() - t0 < limit) {
    const todo = procs.filter((p) => !done.has(p.i))
    const counts = await Promise.all(todo.map((p) => count(p)))
    todo.forEach((p, k) => {
      if (counts[k] === n) done.add(p.i)
    })
    if (done.size === procs.length) return performance.now() - t0
    await sleep(100)
  }
  return Number.NaN
}

function stats(xs: number[]): { min: number; med: number; max: number; mean: number } {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return { min: NaN, med: NaN, max: NaN, mean: NaN }
  return { min: s[0]!, med: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length }
}

/** CPU (% of one core) and RSS (MiB) of each pid over `window` ms. */
async function idle(pids: number[], window: number): Promise<{ cpu: number[]; rss: number[]; anon: number[]; pss: number[] }> {
  const t0 = performance.now()
  const before = pids.map(ticks)
  const h0 = process.hrtime.bigint() / 1000n
  await sleep(window)
  if (PROFILE !== undefined) console.log(`idle window (µs, monotonic): ${h0} ${process.hrtime.bigint() / 1000n}`)
  const secs = (performance.now() - t0) / 1000
  const cpu = pids.map((pid, k) => ((ticks(pid) - before[k]!) / HZ / secs) * 100)
  return { cpu, rss: pids.map(rssMiB), anon: pids.map(anonMiB), pss: pids.map(pssMiB) }
}

/** Result of one cluster size. */
export interface ScaleResult {
  n: number
  startMs: number
  convergeMs: number
  cpu: ReturnType<typeof stats>
  rss: ReturnType<typeof stats>
  anon: ReturnType<typeof stats>
  pss: ReturnType<typeof stats>
  connected: ReturnType<typeof stats>
  mesh: ReturnType<typeof stats>
  /** Heartbeats a node sent from start to convergence ÷ what its regular schedule sends in that time. */
  excess: ReturnType<typeof stats>
  /** Heartbeats taken in per second per node (gossip, after dedup), over the node's last ~10 s. */
  beatsIn: ReturnType<typeof stats>
  /** Nodes (of N - 4) listing exactly the live nodes 2 × TTL after the seeds died. */
  survived: number
  /** Of those that did not: the smallest table seen. */
  worst: number
}

/** Runs one cluster of `n` processes and measures it. */
export async function cluster(n: number, extra: string[] = []): Promise<ScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ww-scale-'))
  const procs: Proc[] = []
  try {
    const t0 = performance.now()
    procs.push(await spawnNode(0, dir, [], extra))
    const seeds1 = await Promise.all(Array.from({ length: SEEDS - 1 }, (_, k) => spawnNode(k + 1, dir, [procs[0]!.p2p], extra)))
    procs.push(...seeds1)
    const boot = procs.map((p) => p.p2p)
    let next = SEEDS
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++
        procs.push(await spawnNode(i, dir, boot, extra))
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
    const startMs = performance.now() - t0
    const convergeMs = await converge(procs, n, CONVERGE_LIMIT)
    // Heartbeats each node sent from its start to convergence, against its regular schedule
    // (one per 3/8 TTL on average): the excess is what joins brought forward.
    const early = await Promise.all(procs.map(info))
    const excess = early.map((x) => (x === undefined ? NaN : x.heartbeats.out / Math.max(1, x.uptimeMs / (TTL * 0.375))))
    // Idle: nobody queries the nodes during the window.
    await Promise.allSettled(procs.map((p) => p.session?.close()))
    for (const p of procs) p.session = undefined
    await sleep(SETTLE)
    const { cpu, rss, anon, pss } = await idle(procs.map((p) => p.pid), IDLE_WINDOW)
    const infos = await Promise.all(procs.map(info))

    // The seeds die; the rest must still list each other 2 × TTL later.
    const seeds = procs.slice(0, SEEDS)
    for (const s of seeds) killGroup(s.pid)
    await Promise.all(seeds.map((s) => s.exited))
    await sleep(2 * TTL)
    const rest = procs.slice(SEEDS)
    const live = new Set(rest.map((p) => p.peer))
    const tables = await Promise.all(rest.map(peers))
    let survived = 0
    let worst = Infinity
    for (const t of tables) {
      const ok = t !== undefined && t.size === live.size && [...live].every((x) => t.has(x))
      if (ok) survived++
      else worst = Math.min(worst, t?.size ?? 0)
    }
    const oks = infos.filter((x): x is NodeInfo => x !== undefined)
    return {
      n,
      startMs,
      convergeMs,
      cpu: stats(cpu),
      rss: stats(rss),
      anon: stats(anon),
      pss: stats(pss),
      connected: stats(oks.map((x) => x.connectedPeers)),
      mesh: stats(oks.map((x) => x.meshPeers)),
      excess: stats(excess),
      beatsIn: stats(oks.map((x) => x.heartbeats.inPerSec)),
      survived,
      worst: worst === Infinity ? live.size : worst,
    }
  } finally {
    await stopAll(procs)
    // A node killed while it wrote (its identity lock) can leave the folder busy for a moment.
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  }
}

/** Idle CPU and RSS of a bare `node -e` process (the floor a Node process costs). */
async function bare(): Promise<{ cpu: number; rss: number; anon: number; pss: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { detached: true, stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } })
  const pid = child.pid!
  groups.add(pid)
  const exited = new Promise((r) => child.once('close', r))
  try {
    await sleep(1000)
    const { cpu, rss, anon, pss } = await idle([pid], IDLE_WINDOW / 2)
    return { cpu: cpu[0]!, rss: rss[0]!, anon: anon[0]!, pss: pss[0]! }
  } finally {
    killGroup(pid)
    await exited
    groups.delete(pid)
  }
}

// tsc -b is incremental: a no-op when dist/ is current.
function build(): void {
  const r = spawnSync('npx', ['tsc', '-b', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error('build failed')
}

// '—' for what could not be measured, and for a ratio to a baseline measured as 0 (a bare
// process's idle CPU is below the clock's tick over the window).
const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '—')

/** Runs the scale benchmark and prints one table. */
export async function run(): Promise<void> {
  build()
  const sizes = (process.env.WW_SCALE_SIZES ?? '16,32,64').split(',').map(Number)
  const extra = (process.env.WW_SCALE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const floor = await bare()
  const results: ScaleResult[] = []
  for (const n of sizes) {
    results.push(await cluster(n, extra))
    // Each size as it is done: a later size failing must not lose it.
    console.log(`N=${n}: ${JSON.stringify(results.at(-1))}`)
    await sleep(1000)
  }
  const base = results[0]!
  console.log(`TTL ${TTL} ms, ${SEEDS} seeds, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}; idle window ${IDLE_WINDOW / 1000} s`)
  console.log(`bare node -e process: ${f(floor.cpu, 2)}% of a core, ${f(floor.rss)} MiB RSS, ${f(floor.anon)} MiB of it anonymous, PSS ${f(floor.pss)} MiB`)
  console.log(['N', 'start all ms', 'converged after last start ms (×first)', 'idle CPU %/node med [max] (×bare)',  'RSS MiB/node med [max] (×bare)', 'anon / PSS MiB/node med', 'connections med [min]', 'gossip mesh med [min]', 'heartbeats sent until converged ÷ regular med [max]', 'heartbeats in/s/node med', 'after seeds die (2×TTL)'].join(' | '))
  for (const r of results) {
    console.log(
      [
        r.n,
        f(r.startMs, 0),
        `${f(r.convergeMs, 0)} (${f(r.convergeMs / base.convergeMs, 2)})`,
        `${f(r.cpu.med, 2)} [${f(r.cpu.max, 2)}] (${f(r.cpu.med / floor.cpu, 1)})`,
        `${f(r.rss.med)} [${f(r.rss.max)}] (${f(r.rss.med / floor.rss, 2)})`,
        `${f(r.anon.med)} / ${f(r.pss.med)}`,
        `${r.connected.med} [${r.connected.min}]`,
        `${r.mesh.med} [${r.mesh.min}]`,
        `${f(r.excess.med, 2)} [${f(r.excess.max, 2)}]`,
        f(r.beatsIn.med, 2),
        r.survived === r.n - SEEDS ? `all ${r.survived} list all live` : `${r.survived}/${r.n - SEEDS} list all live; smallest table ${r.worst}`,
      ].join(' | '),
    )
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run()
