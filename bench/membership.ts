/**
 * Membership benchmark: clusters of 8, 16 and 32 real nodes in one process on 127.0.0.1
 * (TCP + Noise + Yamux + gossipsub), with the default TTL of 10 s.
 *
 * For each size it measures:
 * - cold start: N - 1 nodes started one after the other (each through up to two random
 *   earlier ones), until every table holds every peer;
 * - join: then the N-th node starts and dials; from that moment until every table holds
 *   every peer (the target is ≤ 3 s at N = 32);
 * - crash detection: a node killed without a leave, until no table holds it;
 * - leave propagation: a graceful `stop()`, until no table holds it;
 * - heartbeat traffic in steady state: bytes of gossipsub RPCs each node sends (protobuf
 *   RPC bytes counted by gossipsub's own metrics: messages, IHAVE/IWANT/GRAFT/PRUNE and
 *   subscriptions; Noise/Yamux/length-prefix framing not included) over a 10 s window.
 *
 * All N nodes share one process (one event loop, one core): every node verifies every
 * heartbeat signature, so the process does N times the work one node of a real cluster does.
 *
 * Baselines measured in the same run: times are also shown relative to N = 8, and traffic
 * relative to the floor a perfect broadcast would need (each node receives each other
 * node's heartbeat payload exactly once: (N - 1) × payload bytes × heartbeat rate).
 */
import { cpus, loadavg } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startNode, type Node } from '../src/node/node.js'

const TTL = 10_000
const SIZES = [8, 16, 32]
const WINDOW = 10_000

interface Counter {
  total: number
}

/** A gossipsub MetricsRegister that only sums counters (labels ignored). */
function register(): { reg: unknown; get(name: string): number } {
  const sums = new Map<string, Counter>()
  const gauge = (config: { name: string }) => {
    const c: Counter = sums.get(config.name) ?? { total: 0 }
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

async function waitFor(cond: () => boolean, timeout: number): Promise<number> {
  const t0 = performance.now()
  while (!cond()) {
    if (performance.now() - t0 > timeout) return Number.NaN
    await new Promise((r) => setTimeout(r, 10))
  }
  return performance.now() - t0
}

interface Result {
  n: number
  coldMs: number
  lastJoinMs: number
  crashMs: number
  leaveMs: number
  bytesPerSec: number
  beatsPerSec: number
  payload: number
}

async function cluster(n: number): Promise<Result> {
  const nodes: Node[] = []
  const metrics: Array<ReturnType<typeof register>> = []
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')))
  try {
    const startOne = async (i: number): Promise<void> => {
      // Each node joins through up to two random earlier nodes: a connected, sparse graph.
      const boot = new Set<string>()
      for (let k = 0; k < Math.min(2, i); k++) boot.add(nodes[Math.floor(Math.random() * i)]!.multiaddrs[0]!)
      const m = register()
      metrics.push(m)
      nodes.push(
        await startNode({
          listen: false,
          identity: keys[i]!,
          ttl: TTL,
          host: `bench-${i}`,
          meta: { region: ['eu-west-1', 'us-east-1', 'ap-south-1'][i % 3]!, role: i % 2 === 0 ? 'web' : 'db' },
          bootstrap: [...boot],
          gossipsub: { metricsRegister: m.reg as never, metricsTopicStrToLabel: new Map() },
        }),
      )
    }
    const full = (): boolean => nodes.every((x) => x.table.size === nodes.length)
    const coldStart = performance.now()
    for (let i = 0; i < n - 1; i++) await startOne(i)
    const coldMs = Number.isNaN(await waitFor(full, 60_000)) ? Number.NaN : performance.now() - coldStart
    const lastStart = performance.now()
    await startOne(n - 1)
    const lastJoinMs = Number.isNaN(await waitFor(full, 30_000)) ? Number.NaN : performance.now() - lastStart

    // Steady state traffic.
    await new Promise((r) => setTimeout(r, 1000))
    const sent0 = metrics.map((m) => m.get('gossipsub_rpc_sent_bytes_total'))
    const beats0 = nodes.map((x) => x.membership.stats.published)
    const bytes0 = nodes.map((x) => x.membership.stats.publishedBytes)
    await new Promise((r) => setTimeout(r, WINDOW))
    const secs = WINDOW / 1000
    const sent = metrics.map((m, i) => m.get('gossipsub_rpc_sent_bytes_total') - sent0[i]!)
    const beats = nodes.map((x, i) => x.membership.stats.published - beats0[i]!)
    const pbytes = nodes.map((x, i) => x.membership.stats.publishedBytes - bytes0[i]!)
    const bytesPerSec = sent.reduce((a, b) => a + b, 0) / n / secs
    const beatsPerSec = beats.reduce((a, b) => a + b, 0) / n / secs
    const payload = pbytes.reduce((a, b) => a + b, 0) / Math.max(1, beats.reduce((a, b) => a + b, 0))

    // Crash: no leave heartbeat, the others must wait out the TTL.
    const crashed = nodes[n - 1]!
    await crashed.kill()
    const rest1 = nodes.slice(0, n - 1)
    const crashMs = await waitFor(() => rest1.every((x) => x.table.get(crashed.peer) === undefined), TTL * 5)

    // Graceful leave, timed from the call to stop().
    const leaver = nodes[n - 2]!
    const rest2 = nodes.slice(0, n - 2)
    const stopping = leaver.stop()
    const leaveMs = await waitFor(() => rest2.every((x) => x.table.get(leaver.peer) === undefined), 5000)
    await stopping
    return { n, coldMs, lastJoinMs, crashMs, leaveMs, bytesPerSec, beatsPerSec, payload }
  } finally {
    await Promise.allSettled(nodes.map((x) => x.kill()))
  }
}

function fmt(v: number, digits = 0): string {
  return Number.isNaN(v) ? 'timeout' : v.toFixed(digits)
}

/** Runs the membership benchmark and prints one table. */
export async function run(): Promise<void> {
  const results: Result[] = []
  for (const n of SIZES) {
    results.push(await cluster(n))
    // Let sockets of the previous cluster close before the next one starts.
    await new Promise((r) => setTimeout(r, 500))
  }
  const base = results[0]!
  console.log(`TTL ${TTL} ms (heartbeat every ${TTL / 4}-${TTL / 2} ms); load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores; traffic = gossipsub RPC bytes sent per node over ${WINDOW / 1000} s`)
  console.log(
    ['N', 'join ms (×N=8)', 'cold start of N-1 ms', 'crash detect ms (×TTL)', 'leave ms', 'heartbeats/s/node', 'payload B', 'sent B/s/node (×N=8)', 'floor B/s', '×floor'].join(' | '),
  )
  for (const r of results) {
    const floor = (r.n - 1) * r.payload * r.beatsPerSec
    console.log(
      [
        r.n,
        `${fmt(r.lastJoinMs)} (${fmt(r.lastJoinMs / base.lastJoinMs, 2)})`,
        fmt(r.coldMs),
        `${fmt(r.crashMs)} (${fmt(r.crashMs / TTL, 2)})`,
        fmt(r.leaveMs),
        fmt(r.beatsPerSec, 2),
        fmt(r.payload),
        `${fmt(r.bytesPerSec)} (${fmt(r.bytesPerSec / base.bytesPerSec, 2)})`,
        fmt(floor),
        fmt(r.bytesPerSec / floor, 1),
      ].join(' | '),
    )
  }
  const at32 = results.find((r) => r.n === 32)
  if (at32 !== undefined) console.log(`target: join converges ≤ 3000 ms at N=32 → ${fmt(at32.lastJoinMs)} ms ${at32.lastJoinMs <= 3000 ? 'met' : 'MISSED'}`)
}
