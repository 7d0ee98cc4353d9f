/**
 * Transport throughput: one connection, client → server, N frames of a given size, timed until
 * the server has read the last one. Baseline: the bare `ws` package over the same loopback
 * (same backpressure rule: wait when more than 1 MiB is buffered), so the ratio is the cost of
 * the ww transport layer on top of it. The memory transport is shown for scale.
 */
import { WebSocket, WebSocketServer } from 'ws'
import { memoryTransport, MemoryNetwork } from '../src/transport/memory.js'
import type { Transport } from '../src/transport/types.js'
import { webSockets } from '../src/transport/ws.js'

const CASES = [
  { size: 64, count: 50_000 },
  { size: 4096, count: 10_000 },
  { size: 65536, count: 2_000 },
]

async function viaTransport(t: Transport, listenUrl: string, size: number, count: number): Promise<number> {
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const listener = await t.listen(listenUrl, (conn) => {
    void (async () => {
      let n = 0
      for await (const _ of conn) if (++n === count) done()
    })().catch(() => {})
  })
  const client = await t.connect(listener.url)
  const frame = new Uint8Array(size).fill(7)
  const start = performance.now()
  for (let i = 0; i < count; i++) if (!client.send(frame)) await client.onDrain()
  await finished
  const ms = performance.now() - start
  client.abort(new Error('bench done'))
  await listener.close()
  return ms
}

async function viaRawWs(size: number, count: number): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await new Promise((r) => wss.once('listening', r))
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  wss.on('connection', (ws) => {
    let n = 0
    ws.on('message', () => {
      if (++n === count) done()
    })
  })
  const port = (wss.address() as { port: number }).port
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
  await new Promise((r) => ws.once('open', r))
  const frame = new Uint8Array(size).fill(7)
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    if (ws.bufferedAmount >= 1 << 20) await new Promise<void>((r) => ws.send(frame, { binary: true }, () => r()))
    else ws.send(frame, { binary: true })
  }
  await finished
  const ms = performance.now() - start
  ws.terminate()
  for (const c of wss.clients) c.terminate()
  await new Promise((r) => wss.close(r))
  return ms
}

function rate(size: number, count: number, ms: number): string {
  const mbs = (size * count) / (1 << 20) / (ms / 1000)
  const fps = count / (ms / 1000)
  return `${fps.toFixed(0).padStart(8)} frames/s ${mbs.toFixed(1).padStart(7)} MiB/s`
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

/** Rounds per case; the median is reported (the machine is shared, single runs are noisy). */
const ROUNDS = 5

export async function run(): Promise<void> {
  const ws = webSockets()
  const mem = memoryTransport({ network: new MemoryNetwork(), frameLog: 0 })
  for (const { size, count } of CASES) {
    // Warm-up, then rounds interleaved so a busy moment hits all three alike.
    await viaRawWs(size, Math.min(count, 2000))
    await viaTransport(ws, 'ws://127.0.0.1:0', size, Math.min(count, 2000))
    const raw: number[] = []
    const ours: number[] = []
    const memory: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(await viaRawWs(size, count))
      ours.push(await viaTransport(ws, 'ws://127.0.0.1:0', size, count))
      memory.push(await viaTransport(mem, 'memory://', size, count))
    }
    const [b, o, m] = [median(raw), median(ours), median(memory)]
    console.log(`frames of ${size} B × ${count} (median of ${ROUNDS})`)
    console.log(`  raw ws (baseline)   ${rate(size, count, b)}`)
    console.log(`  ww ws transport     ${rate(size, count, o)}   ${(b / o).toFixed(2)}× baseline throughput`)
    console.log(`  ww memory transport ${rate(size, count, m)}   ${(b / m).toFixed(2)}× baseline throughput`)
  }
}
