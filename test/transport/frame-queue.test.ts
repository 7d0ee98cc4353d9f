import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FRAME_OVERHEAD, FrameQueue } from '../../src/transport/frame-queue.js'

function counted(init: { maxFrames: number; maxBytes: number; hardMaxBytes?: number }) {
  const events: string[] = []
  const q = new FrameQueue({
    hardMaxBytes: init.maxBytes * 4 + 4096,
    ...init,
    onPause: () => events.push('pause'),
    onResume: () => events.push('resume'),
  })
  return { q, events }
}

const f = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)

describe('FrameQueue', () => {
  it('pauses at maxFrames and resumes at half', async () => {
    const { q, events } = counted({ maxFrames: 4, maxBytes: 1000 })
    for (let i = 0; i < 3; i++) q.push(f(i))
    expect(events).toEqual([])
    q.push(f(3))
    expect(q.paused).toBe(true)
    expect(events).toEqual(['pause'])
    await q.next() // 3 left
    expect(events).toEqual(['pause'])
    await q.next() // 2 left: half
    expect(events).toEqual(['pause', 'resume'])
    expect(q.paused).toBe(false)
  })

  it('pauses at maxBytes and resumes at half', async () => {
    const { q, events } = counted({ maxFrames: 100, maxBytes: 10 })
    q.push(new Uint8Array(6))
    q.push(new Uint8Array(4))
    expect(events).toEqual(['pause'])
    expect(q.bytes).toBe(10)
    await q.next() // 4 bytes left, <= 5
    expect(events).toEqual(['pause', 'resume'])
  })

  it('accepts frames past the pause threshold up to the hard bound, then refuses', () => {
    const { q } = counted({ maxFrames: 1, maxBytes: 0, hardMaxBytes: 3 * FRAME_OVERHEAD + 30 })
    expect(q.push(new Uint8Array(10))).toBe(true)
    expect(q.push(new Uint8Array(10))).toBe(true)
    expect(q.push(new Uint8Array(10))).toBe(true)
    expect(q.push(new Uint8Array(0))).toBe(false)
    expect(q.length).toBe(3)
  })

  it('bounds a flood of empty frames through the per-frame overhead', () => {
    const { q } = counted({ maxFrames: 1, maxBytes: 0, hardMaxBytes: 10 * FRAME_OVERHEAD })
    let accepted = 0
    while (q.push(new Uint8Array(0)) && accepted < 1000) accepted++
    expect(accepted).toBe(10)
  })

  it('hands a frame straight to a waiting reader', async () => {
    const { q, events } = counted({ maxFrames: 1, maxBytes: 10 })
    const pending = q.next()
    q.push(f(7))
    expect((await pending).value).toEqual(f(7))
    expect(q.length).toBe(0)
    expect(events).toEqual([])
  })

  it('end(): queued frames first, then the error once, then done', async () => {
    const { q } = counted({ maxFrames: 10, maxBytes: 100 })
    q.push(f(1))
    q.push(f(2))
    const boom = new Error('boom')
    q.end(boom)
    expect(q.push(f(3))).toBe(true) // ignored
    expect((await q.next()).value).toEqual(f(1))
    expect((await q.next()).value).toEqual(f(2))
    await expect(q.next()).rejects.toBe(boom)
    expect((await q.next()).done).toBe(true)
  })

  it('end() without error wakes a waiting reader with done', async () => {
    const { q } = counted({ maxFrames: 10, maxBytes: 100 })
    const a = q.next()
    const b = q.next()
    q.end()
    expect((await a).done).toBe(true)
    expect((await b).done).toBe(true)
  })

  it('fail(): drops queued frames and rejects the waiting reader', async () => {
    const { q } = counted({ maxFrames: 10, maxBytes: 100 })
    q.push(f(1))
    const boom = new Error('boom')
    q.fail(boom)
    expect(q.length).toBe(0)
    await expect(q.next()).rejects.toBe(boom)
    const { q: q2 } = counted({ maxFrames: 10, maxBytes: 100 })
    const waiting = q2.next()
    q2.fail(boom)
    await expect(waiting).rejects.toBe(boom)
  })

  it('rejects nonsensical limits', () => {
    expect(() => new FrameQueue({ maxFrames: 0, maxBytes: 1, hardMaxBytes: 1 })).toThrow(RangeError)
    expect(() => new FrameQueue({ maxFrames: 1, maxBytes: 10, hardMaxBytes: 5 })).toThrow(RangeError)
  })

  it('keeps FIFO order, alternates pause/resume, and pauses whenever a threshold is reached', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 64 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constant(-1)), { maxLength: 200 }),
        async (maxFrames, maxBytes, ops) => {
          const { q, events } = counted({ maxFrames, maxBytes, hardMaxBytes: 1 << 20 })
          let pushed = 0
          let read = 0
          for (const op of ops) {
            if (op >= 0) {
              const frame = new Uint8Array(Math.max(op, 4))
              new DataView(frame.buffer).setUint32(0, pushed++)
              expect(q.push(frame)).toBe(true)
              if (q.length >= maxFrames || q.bytes >= maxBytes) expect(q.paused).toBe(true)
            } else if (q.length > 0) {
              const r = await q.next()
              expect(new DataView((r.value as Uint8Array).buffer).getUint32(0)).toBe(read++)
            }
          }
          events.forEach((e, i) => expect(e).toBe(i % 2 === 0 ? 'pause' : 'resume'))
          expect(q.paused).toBe(events.length % 2 === 1)
        },
      ),
      { numRuns: 200 },
    )
  })
})
