/**
 * Routing table benchmark (docs/benchmarks.md). For tables of 10k, 100k and 1M records with realistic
 * hosts (node-0001234.us-east-1.example.com) and meta (region, role, az, version):
 * - `WHERE host=<prefix>*` returning 100 records vs a full-scan filter-and-sort of the same
 *   records (ratio; at 1M the indexed query must be ≥ 1000× faster);
 * - time to first record (snapshot + first match) at each size, ratio against 10k;
 * - upserts/s with every index vs a bare `Map.set` of the same records (ratio), and
 *   heartbeat updates/s (newer seq, same fields) vs `Map.set` of the same heartbeats into the
 *   Map that holds the table's records (ratio; median of 3 rounds);
 * - heap bytes per record with all indexes (needs --expose-gc);
 * - `values` (what the node answers completion with) on 1 000 peers × 64 meta keys of their
 *   own (64 000 keys in use): the table's kept sorted indexes against the old cost shape,
 *   which sorted every key in use on each call (200 calls, as a client completing would).
 * `TABLE_BENCH=values` runs only the last one.
 */
import { RoutingTable } from '../src/table/table.js'
import type { RoutingRecord } from '../src/record/record.js'
import type { Statement } from '../src/lang/ast.js'

const SIZES = [10_000, 100_000, 1_000_000]
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-south-1', 'sa-east-1']
const ROLES = ['web', 'api', 'db', 'cache']
const AZS = ['a', 'b', 'c']
const VERSIONS = Array.from({ length: 10 }, (_, i) => `1.4.${i}`)
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

// Strings as a decoder would make them: flat, not cons-strings of the template parts, so the
// heap figure is what a real node holds.
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1')
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

// Record i of a table: deterministic in (i, seed), so the Map baseline can regenerate exactly
// the records the table took without either side holding a million inputs at once.
function makeRecord(i: number, rand: () => number): RoutingRecord {
  let peer = '12D3KooW'
  for (let j = 0; j < 44; j++) peer += B58[Math.floor(rand() * 58)]
  const region = REGIONS[i % REGIONS.length] as string
  return {
    peer: flat(peer),
    server: flat(Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0')),
    seq: 1_700_000_000_000_000 + i,
    ttl: 86_400_000, // nothing expires during the run
    host: flat(`node-${String(i).padStart(7, '0')}.${region}.example.com`),
    meta: { region, role: ROLES[i % 4] as string, az: AZS[i % 3] as string, version: VERSIONS[i % 10] as string },
  }
}

const CHUNK = 10_000

// Feeds records 0…n-1 to `sink` in chunks, timing only `sink`; returns the total ms.
function feed(n: number, seed: number, sink: (r: RoutingRecord) => void): number {
  const rand = rng(seed)
  let ms = 0
  const chunk: RoutingRecord[] = new Array(CHUNK)
  for (let i = 0; i < n; i += CHUNK) {
    const m = Math.min(CHUNK, n - i)
    for (let j = 0; j < m; j++) chunk[j] = makeRecord(i + j, rand)
    const t0 = process.hrtime.bigint()
    for (let j = 0; j < m; j++) sink(chunk[j] as RoutingRecord)
    ms += Number(process.hrtime.bigint() - t0) / 1e6
  }
  return ms
}

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = process.hrtime.bigint()
  const value = fn()
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value }
}

// Median of `reps` timings of fn, in ms.
function median(reps: number, fn: () => void): number {
  const ts: number[] = []
  for (let i = 0; i < reps; i++) ts.push(time(fn).ms)
  ts.sort((a, b) => a - b)
  return ts[Math.floor(ts.length / 2)] as number
}

const hostPrefix = (n: number): string => `node-${String(Math.floor(n / 200) * 100).padStart(7, '0').slice(0, 5)}`
const whereHost = (prefix: string): Statement => ({
  op: 'ls',
  selector: { kind: 'match', index: { field: 'host', value: prefix, prefix: true } },
  constraints: [],
  reverse: false,
})

const fmt = (x: number, d = 1): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

// Distinct meta keys per peer: an attacker (or a careless deployment) puts its own keys on
// every record, so the keys in use grow with peers × keys.
function keyedRecord(i: number, keys: number): RoutingRecord {
  const meta: Record<string, string> = {}
  for (let k = 0; k < keys; k++) meta[`p${String(i).padStart(4, '0')}-k${String(k).padStart(2, '0')}`] = 'v'
  const peer = `12D3KooW${String(i).padStart(6, '0').replace(/\d/g, (d) => B58[Number(d) + 1] as string)}`
  return { peer, server: '0000000000000001', seq: 1, ttl: 86_400_000, host: `node-${i}.example.com`, meta }
}

// The shape of the old `values({field: 'meta'}, prefix, limit)`: every key in use, sorted,
// then filtered by the prefix until `limit` (its liveness check left out: a lower bound).
function sortEveryKey(keys: Iterable<string>, prefix: string, limit: number): string[] {
  const out: string[] = []
  for (const k of [...keys].sort()) {
    if (!k.startsWith(prefix)) continue
    out.push(k)
    if (out.length >= limit) break
  }
  return out
}

/** `values` with a kept sorted index against sorting every meta key per call. */
export function runValues(peers = 1_000, keys = 64, calls = 200): void {
  const table = new RoutingTable({ sweep: false })
  const all: string[] = []
  for (let i = 0; i < peers; i++) {
    const r = keyedRecord(i, keys)
    table.upsert(r)
    all.push(...Object.keys(r.meta))
  }
  const cases: Array<{ name: string; prefix: string; limit: number }> = [
    { name: "meta keys, first page (prefix '', limit 100)", prefix: '', limit: 100 },
    { name: "meta keys of one peer (prefix 'p0500-', limit 100)", prefix: 'p0500-', limit: 100 },
    { name: 'meta keys, every one (limit 10 000, the node’s clamp)', prefix: '', limit: 10_000 },
  ]
  console.log(`\n-- values: ${peers.toLocaleString('en-US')} peers × ${keys} meta keys of their own (${all.length.toLocaleString('en-US')} keys in use), ${calls} calls`)
  // Through a snapshot, right after a write that changes an indexed field (so the frozen
  // indexes are stale and each call freezes them again), released at once.
  let w = 0
  const throughSnapshot = (prefix: string, limit: number): void => {
    w++
    table.upsert({ ...keyedRecord(peers + (w % 50), 1), seq: w, host: `moved-${w}` })
    using s = table.snapshot()
    s.values({ field: 'meta' }, prefix, limit)
  }
  // Warm-up: the first calls would otherwise time the JIT, not the work.
  for (let i = 0; i < 100; i++) {
    for (const c of cases) {
      table.values({ field: 'meta' }, c.prefix, c.limit)
      throughSnapshot(c.prefix, c.limit)
    }
  }
  for (const c of cases) {
    const want = sortEveryKey(all, c.prefix, c.limit)
    const got = table.values({ field: 'meta' }, c.prefix, c.limit)
    if (got.length !== want.length || got.some((k, i) => k !== want[i])) throw new Error(`bench: values disagree for ${c.name}`)
    const kept = time(() => {
      for (let i = 0; i < calls; i++) table.values({ field: 'meta' }, c.prefix, c.limit)
    }).ms
    const snap = time(() => {
      for (let i = 0; i < calls; i++) throughSnapshot(c.prefix, c.limit)
    }).ms
    const old = time(() => {
      for (let i = 0; i < calls; i++) sortEveryKey(all, c.prefix, c.limit)
    }).ms
    console.log(
      `${c.name}: kept index ${fmt((kept / calls) * 1000, 0)} µs/call (${fmt(kept)} ms for ${calls}); snapshot after a write ${fmt((snap / calls) * 1000, 0)} µs/call; sort every key ${fmt((old / calls) * 1000, 0)} µs/call (${fmt(old)} ms for ${calls}) → ${fmt(old / kept, 0)}×`,
    )
  }
  table.close()
}

export async function run(): Promise<void> {
  runValues()
  if (process.env.TABLE_BENCH === 'values') return
  const hasGc = typeof (globalThis as { gc?: unknown }).gc === 'function'
  if (!hasGc) console.log('(no global.gc: run with --expose-gc for heap figures)')
  let ttfr10k = 0
  const started = Date.now()
  for (const n of SIZES) {
    const base = heap()
    // upserts with every index (the records are validated, copied and indexed)
    const table = new RoutingTable({ sweep: false })
    const up = feed(n, n, (r) => void table.upsert(r))
    const perRecord = (heap() - base) / n
    // the same records into a bare Map
    const map = new Map<string, RoutingRecord>()
    const ms = feed(n, n, (r) => void map.set(r.peer, r))
    // heartbeats: peers again with a newer seq, same fields (the steady state of a cluster),
    // against Map.set of the same records over the ones the Map holds; 3 rounds, medians
    const beats = Math.min(n, 20_000)
    const stored = [...table.snapshot().scan({ op: 'ls', selector: { kind: 'all' }, constraints: [{ kind: 'limit', n: beats }], reverse: false })]
    const hbRounds: number[] = []
    const hbMapRounds: number[] = []
    for (let round = 1; round <= 3; round++) {
      const hb = stored.map((r) => ({ ...r, meta: { ...r.meta }, seq: r.seq + round }))
      hbRounds.push(time(() => {
        for (const r of hb) table.upsert(r)
      }).ms)
      hbMapRounds.push(time(() => {
        for (const r of hb) map.set(r.peer, r)
      }).ms)
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1] as number
    const hbMs = med(hbRounds)
    const hbMapMs = med(hbMapRounds)
    const hbRatio = med(hbRounds.map((x, i) => x / (hbMapRounds[i] as number)))
    stored.length = 0
    map.clear()

    // indexed prefix query vs a full scan of the same records
    const prefix = hostPrefix(n)
    const q = whereHost(prefix)
    const all = [...table.snapshot().scan({ op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false })]
    let got = 0
    const idxMs = median(101, () => {
      got = [...table.snapshot().scan(q)].length
    })
    let scanned = 0
    const scanMs = median(n >= 1_000_000 ? 3 : 11, () => {
      const hits = all.filter((r) => r.host.startsWith(prefix))
      hits.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.peer < b.peer ? -1 : 1))
      scanned = hits.length
    })
    all.length = 0
    if (got !== scanned || got !== 100) throw new Error(`bench: expected 100 hits, indexed ${got}, scan ${scanned}`)

    // time to first record: a fresh snapshot (a write in between defeats the clone cache) and
    // the first match of a prefix query, forward and reverse
    let w = 0
    const rand = rng(99)
    const extra = Array.from({ length: 2000 }, (_, i) => makeRecord(n + i, rand))
    const firstMs = median(501, () => {
      const g = table.snapshot().scan(q)
      if (g.next().done === true) throw new Error('bench: no first record')
    })
    const after: number[] = []
    for (let i = 0; i < 201; i++) {
      table.upsert(extra[w++ % extra.length]) // not timed: it only makes the clone cache stale
      after.push(
        time(() => {
          const g = table.snapshot().scan({ ...q, reverse: true })
          if (g.next().done === true) throw new Error('bench: no first record')
        }).ms,
      )
    }
    after.sort((a, b) => a - b)
    const ttfrMs = after[100] as number
    if (n === SIZES[0]) ttfr10k = firstMs

    console.log(`\n-- ${n.toLocaleString('en-US')} records`)
    console.log(`WHERE host=${prefix}* (100 records): indexed ${fmt(idxMs * 1000)} µs, full scan ${fmt(scanMs)} ms → ${fmt(scanMs / idxMs, 0)}× faster`)
    console.log(`time to first record: ${fmt(firstMs * 1000, 2)} µs (snapshot + first match; ${fmt(firstMs / ttfr10k, 2)}× the 10k figure); right after a write (fresh clones), reverse: ${fmt(ttfrMs * 1000, 2)} µs`)
    console.log(`upserts: ${fmt(n / (up / 1000), 0)}/s with all indexes vs Map.set ${fmt(n / (ms / 1000), 0)}/s → ${fmt(up / ms)}× slower`)
    console.log(`heartbeats (newer seq, same fields): ${fmt(beats / (hbMs / 1000), 0)}/s vs Map.set ${fmt(beats / (hbMapMs / 1000), 0)}/s → ${fmt(hbRatio)}× slower`)
    if (hasGc) console.log(`heap: ${fmt(perRecord, 0)} bytes per record (records, strings and every index)`)
    table.close()
  }
  console.log(`\n(table bench: ${fmt((Date.now() - started) / 1000, 0)} s wall)`)
}
