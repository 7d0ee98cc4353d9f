// The batch path of Cursor (nextBatch, batches) against the one-value-at-a-time paths: for
// random tables and queries, and for asynchronous sources that have values ready or not at
// random, every path yields the same values in the same order and ends the same way; and a
// consumer that stops in the middle of a batch frees what the stream held.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Cursor } from '../src/iter.js'
import type { RoutingRecord } from '../src/record/record.js'
import { RoutingTable } from '../src/table/table.js'
import { connect } from '../src/proto/client/client.js'
import { filledTable, serveTable } from './proto/helpers.js'

const P = (s: string): string => `12D3KooW${s}`
const PEERS = ['A', 'B', 'AB', 'BA', 'C', 'CA', 'D', 'DB', 'E', 'F', 'G', 'H'].map(P)
const VALUES = ['a', 'ab', 'abc', 'b', 'ba']

const arbRecord = fc.record({
  peer: fc.constantFrom(...PEERS),
  server: fc.constantFrom('000000000000000a', '000000000000000b'),
  seq: fc.integer({ min: 1, max: 3 }),
  ttl: fc.constantFrom(5, 1000),
  host: fc.constantFrom('', ...VALUES),
  meta: fc.dictionary(fc.constantFrom('region', 'role'), fc.constantFrom(...VALUES), { maxKeys: 2 }),
})

// Queries of every form the engine runs: the original range walks and the planner's.
const arbQuery = fc.constantFrom(
  'ls',
  'ls REVERSE',
  'ls LIMIT 3',
  'ls WHERE host=a*',
  'ls WHERE host=a* REVERSE LIMIT 2',
  'ls FROM host=ab',
  'ls TO region=b*',
  'ls WHERE region=a* AND role!=b',
  'ls WHERE role IN (a, b*) AND host=*',
  'ls WHERE host!=* REVERSE',
  'lookup WHERE region=ab',
)

function tableOf(records: RoutingRecord[], now: { t: number }): RoutingTable {
  const t = new RoutingTable({ now: () => now.t, sweep: false })
  for (const r of records) t.upsert(r)
  return t
}

async function viaForAwait<T>(c: Cursor<T>): Promise<{ values: T[]; error: string | undefined }> {
  const values: T[] = []
  try {
    for await (const v of c) values.push(v)
  } catch (err) {
    return { values, error: (err as Error).message }
  }
  return { values, error: undefined }
}

async function viaNextBatch<T>(c: Cursor<T>, max: number): Promise<{ values: T[]; error: string | undefined; sizes: number[] }> {
  const values: T[] = []
  const sizes: number[] = []
  for (let guard = 0; guard < 10_000; guard++) {
    const b = await c.nextBatch(max)
    if (b.length === 0) break
    expect(b.length).toBeLessThanOrEqual(max)
    sizes.push(b.length)
    values.push(...b)
  }
  return { values, error: c.err()?.message, sizes }
}

async function viaBatches<T>(c: Cursor<T>, max: number): Promise<{ values: T[]; error: string | undefined }> {
  const values: T[] = []
  try {
    for await (const b of c.batches(max)) values.push(...b)
  } catch (err) {
    return { values, error: (err as Error).message }
  }
  return { values, error: undefined }
}

// A mix of next() and nextBatch(): the cursor's prefetched step must not be lost between them.
async function viaMixed<T>(c: Cursor<T>, plan: number[]): Promise<{ values: T[]; error: string | undefined }> {
  const values: T[] = []
  for (let i = 0; i < 10_000; i++) {
    const k = plan[i % plan.length]!
    if (k === 0) {
      const v = await c.next()
      if (v === undefined) break
      values.push(v)
    } else {
      const b = await c.nextBatch(k)
      if (b.length === 0) break
      values.push(...b)
    }
  }
  return { values, error: c.err()?.message }
}

describe('Cursor batches: the same values as for await', () => {
  it('over random tables and queries (sync source: one batch holds everything ready)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbRecord, { maxLength: 40 }),
        arbQuery,
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }),
        async (records, q, max, plan) => {
          const now = { t: 1000 }
          const t = tableOf(records, now)
          now.t = 1003 // some records (ttl 5) expire later, some are expired at read time
          const want = await viaForAwait(t.query(q))
          const batched = await viaNextBatch(t.query(q), max)
          expect(batched.values).toEqual(want.values)
          expect(batched.error).toBe(want.error)
          // A sync source is drained synchronously: every batch but the last is full.
          expect(batched.sizes.slice(0, -1).every((n) => n === max)).toBe(true)
          expect(await viaBatches(t.query(q), max)).toEqual(want)
          expect(await viaMixed(t.query(q), plan)).toEqual(want)
          const c = t.query(q)
          expect(await c.toArray()).toEqual(want.values)
          t.close()
        },
      ),
      { numRuns: 150 },
    )
  })

  it('over async sources that have values ready or not at random, ending cleanly or with an error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { maxLength: 30 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }),
        async (ready, fails, max, plan) => {
          // Value i is answered synchronously when ready[i], else by a promise a tick later;
          // after the values, a clean end or an error.
          const source = (): AsyncIterator<number> & { pulls: number } => {
            let i = 0
            const it = {
              pulls: 0,
              next(): IteratorResult<number> | Promise<IteratorResult<number>> {
                it.pulls++
                const k = i++
                const r = (): IteratorResult<number> => {
                  if (k < ready.length) return { done: false, value: k }
                  if (fails) throw new Error('source failed')
                  return { done: true, value: undefined }
                }
                if (ready[k] ?? false) return r()
                return new Promise((resolve, reject) => setImmediate(() => {
                  try {
                    resolve(r())
                  } catch (err) {
                    reject(err as Error)
                  }
                }))
              },
            }
            return it as unknown as AsyncIterator<number> & { pulls: number }
          }
          const want = await viaForAwait(new Cursor<number>(source()))
          expect(want.values).toEqual(ready.map((_, i) => i))
          expect(want.error).toBe(fails ? 'source failed' : undefined)
          const src = source()
          const batched = await viaNextBatch(new Cursor<number>(src), max)
          expect(batched.values).toEqual(want.values)
          expect(batched.error).toBe(want.error)
          // No value is asked for twice or skipped: one pull per value, one for the end.
          expect(src.pulls).toBe(ready.length + 1)
          expect(await viaBatches(new Cursor<number>(source()), max)).toEqual(want)
          expect(await viaMixed(new Cursor<number>(source()), plan)).toEqual(want)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('a source with takeReady: its ready values in one call, the same values and end as next() gives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 30 }), fc.boolean(), fc.integer({ min: 1, max: 7 }), async (ready, fails, max) => {
        // Values 0…n-1: value k is ready when ready[k], else a tick later; then the end or an error.
        const source = (bulk: boolean): AsyncIterator<number> & { bulkCalls: number } => {
          let i = 0
          const one = (): IteratorResult<number> => {
            const k = i++
            if (k < ready.length) return { done: false, value: k }
            if (fails) throw new Error('source failed')
            return { done: true, value: undefined }
          }
          const it = {
            bulkCalls: 0,
            next(): IteratorResult<number> | Promise<IteratorResult<number>> {
              if (i >= ready.length || (ready[i] ?? false)) return one()
              return new Promise((resolve, reject) => setImmediate(() => {
                try {
                  resolve(one())
                } catch (err) {
                  reject(err as Error)
                }
              }))
            },
            ...(bulk
              ? {
                  takeReady(out: number[], m: number): void {
                    it.bulkCalls++
                    // What next() would answer at once: ready values, then the error if it is next.
                    while (out.length < m && i < ready.length && ready[i] === true) out.push(one().value as number)
                    if (out.length < m && i >= ready.length && fails) one()
                  },
                }
              : {}),
          }
          return it as unknown as AsyncIterator<number> & { bulkCalls: number }
        }
        const want = await viaNextBatch(new Cursor<number>(source(false)), max)
        const src = source(true)
        expect(await viaNextBatch(new Cursor<number>(src), max)).toEqual(want)
        expect(want.values).toEqual(ready.map((_, k) => k))
        if (ready.length > 0) expect(src.bulkCalls).toBeGreaterThan(0)
      }),
      { numRuns: 150 },
    )
  })

  it('refuses a batch size that is not a whole number ≥ 1', async () => {
    const c = new Cursor([1, 2, 3])
    await expect(c.nextBatch(0)).rejects.toThrow(RangeError)
    await expect(c.nextBatch(1.5)).rejects.toThrow(RangeError)
    expect(() => c.batches(-1)).toThrow(RangeError)
    expect(await c.nextBatch(2)).toEqual([1, 2])
  })

  it('batches() can be started only once, and not after for await', async () => {
    const c = new Cursor([1, 2])
    for await (const _ of c) break
    await expect(c.batches().next()).rejects.toThrow(/only once/)
  })
})

// Versions a scan holds are cut once it ends: a weak reference to an old version's record
// tells whether the scan still held it.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 0))
  }
}

const tables: RoutingTable[] = []
afterEach(() => {
  for (const t of tables.splice(0)) t.close()
})

describe('stopping in the middle of a batch frees the stream', () => {
  it('a table query: break out of batches() releases the versions it held at once', async () => {
    const t = new RoutingTable({ now: () => 1000, sweep: false })
    tables.push(t)
    const rec = (p: string, seq: number): RoutingRecord => ({ peer: P(p), server: '000000000000000a', seq, ttl: 10_000, host: 'h', meta: {} })
    for (const p of PEERS) t.upsert(rec(p.slice(8), 1))
    // A peer the first batch does not hand out (the last in peer order): only the scan's hold
    // can keep its first version.
    const last = [...PEERS].sort().at(-1)!
    const old = new WeakRef(t.get(last)!)
    const c = t.query('ls', {})
    let seen = 0
    for await (const b of c.batches(3)) {
      seen += b.length
      break
    }
    expect(seen).toBe(3)
    expect(c.done).toBe(true)
    // The heartbeat makes version 2; had the broken-off scan kept its hold, version 1 stays.
    t.upsert(rec(last.slice(8), 2))
    await collect()
    expect(old.deref()).toBeUndefined()
  })

  it('a remote stream read in large batches returns its credit (a small window never stalls it)', async () => {
    const table = filledTable(20_000)
    tables.push(table)
    const server = await serveTable(table)
    const s = await connect(server.url, { window: { initial: 8 * 1024, max: 16 * 1024 } })
    try {
      const c = s.view.iter()
      let n = 0
      let biggest = 0
      for (let b = await c.nextBatch(100_000); b.length > 0; b = await c.nextBatch(100_000)) {
        n += b.length
        biggest = Math.max(biggest, b.length)
      }
      expect(c.err()).toBeUndefined()
      expect(n).toBe(20_000)
      // Everything buffered went in one call: more than one batch frame's worth at times.
      expect(biggest).toBeGreaterThan(1)
    } finally {
      await s.close()
      await server.close()
    }
  })

  it('a remote stream: break out of batches() mid-stream cancels it on the node', async () => {
    const table = filledTable(5000)
    tables.push(table)
    const server = await serveTable(table)
    const s = await connect(server.url)
    try {
      const all = await s.view.iter().toArray()
      expect(all).toHaveLength(5000)
      // The batch path over the wire yields what for await yields.
      const batched: RoutingRecord[] = []
      for await (const b of s.view.iter().batches(300)) batched.push(...b)
      expect(batched).toEqual(all)
      const c = s.view.iter()
      const first = await c.nextBatch(10)
      expect(first).toEqual(all.slice(0, first.length))
      for await (const _ of c.batches()) break
      expect(c.done).toBe(true)
      await vi.waitFor(() => expect(server.stats().streams, 'stream freed').toBe(0), { timeout: 5000 })
      const c2 = s.view.iter()
      await c2.nextBatch(5)
      c2.cancel()
      await vi.waitFor(() => expect(server.stats().streams, 'stream freed after cancel').toBe(0), { timeout: 5000 })
    } finally {
      await s.close()
      await server.close()
    }
  })
})
