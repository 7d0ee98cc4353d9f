import { describe, expect, it } from 'vitest'
import { hasCode } from '../../src/errors.js'
import { SendBuffer } from '../../src/transport/send-buffer.js'

describe('SendBuffer', () => {
  it('reports full at the high-water mark and wakes waiters below it', async () => {
    const b = new SendBuffer(10)
    expect(b.add(9)).toBe(true)
    expect(b.add(1)).toBe(false)
    expect(b.full).toBe(true)
    let drained = false
    const waiting = b.waitDrain().then(() => (drained = true))
    b.release(0)
    await Promise.resolve()
    expect(drained).toBe(false)
    b.release(1)
    await waiting
    expect(drained).toBe(true)
    expect(b.amount).toBe(9)
  })

  it('resolves at once when not full', async () => {
    const b = new SendBuffer(10)
    await b.waitDrain()
    b.add(3)
    await b.waitDrain()
    expect(b.amount).toBe(3)
  })

  it('never goes below zero', () => {
    const b = new SendBuffer(10)
    b.release(5)
    expect(b.amount).toBe(0)
  })

  it('rejects with ERR_ABORTED through the signal, before or while waiting', async () => {
    const b = new SendBuffer(1)
    b.add(1)
    expect(hasCode(await b.waitDrain({ signal: AbortSignal.abort() }).catch((e: unknown) => e), 'ERR_ABORTED')).toBe(true)
    const ac = new AbortController()
    const waiting = b.waitDrain({ signal: ac.signal }).catch((e: unknown) => e)
    ac.abort()
    expect(hasCode(await waiting, 'ERR_ABORTED')).toBe(true)
  })

  it('rejects pending and later waits once failed', async () => {
    const b = new SendBuffer(1)
    b.add(1)
    const err = new Error('gone')
    const waiting = b.waitDrain().catch((e: unknown) => e)
    b.fail(err)
    expect(await waiting).toBe(err)
    await expect(b.waitDrain()).rejects.toBe(err)
  })

  it('rejects a high-water mark below 1', () => {
    expect(() => new SendBuffer(0)).toThrow(RangeError)
  })
})
