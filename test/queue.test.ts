import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BoundedQueue } from '../src/queue.js'

describe('BoundedQueue', () => {
  it('is FIFO; poll answers at once while an item is held and with a promise only when it must wait', async () => {
    const q = new BoundedQueue<number>()
    q.push(1)
    q.push(2)
    expect(q.poll()).toEqual({ done: false, value: 1 })
    expect(await q.next()).toEqual({ done: false, value: 2 })
    const waiting = q.poll()
    expect(waiting).toBeInstanceOf(Promise)
    q.push(3)
    expect(await waiting).toEqual({ done: false, value: 3 })
    expect(q.length).toBe(0) // handed straight to the waiting read, never held
  })

  describe("overflow 'refuse'", () => {
    it('refuses past maxItems and keeps the queue unchanged', () => {
      const q = new BoundedQueue<number>({ maxItems: 2 })
      expect(q.push(1)).toBe(true)
      expect(q.push(2)).toBe(true)
      expect(q.push(3)).toBe(false)
      expect(q.length).toBe(2)
      expect([q.shift(), q.shift(), q.shift()]).toEqual([1, 2, undefined])
      expect(q.dropped).toBe(0)
    })

    it('refuses past maxSize, counting sizeOf plus itemOverhead per item', () => {
      const q = new BoundedQueue<Uint8Array>({ sizeOf: (b) => b.byteLength, maxSize: 30, itemOverhead: 5 })
      expect(q.push(new Uint8Array(10))).toBe(true) // 15
      expect(q.push(new Uint8Array(10))).toBe(true) // 30
      expect(q.push(new Uint8Array(0))).toBe(false) // 35 > 30: the overhead alone breaks it
      expect(q.size).toBe(20)
    })

    it('a waiting read takes an item however full the bounds are', async () => {
      const q = new BoundedQueue<number>({ maxItems: 1, maxSize: 0, sizeOf: () => 100 })
      const r = q.next()
      expect(q.push(9)).toBe(true)
      expect((await r).value).toBe(9)
    })
  })

  describe("overflow 'drop-oldest'", () => {
    it('drops the oldest to make room, reports each to onDrop and counts them', () => {
      const seen: number[] = []
      const q = new BoundedQueue<number>({ maxItems: 3, overflow: 'drop-oldest', onDrop: (x) => seen.push(x) })
      for (let i = 0; i < 6; i++) expect(q.push(i)).toBe(true)
      expect(seen).toEqual([0, 1, 2])
      expect(q.dropped).toBe(3)
      expect([q.shift(), q.shift(), q.shift()]).toEqual([3, 4, 5])
    })

    it('keeps an item larger than maxSize alone rather than losing it', () => {
      const q = new BoundedQueue<number>({ maxSize: 10, sizeOf: (x) => x, overflow: 'drop-oldest' })
      q.push(4)
      q.push(4)
      q.push(50)
      expect(q.length).toBe(1)
      expect(q.dropped).toBe(2)
      expect(q.shift()).toBe(50)
    })
  })

  describe('flow control', () => {
    it('pauses at pauseAt (items or size) and resumes at half of both', () => {
      const events: string[] = []
      const q = new BoundedQueue<number>({
        sizeOf: (x) => x,
        pauseAt: { items: 4, size: 100 },
        onPause: () => events.push('pause'),
        onResume: () => events.push('resume'),
      })
      for (let i = 0; i < 4; i++) q.push(1)
      expect(events).toEqual(['pause'])
      expect(q.paused).toBe(true)
      q.shift() // 3 held
      expect(events).toEqual(['pause'])
      q.shift() // 2 held: half
      expect(events).toEqual(['pause', 'resume'])
      q.push(100) // 1, 1, 100: the size passes 100
      expect(events).toEqual(['pause', 'resume', 'pause'])
      q.shift()
      q.shift()
      expect(events).toEqual(['pause', 'resume', 'pause']) // one item, but size 100 > 50
      q.shift()
      expect(events).toEqual(['pause', 'resume', 'pause', 'resume'])
    })

    it('honours an explicit resumeAt, and never resumes after the end', () => {
      const events: string[] = []
      const q = new BoundedQueue<number>({ pauseAt: { items: 4 }, resumeAt: { items: 0 }, onPause: () => events.push('pause'), onResume: () => events.push('resume') })
      for (let i = 0; i < 4; i++) q.push(i)
      q.shift()
      q.shift()
      q.shift()
      expect(events).toEqual(['pause'])
      q.shift()
      expect(events).toEqual(['pause', 'resume'])
      for (let i = 0; i < 4; i++) q.push(i)
      q.end()
      while (q.shift() !== undefined);
      expect(events).toEqual(['pause', 'resume', 'pause'])
    })
  })

  describe('ends', () => {
    it('end(err): held items first, then the error once, then done; later pushes ignored', async () => {
      const q = new BoundedQueue<number>()
      q.push(1)
      const boom = new Error('boom')
      q.end(boom)
      expect(q.push(2)).toBe(true)
      expect(q.ended).toBe(true)
      expect(await q.next()).toEqual({ done: false, value: 1 })
      await expect(q.next()).rejects.toBe(boom)
      expect(await q.next()).toEqual({ done: true, value: undefined })
      expect(q.poll()).toEqual({ done: true, value: undefined })
    })

    it('end(err) with reads waiting: the first gets the error, the others done', async () => {
      const q = new BoundedQueue<number>()
      const a = q.next()
      const b = q.next()
      const boom = new Error('boom')
      q.end(boom)
      await expect(a).rejects.toBe(boom)
      expect(await b).toEqual({ done: true, value: undefined })
    })

    it('fail(err): held items are dropped and the reader gets the error', async () => {
      const q = new BoundedQueue<number>({ sizeOf: () => 3 })
      q.push(1)
      q.push(2)
      const boom = new Error('boom')
      q.fail(boom)
      expect([q.length, q.size]).toEqual([0, 0])
      await expect(q.next()).rejects.toBe(boom)
      expect((await q.next()).done).toBe(true)
    })

    it('fail() after end() replaces the error while no read has reported the end', async () => {
      const q = new BoundedQueue<number>()
      q.push(1)
      q.end(new Error('first'))
      const second = new Error('second')
      q.fail(second)
      await expect(q.next()).rejects.toBe(second)
      q.fail(new Error('third')) // the end was reported: nothing changes
      expect((await q.next()).done).toBe(true)
    })

    it('return(): drops held items, settles a waiting read with done, calls onReturn once', async () => {
      let returned = 0
      const q = new BoundedQueue<number>({ onReturn: () => returned++ })
      const waiting = q.next()
      expect(await q.return()).toEqual({ done: true, value: undefined })
      expect(await waiting).toEqual({ done: true, value: undefined })
      expect(returned).toBe(1)
      await q.return()
      expect(returned).toBe(1)
      const q2 = new BoundedQueue<number>({ onReturn: () => returned++ })
      q2.push(1)
      q2.push(2)
      await q2.return()
      expect(q2.length).toBe(0)
      expect((await q2.next()).done).toBe(true)
      expect(q2.push(3)).toBe(true)
      expect(q2.length).toBe(0)
    })

    it('return() after the producer ended does not call onReturn, and hides a pending error', async () => {
      let returned = 0
      const q = new BoundedQueue<number>({ onReturn: () => returned++ })
      q.push(1)
      q.end(new Error('unread'))
      await q.return()
      expect(returned).toBe(0)
      expect((await q.next()).done).toBe(true)
    })

    it('for await … break returns the queue', async () => {
      let returned = 0
      const q = new BoundedQueue<number>({ onReturn: () => returned++ })
      q.push(1)
      q.push(2)
      for await (const x of q) {
        expect(x).toBe(1)
        break
      }
      expect(returned).toBe(1)
      expect(q.length).toBe(0)
    })
  })

  it('rejects nonsensical options', () => {
    expect(() => new BoundedQueue({ maxItems: 0 })).toThrow(RangeError)
    expect(() => new BoundedQueue({ maxSize: -1 })).toThrow(RangeError)
    expect(() => new BoundedQueue({ maxItems: 1.5 })).toThrow(RangeError)
    expect(() => new BoundedQueue({ itemOverhead: Number.NaN })).toThrow(RangeError)
    expect(() => new BoundedQueue({ pauseAt: { items: 0 } })).toThrow(RangeError)
    expect(() => new BoundedQueue({ overflow: 'grow' as never })).toThrow(RangeError)
  })

  it('property: never holds more than its bounds; pushed = taken + dropped + refused + held; FIFO', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom('refuse' as const, 'drop-oldest' as const),
        fc.array(fc.integer({ min: -1, max: 40 }), { maxLength: 300 }),
        (maxItems, maxSize, itemOverhead, overflow, ops) => {
          const q = new BoundedQueue<{ seq: number; size: number }>({ maxItems, maxSize, itemOverhead, overflow, sizeOf: (x) => x.size })
          let pushed = 0
          let taken = 0
          let refused = 0
          let last = -1
          for (const op of ops) {
            if (op >= 0) {
              if (!q.push({ seq: pushed++, size: op })) refused++
              expect(q.length).toBeLessThanOrEqual(maxItems)
              // drop-oldest keeps one oversized item alone; otherwise the size bound holds
              if (overflow === 'refuse' || q.length > 1) expect(q.size + q.length * itemOverhead).toBeLessThanOrEqual(maxSize)
            } else {
              const x = q.shift()
              if (x !== undefined) {
                taken++
                expect(x.seq).toBeGreaterThan(last)
                last = x.seq
              }
            }
          }
          expect(taken + q.dropped + refused + q.length).toBe(pushed)
          if (overflow === 'refuse') expect(q.dropped).toBe(0)
          else expect(refused).toBe(0)
          expect(q.peak).toBeLessThanOrEqual(maxItems)
        },
      ),
      { numRuns: 300 },
    )
  })
})
