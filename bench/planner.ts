/**
 * The query path and the planner at 1 000 000 records (docs/benchmarks.md, "Query planner"):
 * 1. a repeated `table.query('ls WHERE host=<prefix>*')` (~111 matches) through the public
 *    API (read by `for await`, by `batches()`, and with LIMIT 1 for the fixed cost), against
 *    a plain array filter + sort of the same records;
 * 2. a two-predicate query whose second predicate is the selective one: the planner's
 *    choice (walk the selective index, sort) against walking the first predicate's index.
 * Run: `npm run bench -- planner`, or `npx tsx --expose-gc bench/planner.ts [records]` alone.
 */
import { loadavg } from 'node:os'
import { parseQuery } from '../src/lang/index.js'
import type { RoutingRecord } from '../src/record/record.js'
import { planWhere, runWhere } from '../src/table/plan.js'
import { RoutingTable } from '../src/table/table.js'
import { benchPeer } from './_ids.js'

// Run alone, an optional record count may follow the file name; under bench/run.ts the
// argument is the benchmark's name, so only a number counts.
const arg = Number(process.argv[2])
const N = Number.isSafeInteger(arg) && arg > 0 ? arg : 1_000_000
const peer = (i: number): string => benchPeer(i, { digits: 8, pad: 'x'.repeat(36), tail: '' })

async function time(label: string, runs: number, f: () => number | Promise<number>): Promise<number> {
  for (let i = 0; i < Math.min(runs, 50); i++) await f() // warm up
  const t0 = performance.now()
  let n = 0
  for (let i = 0; i < runs; i++) n += await f()
  const per = (performance.now() - t0) / runs
  console.log(`${label.padEnd(60)} ${(per * 1000).toFixed(1).padStart(10)} µs/query  (${n / runs} rows)`)
  return per
}

/** Builds the table and prints both comparisons (called by bench/run.ts, or below when run alone). */
export async function run(): Promise<void> {
  const records: RoutingRecord[] = []
  const table = new RoutingTable({ now: () => 1_000, sweep: false })
  for (let i = 0; i < N; i++) {
    const r: RoutingRecord = {
      peer: peer(i),
      server: (i + 1).toString(16).padStart(16, '0'),
      seq: 1,
      ttl: 86_400_000,
      host: `web-${i}`,
      meta: { role: i % 10_000 === 0 ? 'db' : 'web', zone: `z${i % 4}` },
    }
    records.push(r)
    table.upsert(r)
  }

  const q1 = 'ls WHERE host=web-1234*'
  // The public API three ways (every one through table.query, parse cache warm), each
  // against the same baseline: `for await` (a promise per record), `batches()` (the records
  // a batch holds in one promise) and LIMIT 1 (the fixed cost of a query).
  const naive = await time('array filter + sort of the same records', 5, () => {
    const out = records.filter((r) => r.host.startsWith('web-1234'))
    out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.peer < b.peer ? -1 : 1))
    return out.length
  })
  const api = await time(`table.query('${q1}'), for await`, 2000, async () => {
    let n = 0
    for await (const _ of table.query(q1)) n++
    return n
  })
  const batched = await time(`table.query('${q1}').batches()`, 2000, async () => {
    let n = 0
    for await (const b of table.query(q1).batches()) n += b.length
    return n
  })
  const fixed = await time(`table.query('${q1} LIMIT 1'), for await`, 2000, async () => {
    let n = 0
    for await (const _ of table.query(`${q1} LIMIT 1`)) n++
    return n
  })
  console.log(`ratio: for await ${(naive / api).toFixed(0)}×, batches() ${(naive / batched).toFixed(0)}× (target ≥ 1000×), LIMIT 1 ${(naive / fixed).toFixed(0)}×  (load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})`)

  const q2 = parseQuery('ls WHERE zone=z0 AND role=db')
  const snap = table.snapshot() as unknown as { treeOf(ref: unknown): never; at: number; gen: number }
  const source = { tree: (ref: never) => snap.treeOf(ref) }
  const chosen = planWhere(source, q2)
  console.log(`planner chose: ${chosen.plan.kind} via ${JSON.stringify(chosen.plan.via)} (estimate ${chosen.plan.estimate}, ordered ${chosen.plan.orderedEstimate})`)
  const planned = await time('planner (zone=z0 AND role=db)', 200, () => {
    let n = 0
    for (const _ of runWhere(source, planWhere(source, q2), snap.at, snap.gen, undefined)) n++
    return n
  })
  const first = await time("first predicate's index (ordered walk of zone=z0)", 3, () => {
    let n = 0
    for (const _ of runWhere(source, planWhere(source, q2, 'ordered'), snap.at, snap.gen, undefined)) n++
    return n
  })
  console.log(`ratio: ${(first / planned).toFixed(0)}×`)
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
