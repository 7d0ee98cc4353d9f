/**
 * PubSub benchmark (docs/benchmarks.md). Two real nodes on 127.0.0.1 (startNode, B bootstrapped from A);
 * a client of A publishes 100-byte messages, a client of B subscribes.
 *
 * - Throughput: messages/s received by the subscriber, for awaited publishes one at a time
 *   and for a burst fired without awaiting (the client keeps up to 16 publishes in flight).
 * - Latency: publish → receipt, one message at a time (the next is published once the
 *   previous arrived), median and p99.
 *
 * Baseline, measured in the same run on the same two nodes: raw gossipsub, A's
 * `services.pubsub.publish` → B's `message` event, with no ww protocol, WebSocket, client
 * or subscription buffer in between. The ratio is what the client path costs.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '../src/api.js'
import { startNode, type Node } from '../src/node/node.js'
import { connect } from '../src/proto/client/client.js'
import { meshTopic } from '../src/cluster/pubsub.js'

const SIZE = 100
const N_SEQ = 2000
const N_BURST = 5000
const N_LAT = 500

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function payload(i: number): Uint8Array {
  const b = new Uint8Array(SIZE)
  new DataView(b.buffer).setUint32(0, i)
  return b
}

function seqOf(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0)
}

/** Throughput and latency for one path: `publish(i)` sends message i, `onReceive` is fed seq numbers. */
interface Path {
  publish(i: number): Promise<void>
  received: number
  wait(n: number): Promise<void>
  lastArrival: Map<number, number>
}

async function measure(path: Path, label: string): Promise<{ seq: number; burst: number; p50: number; p99: number }> {
  // Warm-up.
  let base = path.received
  for (let i = 0; i < 200; i++) await path.publish(i)
  await path.wait(base + 200)

  base = path.received
  let t0 = performance.now()
  for (let i = 0; i < N_SEQ; i++) await path.publish(i)
  await path.wait(base + N_SEQ)
  const seq = N_SEQ / ((performance.now() - t0) / 1000)

  base = path.received
  t0 = performance.now()
  await Promise.all(Array.from({ length: N_BURST }, (_, i) => path.publish(i)))
  await path.wait(base + N_BURST)
  const burst = N_BURST / ((performance.now() - t0) / 1000)

  const lat: number[] = []
  for (let i = 0; i < N_LAT; i++) {
    base = path.received
    const sent = performance.now()
    await path.publish(1_000_000 + i)
    await path.wait(base + 1)
    lat.push(path.lastArrival.get(1_000_000 + i)! - sent)
  }
  lat.sort((a, b) => a - b)
  const r = { seq, burst, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) }
  console.log(`  ${label.padEnd(28)} awaited ${r.seq.toFixed(0).padStart(7)} msg/s   burst ${r.burst.toFixed(0).padStart(7)} msg/s   latency p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms`)
  return r
}

function waiter(path: { received: number }): (n: number) => Promise<void> {
  return (n) => until(() => path.received >= n, 60_000, `${n} messages`)
}

export async function run(): Promise<void> {
  const a: Node = await startNode({ listen: 'ws://127.0.0.1:0', identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'] })
  const b: Node = await startNode({
    listen: 'ws://127.0.0.1:0',
    identity: await generateKeyPair('Ed25519'),
    p2p: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [a.multiaddrs[0]!],
  })
  const pubS = await connect(a.addr!)
  const subS = await connect(b.addr!)
  try {
    await until(() => b.libp2p.getConnections().length > 0, 15_000, 'the nodes to connect')
    console.log(`  ${SIZE}-byte messages, node A → node B on 127.0.0.1; ${N_SEQ} awaited, ${N_BURST} burst, ${N_LAT} for latency`)

    // Baseline: raw gossipsub between the same nodes.
    const rawTopic = '/bench/raw'
    const raw: Path = {
      received: 0,
      lastArrival: new Map(),
      publish: async (i) => {
        await a.libp2p.services.pubsub.publish(rawTopic, payload(i))
      },
      wait: async () => {},
    }
    raw.wait = waiter(raw)
    b.libp2p.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic !== rawTopic) return
      raw.received++
      const s = seqOf(e.detail.data)
      if (s >= 1_000_000) raw.lastArrival.set(s, performance.now())
    })
    b.libp2p.services.pubsub.subscribe(rawTopic)
    a.libp2p.services.pubsub.subscribe(rawTopic)
    await until(() => a.libp2p.services.pubsub.getSubscribers(rawTopic).some((p) => p.toString() === b.peer), 15_000, 'the raw mesh')
    const base = await measure(raw, 'raw gossipsub (baseline)')

    // ww: client of A → client of B.
    const topic = pubS.pubsub.join('bench')
    const ww: Path = {
      received: 0,
      lastArrival: new Map(),
      publish: (i) => topic.publish(payload(i)),
      wait: async () => {},
    }
    ww.wait = waiter(ww)
    const cursor = subS.pubsub.join('bench').subscribe()
    let dropped = 0
    void (async () => {
      for await (const m of cursor as AsyncIterable<Message>) {
        ww.received++
        dropped += m.dropped
        const s = seqOf(m.data)
        if (s >= 1_000_000) ww.lastArrival.set(s, performance.now())
      }
    })().catch(() => {})
    await until(() => b.pubsub.subscribers('bench') === 1, 15_000, 'the subscription')
    await until(() => a.libp2p.services.pubsub.getSubscribers(meshTopic('ww', 'bench')).some((p) => p.toString() === b.peer), 15_000, 'the ww mesh')
    const r = await measure(ww, 'ww client → ww client')
    cursor.cancel()

    console.log(
      `  ratios vs raw gossipsub: awaited ${(r.seq / base.seq).toFixed(2)}×, burst ${(r.burst / base.burst).toFixed(2)}×, ` +
        `latency p50 ${(r.p50 / base.p50).toFixed(2)}×, p99 ${(r.p99 / base.p99).toFixed(2)}×; dropped by the subscriber buffer: ${dropped}`,
    )
  } finally {
    await Promise.allSettled([pubS.close(), subS.close()])
    await Promise.allSettled([b.kill(), a.kill()])
  }
}
