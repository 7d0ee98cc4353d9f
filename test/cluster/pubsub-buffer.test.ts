import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { MessageBuffer } from '../../src/cluster/pubsub-buffer.js'

const msg = (i: number, size = 1) => ({ topic: 't', from: 'p', data: new Uint8Array(size).fill(i & 0xff) })

describe('MessageBuffer', () => {
  it('is FIFO with dropped 0 while within bounds', () => {
    const b = new MessageBuffer({ maxMessages: 4 })
    for (let i = 0; i < 3; i++) b.push(msg(i))
    expect(b.length).toBe(3)
    expect([b.shift(), b.shift(), b.shift()].map((m) => [m!.data[0], m!.dropped])).toEqual([[0, 0], [1, 0], [2, 0]])
    expect(b.shift()).toBeUndefined()
  })

  it('drops the oldest on overflow and reports the count once, on the next message', () => {
    const b = new MessageBuffer({ maxMessages: 3 })
    for (let i = 0; i < 10; i++) b.push(msg(i))
    expect(b.length).toBe(3)
    expect(b.peak).toBe(3)
    expect(b.totalDropped).toBe(7)
    const first = b.shift()!
    expect([first.data[0], first.dropped]).toEqual([7, 7])
    expect(b.shift()!.dropped).toBe(0)
    b.push(msg(10))
    b.push(msg(11)) // now 9, 10, 11 held: full, nothing dropped
    b.push(msg(12)) // drops 9
    expect(b.shift()).toMatchObject({ dropped: 1 })
    expect(b.shift()!.data[0]).toBe(11)
  })

  it('bounds payload bytes as well as count', () => {
    const b = new MessageBuffer({ maxMessages: 100, maxBytes: 10 })
    for (let i = 0; i < 5; i++) b.push(msg(i, 4))
    expect(b.bytes).toBeLessThanOrEqual(10)
    expect(b.length).toBe(2)
    expect(b.shift()).toMatchObject({ dropped: 3 })
    // A single message larger than maxBytes is still held alone rather than lost silently.
    b.push(msg(9, 50))
    expect(b.length).toBe(1)
    expect(b.shift()).toMatchObject({ dropped: 1 })
  })

  it('rejects nonsensical bounds', () => {
    expect(() => new MessageBuffer({ maxMessages: 0 })).toThrow(RangeError)
    expect(() => new MessageBuffer({ maxBytes: -1 })).toThrow(RangeError)
  })

  it('property: never above its bounds; taken + dropped + held = pushed; order kept', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 30 }).map((size) => ({ push: size })), fc.constant({ push: -1 })), { maxLength: 300 }),
        (maxMessages, maxBytes, ops) => {
          const b = new MessageBuffer({ maxMessages, maxBytes })
          let pushed = 0
          let taken = 0
          let droppedSeen = 0
          let lastSeq = -1
          for (const op of ops) {
            if (op.push >= 0) {
              const m = msg(0, op.push)
              ;(m as { seq?: number }).seq = pushed++
              b.push(m)
              expect(b.length).toBeLessThanOrEqual(maxMessages)
              if (b.length > 1) expect(b.bytes).toBeLessThanOrEqual(maxBytes)
            } else {
              const m = b.shift() as ({ seq: number; dropped: number } | undefined)
              if (m !== undefined) {
                taken++
                droppedSeen += m.dropped
                expect(m.seq).toBeGreaterThan(lastSeq)
                // every message skipped between two takes was counted as dropped
                expect(m.seq - lastSeq - 1).toBe(m.dropped)
                lastSeq = m.seq
              }
            }
          }
          expect(b.peak).toBeLessThanOrEqual(maxMessages)
          expect(taken + b.totalDropped + b.length).toBe(pushed)
          expect(droppedSeen).toBeLessThanOrEqual(b.totalDropped)
        },
      ),
      { numRuns: 300 },
    )
  })
})
