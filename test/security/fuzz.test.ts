/**
 * A fuzzer against a real server over real WebSockets: thousands of random, structured and
 * mutated frames. Every frame is followed by a probe call; the node must answer the probe
 * (the frame was harmless or answered per call) or send an `error` frame with a documented
 * code and close that connection. Every code the node sends anywhere must be listed in
 * docs/errors.md, and the node must keep serving an honest client throughout.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { encode } from '@msgpack/msgpack'
import { connect } from '../../src/proto/client/client.js'
import type { NodeFrame } from '../../src/proto/wire/frames.js'
import { filledTable, RawClient, serveTable } from '../proto/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const DOCUMENTED = new Set([...readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8').matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!))
const PROBE_BASE = 4_000_000_000

const ALL = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }
const VALID: Record<string, unknown>[] = [
  { t: 'call', id: 1, cap: 0, m: 'iter', a: { q: ALL }, window: 4096 },
  { t: 'call', id: 2, cap: 0, m: 'lookup', a: { q: { ...ALL, op: 'lookup', selector: { kind: 'match', index: { field: 'host', value: 'host-00', prefix: true } } } } },
  { t: 'call', id: 3, cap: 0, m: 'values', a: { index: { field: 'meta', key: 'region' }, prefix: 'us', limit: 5 } },
  { t: 'call', id: 4, cap: 0, m: 'reverse', a: {}, bind: 7 },
  { t: 'call', id: 5, cap: 1, m: 'join', a: { topic: 'fuzz' }, bind: 8 },
  { t: 'credit', id: 1, consumed: 0, window: 65536 },
  { t: 'cancel', id: 1 },
  { t: 'hello', v: 1 },
]

const scalar = fc.oneof(fc.integer(), fc.nat(), fc.double(), fc.string({ maxLength: 12 }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }))
const structured = fc.record(
  {
    t: fc.oneof(fc.constantFrom('hello', 'call', 'credit', 'cancel', 'batch', 'error'), fc.string({ maxLength: 8 })),
    id: fc.oneof(fc.nat(10), scalar),
    cap: fc.oneof(fc.nat(10), scalar),
    m: fc.oneof(fc.constantFrom('iter', 'lookup', 'values', 'reverse', 'release', 'join', 'publish', 'subscribe'), fc.string({ maxLength: 10 })),
    a: fc.oneof(fc.constant({ q: ALL }), fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }))),
    bind: fc.oneof(fc.nat(20), scalar),
    window: fc.oneof(fc.nat(), scalar),
    consumed: fc.oneof(fc.nat(1 << 20), scalar),
    v: fc.oneof(fc.constant(1), scalar),
  },
  { requiredKeys: ['t'] },
).map((f) => encode(f))
const mutated = fc
  .tuple(fc.constantFrom(...VALID.map((f) => encode(f))), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }))
  .map(([bytes, edits]) => {
    const b = [...bytes]
    for (const [at, x, op] of edits) {
      const i = b.length === 0 ? 0 : at % b.length
      if (op === 'set') b[i] = x
      else if (op === 'insert') b.splice(i, 0, x)
      else b.splice(i, 1)
    }
    return Uint8Array.from(b)
  })
const frame = fc.oneof(fc.uint8Array({ maxLength: 200 }), structured, mutated)

describe('fuzzing the node with frames', () => {
  it('thousands of random and mutated frames: each answered, or an error frame with a documented code and that connection closed; the node keeps serving', async () => {
    const server = await serveTable(filledTable(300))
    cleanups.push(() => server.close())
    const honest = await connect(server.url)
    cleanups.push(() => honest.close())

    let raw: RawClient | undefined
    let probe = PROBE_BASE
    const seen = { answered: 0, closed: 0, codes: new Map<string, number>() }
    const note = (code: string): void => {
      expect(DOCUMENTED.has(code), `${code} is not in docs/errors.md`).toBe(true)
      seen.codes.set(code, (seen.codes.get(code) ?? 0) + 1)
    }

    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (bytes, afterHello) => {
        if (raw === undefined || !afterHello) {
          raw?.close()
          raw = afterHello ? (await RawClient.hello(server.url)).raw : await RawClient.open(server.url)
        }
        const r = raw
        r.sendBytes(bytes)
        const id = probe++
        try {
          r.send({ t: 'call', id, cap: 0, m: 'values', a: { index: { field: 'host' }, limit: 1 } })
        } catch {
          // the node already closed this connection: its error frame is still to be read
        }
        for (;;) {
          let f: NodeFrame
          try {
            f = await r.read()
          } catch (err) {
            // Closed without an error frame: only allowed for transport-level refusals,
            // which always come with an error frame from the node first. Fail loudly.
            throw new Error(`connection ended without an error frame after ${Buffer.from(bytes).toString('hex')}: ${(err as Error).message}`)
          }
          if (f.t === 'error') {
            note(f.code)
            expect(await r.ended(5000)).toBe(true)
            seen.closed++
            raw = undefined
            return
          }
          if ((f.t === 'result' || f.t === 'end') && f.error !== undefined) note(f.error.code)
          if (f.t === 'welcome' && !afterHello) {
            // The fuzzed frame was a valid hello: the probe is now answered too.
            continue
          }
          if (f.t === 'result' && f.id === id) {
            seen.answered++
            return
          }
        }
      }),
      { numRuns: 2000 },
    )
    raw?.close()
    // Both outcomes were exercised, and the node still serves.
    expect(seen.answered).toBeGreaterThan(20)
    expect(seen.closed).toBeGreaterThan(100)
    expect(await honest.view.iter('LIMIT 5').toArray()).toHaveLength(5)
    const late = await connect(server.url)
    cleanups.push(() => late.close())
    expect(await late.view.iter().toArray()).toHaveLength(300)
    if (process.env.WW_MEASURE) console.log(seen)
  }, 240_000)
})
