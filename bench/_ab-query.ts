/**
 * The query path before and after a change, interleaved in one process (not part of `npm run
 * bench`): BASE is a directory holding an older `src/` (e.g. `git archive <commit> src | tar
 * -x -C /tmp/base`, with node_modules linked beside it); this tree's src/ is "after". Both
 * tables hold the same records (those of bench/planner.ts); each step is timed in turn on
 * A and B, alternating which goes first, and the medians are printed with the ratio of an
 * array filter + sort of the same records to each.
 * Run: `BASE=/tmp/base npx tsx --expose-gc bench/_ab-query.ts [records] [step filter]`.
 */
import { loadavg } from 'node:os'
import * as B from '../src/table/table.js'
import * as LB from '../src/lang/index.js'
import { benchPeer } from './_ids.js'

const base = process.env.BASE
if (base === undefined) throw new Error('set BASE to a directory holding the older src/')
const A = (await import(`${base}/src/table/table.js`)) as typeof B
const LA = (await import(`${base}/src/lang/index.js`)) as typeof LB
const N = Number(process.argv[2] ?? 1_000_000)
const peer = (i: number): string => benchPeer(i, { digits: 8, pad: 'x'.repeat(36), tail: '' })
const records: Array<{ host: string; peer: string }> = []
const ta = new A.RoutingTable({ now: () => 1_000, sweep: false })
const tb = new B.RoutingTable({ now: () => 1_000, sweep: false })
for (let i = 0; i < N; i++) {
  const r = { peer: peer(i), server: (i + 1).toString(16).padStart(16, '0'), seq: 1, ttl: 86_400_000, host: `web-${i}`, meta: { role: i % 10_000 === 0 ? 'db' : 'web', zone: `z${i % 4}` } }
  records.push(r); ta.upsert(r); tb.upsert(r)
}
const q = 'ls WHERE host=web-1234*'
const q1 = q + ' LIMIT 1'
type Case = [string, () => unknown, () => unknown]
const sa = LA.parseQuery(q), sb = LB.parseQuery(q), sa1 = LA.parseQuery(q1), sb1 = LB.parseQuery(q1)
const drain = (g: Iterator<unknown>) => { let n = 0; while (!g.next().done) n++; return n }
const cases: Case[] = [
  ['parseQuery (cache hit)', () => LA.parseQuery(q), () => LB.parseQuery(q)],
  ['snapshot() + release()', () => ta.snapshot().release(), () => tb.snapshot().release()],
  ['table.scan(s LIMIT 1): first record (fixed cost)', () => drain(ta.scan(sa1)), () => drain(tb.scan(sb1))],
  ['table.scan(s) drained, sync (111 rows)', () => drain(ta.scan(sa)), () => drain(tb.scan(sb))],
  ['table.query(q LIMIT 1), for await', async () => { for await (const _ of ta.query(q1)); }, async () => { for await (const _ of tb.query(q1)); }],
  ['table.query(q), for await (111 rows)', async () => { let n = 0; for await (const _ of ta.query(q)) n++; return n }, async () => { let n = 0; for await (const _ of tb.query(q)) n++; return n }],
  ['table.query(q), next() loop', async () => { const c = ta.query(q); let n = 0; while ((await c.next()) !== undefined) n++; return n }, async () => { const c = tb.query(q); let n = 0; while ((await c.next()) !== undefined) n++; return n }],
  ['table.query(q).batches() (B only)', () => 0, async () => { let n = 0; for await (const b of tb.query(q).batches()) n += b.length; return n }],
  ['table.query(q).toArray()', () => ta.query(q).toArray(), () => tb.query(q).toArray()],
]
const only = process.argv[3]
const R = Number(process.env.R ?? 2000), ROUNDS = Number(process.env.ROUNDS ?? 7)
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
async function timeIt(f: () => unknown, runs: number): Promise<number> {
  for (let i = 0; i < 100; i++) await f()
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) await f()
  return ((performance.now() - t0) / runs) * 1000
}
const naiveRuns: number[] = []
const naive = () => { const out = records.filter((r) => r.host.startsWith('web-1234')); out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.peer < b.peer ? -1 : 1)); return out.length }
const res = new Map<string, { a: number[]; b: number[] }>()
for (let k = 0; k < ROUNDS; k++) {
  for (const [l, fa, fb] of cases) {
    if (only !== undefined && !l.includes(only)) continue
    const e = res.get(l) ?? { a: [], b: [] }; res.set(l, e)
    if (k % 2 === 0) { e.a.push(await timeIt(fa, R)); e.b.push(await timeIt(fb, R)) } else { e.b.push(await timeIt(fb, R)); e.a.push(await timeIt(fa, R)) }
  }
  naiveRuns.push(await timeIt(naive, 2))
}
const nv = med(naiveRuns)
console.log(`records ${N}, rounds ${ROUNDS}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
console.log(`baseline array filter+sort: median ${(nv / 1000).toFixed(1)} ms`)
console.log(`${'step'.padEnd(52)} ${'before µs'.padStart(10)} ${'after µs'.padStart(10)}   ratio-to-baseline before/after`)
for (const [l, e] of res) console.log(`${l.padEnd(52)} ${med(e.a).toFixed(2).padStart(10)} ${med(e.b).toFixed(2).padStart(10)}   ${(nv / med(e.a)).toFixed(0)}× / ${(nv / med(e.b)).toFixed(0)}×`)
