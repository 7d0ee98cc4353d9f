/**
 * One OS process of the membership benchmark (bench/membership.ts): hosts a share of the
 * cluster's nodes and answers the parent's requests over the Node IPC channel.
 *
 * Requests are `{ id, op, ... }`, each answered by `{ id, ok: true, ... }` or
 * `{ id, ok: false, error }`. Times in answers are `Date.now()` values: every process of the
 * benchmark runs on the same machine, so they are on one clock.
 *
 * - `start { nodes: [{ index, key }], ttl, bootstrap }`: starts those nodes at once (`key`: a
 *   protobuf-encoded Ed25519 private key, base64); answers with their first multiaddrs.
 * - `expect { peers }`: from now on a node is complete when its table lists every one of
 *   `peers` as live; each node's completion time is noted by a 5 ms poll (`completeAt`).
 * - `complete { only?, timeout }`: waits until every node (or those of `only`) is complete;
 *   answers with the latest completion time and each node's first connection time.
 * - `hold { ms, gone? }`: for `ms`, samples every 20 ms that every node lists every expected
 *   peer; answers with the (node, peer) pairs that were missing in some sample, and when the
 *   peer `gone` was last listed by one of these nodes.
 * - `traffic`: sums of the nodes' counters (gossipsub RPC bytes sent, heartbeats, sync bytes),
 *   and the CPU time (user + system, µs) this process has used so far.
 * - `kill { index }`: stops a node without its leave heartbeat, as a crash would.
 * - `stop`: kills every node; then the process exits.
 *
 * The process exits when the parent goes away (the IPC channel closes).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { startNode, type Node } from '../src/node/node.js'

interface Hosted {
  index: number
  node: Node
  sent: () => number
  firstConnAt: number
  completeAt: number
  alive: boolean
}

interface Request {
  id: number
  op: string
  [k: string]: unknown
}

const hosted = new Map<number, Hosted>()
let expected: string[] = []
let expectedSince = Date.now()

/** A gossipsub MetricsRegister that only sums counters (labels ignored). */
function register(): { reg: unknown; get(name: string): number } {
  const sums = new Map<string, { total: number }>()
  const gauge = (config: { name: string }) => {
    const c = sums.get(config.name) ?? { total: 0 }
    sums.set(config.name, c)
    return {
      inc: (a?: unknown, b?: number) => {
        c.total += typeof a === 'number' ? a : typeof b === 'number' ? b : 1
      },
      set: () => {},
      addCollect: () => {},
    }
  }
  const histogram = () => ({ startTimer: () => () => {}, observe: () => {}, reset: () => {} })
  const avgMinMax = () => ({ set: () => {} })
  return { reg: { gauge, histogram, avgMinMax }, get: (name) => sums.get(name)?.total ?? 0 }
}

function lists(h: Hosted, peers: readonly string[]): boolean {
  for (const p of peers) if (h.node.table.get(p) === undefined) return false
  return true
}

// How late this process's event loop runs (reported with WW_BENCH_DEBUG while nodes are incomplete).
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()

// Notes when each node first lists every expected peer.
const poll = setInterval(() => {
  const now = Date.now()
  for (const h of hosted.values()) if (h.alive && h.completeAt === 0 && lists(h, expected)) h.completeAt = Math.max(now, expectedSince)
}, 5)

// Profiling aid: WW_BENCH_PROFILE=DIR profiles the worker that hosts node 0 (the seed) for
// 20 s from that node's start and writes DIR/seed-<pid>.cpuprofile (workers are SIGKILLed at
// the end, so --cpu-prof would never write).
async function profileSeed(dir: string): Promise<void> {
  const { Session } = await import('node:inspector/promises')
  const { writeFile } = await import('node:fs/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  setTimeout(() => {
    void session.post('Profiler.stop').then(({ profile }) => writeFile(`${dir}/seed-${process.pid}.cpuprofile`, JSON.stringify(profile)))
  }, 20_000).unref()
}

async function start(req: Request): Promise<unknown> {
  const ttl = req.ttl as number
  const profileDir = process.env.WW_BENCH_PROFILE
  if (profileDir !== undefined && (req.nodes as Array<{ index: number }>).some((n) => n.index === 0)) await profileSeed(profileDir)
  const bootstrap = req.bootstrap as string[]
  const specs = req.nodes as Array<{ index: number; key: string }>
  const started = await Promise.all(
    specs.map(async ({ index, key }) => {
      const m = register()
      const node = await startNode({
        ...(process.env.WW_BENCH_WARN === '1' ? { logger: { info: () => {}, warn: (m: string) => console.error(`  [${index}] ${m}`), error: (m: string) => console.error(`  [${index}] ERROR ${m}`) } } : {}),
        listen: false,
        identity: privateKeyFromProtobuf(Buffer.from(key, 'base64')),
        p2p: ['/ip4/127.0.0.1/tcp/0'],
        ttl,
        host: `bench-${index}`,
        meta: { region: ['eu-west-1', 'us-east-1', 'ap-south-1'][index % 3]!, role: index % 2 === 0 ? 'web' : 'db' },
        bootstrap,
        gossipsub: { metricsRegister: m.reg as never, metricsTopicStrToLabel: new Map() },
      })
      const h: Hosted = { index, node, sent: () => m.get('gossipsub_rpc_sent_bytes_total'), firstConnAt: 0, completeAt: 0, alive: true }
      if (node.libp2p.getConnections().length > 0) h.firstConnAt = Date.now()
      else node.libp2p.addEventListener('connection:open', () => (h.firstConnAt ||= Date.now()), { once: true })
      hosted.set(index, h)
      return { index, peer: node.peer, addr: node.multiaddrs[0]! }
    }),
  )
  return { started, at: Date.now() }
}

async function complete(req: Request): Promise<unknown> {
  const only = req.only as number[] | undefined
  const timeout = req.timeout as number
  const which = [...hosted.values()].filter((h) => h.alive && (only === undefined || only.includes(h.index)))
  const t0 = performance.now()
  let nextReport = t0 + 5000
  let lastCpu = process.cpuUsage()
  while (which.some((h) => h.completeAt === 0)) {
    if (process.env.WW_BENCH_DEBUG !== undefined && performance.now() > nextReport) {
      // Which peers the incomplete nodes still miss, by index in the expected list (most missed first).
      nextReport += 5000
      const missed = new Map<number, number>()
      const open = which.filter((h) => h.completeAt === 0)
      for (const h of open) expected.forEach((p, i) => h.node.table.get(p) === undefined && missed.set(i, (missed.get(i) ?? 0) + 1))
      const top = [...missed].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([i, c]) => `${i}×${c}`).join(' ')
      const conns = open.map((h) => h.node.libp2p.getPeers().length)
      const lag = `event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`
      loopDelay.reset()
      const used = process.cpuUsage(lastCpu)
      lastCpu = process.cpuUsage()
      const cpu = `CPU ${((used.user + used.system) / 5e4).toFixed(0)} % of a core`
      let hangUps = 0
      let meshDials = 0
      for (const h of which) {
        hangUps += h.node.mesh.stats.hangUps
        meshDials += h.node.mesh.stats.dials
      }
      console.error(`  [proc ${process.pid}] ${Math.round(performance.now() - t0)} ms: ${open.length} incomplete (peers ${conns.join(',')}); missing ${top}; ${lag}; ${cpu}; mesh dials ${meshDials}, hang-ups ${hangUps} so far`)
    }
    if (performance.now() - t0 > timeout) {
      const short = which.filter((h) => h.completeAt === 0).map((h) => `${h.index}: ${expected.filter((p) => h.node.table.get(p) === undefined).length} missing`)
      if (process.env.WW_BENCH_SCORES === '1') {
        for (const h of hosted.values()) {
          const g = h.node.libp2p.services.pubsub as unknown as { getScore(p: string): number }
          const low = expected.filter((p) => g.getScore(p) < -10).map((p) => `${p.slice(-6)}=${g.getScore(p).toFixed(0)}`)
          const conns = h.node.libp2p.getPeers().length
          if (low.length > 0 || conns === 0) console.error(`  node ${h.index}: ${conns} peers; low scores: ${low.join(' ')}`)
        }
      }
      return { done: false, short }
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  return { done: true, at: Math.max(...which.map((h) => h.completeAt)), times: which.map((h) => h.completeAt), firstConnAt: Object.fromEntries(which.map((h) => [h.index, h.firstConnAt])) }
}

async function hold(req: Request): Promise<unknown> {
  const ms = req.ms as number
  const gone = req.gone as string | undefined
  const lost = new Set<string>()
  let goneSeenAt = 0
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    const now = Date.now()
    for (const h of hosted.values()) {
      if (!h.alive) continue
      for (const p of expected) if (h.node.table.get(p) === undefined) lost.add(`${h.index}→${p.slice(-6)}`)
      if (gone !== undefined && h.node.table.get(gone) !== undefined) goneSeenAt = now
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return { lost: [...lost], goneSeenAt, samples: Math.round(ms / 20) }
}

function traffic(): unknown {
  let sent = 0
  let published = 0
  let publishedBytes = 0
  let syncPulled = 0
  let syncServed = 0
  let pulls = 0
  let connections = 0
  let meshDials = 0
  let hangUps = 0
  let reconnects = 0
  let nodes = 0
  for (const h of hosted.values()) {
    if (!h.alive) continue
    nodes++
    sent += h.sent()
    published += h.node.membership.stats.published
    publishedBytes += h.node.membership.stats.publishedBytes
    syncPulled += h.node.sync.stats.bytesPulled
    syncServed += h.node.sync.stats.bytesServed
    pulls += h.node.sync.stats.pulled
    connections += h.node.libp2p.getConnections().length
    meshDials += h.node.mesh.stats.dials
    hangUps += h.node.mesh.stats.hangUps
    reconnects += h.node.reconnect.stats.dials
  }
  const { user, system } = process.cpuUsage()
  return { nodes, sent, published, publishedBytes, syncPulled, syncServed, pulls, connections, meshDials, hangUps, reconnects, cpu: user + system, at: Date.now() }
}

/** Per-node sync counters of one node (the joiner's cost). */
function syncOf(index: number): unknown {
  const h = hosted.get(index)
  if (h === undefined) throw new Error(`no node ${index} here`)
  return { ...h.node.sync.stats, connections: h.node.libp2p.getConnections().length }
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'start':
      return start(req)
    case 'expect':
      expected = req.peers as string[]
      expectedSince = Date.now()
      for (const h of hosted.values()) h.completeAt = 0
      return {}
    case 'complete':
      return complete(req)
    case 'hold':
      return hold(req)
    case 'traffic':
      return traffic()
    case 'sync':
      return syncOf(req.index as number)
    case 'kill': {
      const h = hosted.get(req.index as number)
      if (h === undefined) throw new Error(`no node ${String(req.index)} here`)
      h.alive = false
      await h.node.kill()
      return { at: Date.now() }
    }
    case 'stop':
      await shutdown()
      return {}
    default:
      throw new Error(`unknown op ${req.op}`)
  }
}

let stopping: Promise<void> | undefined
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    clearInterval(poll)
    await Promise.allSettled([...hosted.values()].map((h) => h.node.kill()))
  })()
  return stopping
}

process.on('message', (req: Request) => {
  handle(req).then(
    (res) => process.send?.({ id: req.id, ok: true, ...(res as object) }),
    (err: unknown) => process.send?.({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  )
})
// The parent went away: nothing left to serve.
process.on('disconnect', () => {
  void shutdown().finally(() => process.exit(0))
})
process.send?.({ id: 0, ok: true, ready: true })
if (process.env.WW_BENCH_TRACE) {
  const t0 = Date.now()
  setInterval(() => {
    const parts = [...hosted.values()].map((h) => {
      const topic = h.node.membership.topic
      const subs = new Set(h.node.libp2p.services.pubsub.getSubscribers(topic).map((p) => p.toString()))
      const peers = h.node.libp2p.getPeers().map((p) => p.toString())
      const deaf = peers.filter((p) => !subs.has(p)).length
      return `${h.index}:t${h.node.table.size}/c${h.node.libp2p.getConnections().length}/p${peers.length}/d${deaf}/h${h.node.mesh.stats.hangUps}`
    })
    if (parts.length > 0) console.error(`[${process.pid} +${Date.now() - t0}] ${parts.join(' ')}`)
  }, 500).unref()
}
