import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { Cursor } from '../src/iter.js'
import { hasCode } from '../src/errors.js'

describe('Cursor', () => {
  it('yields a sync source lazily through for await', async () => {
    let pulled = 0
    function* gen() {
      for (let i = 0; i < 5; i++) {
        pulled++
        yield i
      }
    }
    const c = new Cursor(gen())
    expect(pulled).toBe(0)
    const out: number[] = []
    for await (const v of c) out.push(v)
    expect(out).toEqual([0, 1, 2, 3, 4])
    expect(c.done).toBe(true)
    expect(c.err()).toBeUndefined()
  })

  it('explicit next()/err() form reports the error instead of throwing', async () => {
    async function* gen() {
      yield 1
      throw new Error('boom')
    }
    const c = new Cursor(gen())
    expect(await c.next()).toBe(1)
    expect(await c.next()).toBeUndefined()
    expect(c.err()?.message).toBe('boom')
    expect(await c.next()).toBeUndefined()
  })

  it('for await throws the stream error after the values', async () => {
    async function* gen() {
      yield 'a'
      throw new Error('late')
    }
    const seen: string[] = []
    await expect(async () => {
      for await (const v of new Cursor(gen())) seen.push(v)
    }).rejects.toThrow('late')
    expect(seen).toEqual(['a'])
  })

  it('breaking out of the loop closes the source (its finally runs)', async () => {
    let closed = false
    function* gen() {
      try {
        for (let i = 0; ; i++) yield i
      } finally {
        closed = true
      }
    }
    for await (const v of new Cursor(gen())) if (v === 3) break
    expect(closed).toBe(true)
  })

  it('an abort signal ends a pending next() at once with ERR_ABORTED and closes the source', async () => {
    let closed = false
    const never = {
      [Symbol.asyncIterator]() {
        return this
      },
      next: () => new Promise<IteratorResult<number>>(() => {}),
      return: async () => {
        closed = true
        return { done: true as const, value: undefined }
      },
    }
    const ac = new AbortController()
    const c = new Cursor<number>(never, { signal: ac.signal })
    const pending = c.next()
    ac.abort()
    expect(await pending).toBeUndefined()
    expect(hasCode(c.err(), 'ERR_ABORTED')).toBe(true)
    expect(closed).toBe(true)
  })

  it('an already aborted signal gives an ended cursor', async () => {
    const c = new Cursor([1, 2], { signal: AbortSignal.abort() })
    expect(await c.next()).toBeUndefined()
    expect(hasCode(c.err(), 'ERR_ABORTED')).toBe(true)
  })

  it('cancel() ends cleanly without an error', async () => {
    const c = new Cursor([1, 2, 3])
    expect(await c.next()).toBe(1)
    c.cancel()
    expect(await c.next()).toBeUndefined()
    expect(c.err()).toBeUndefined()
  })

  it('empty and failed cursors', async () => {
    expect(await Cursor.empty<number>().toArray()).toEqual([])
    const f = Cursor.failed<number>(new Error('x'))
    await expect(f.toArray()).rejects.toThrow('x')
  })

  it('can be iterated only once', async () => {
    const c = new Cursor([1])
    await c.toArray()
    await expect(c.toArray()).rejects.toThrow(/only once/)
  })
})

describe('Cursor memory', () => {
  it('keeps nothing per item alive across a long async stream', async () => {
    // If the cursor retained something per next() (as a race against one long-lived promise
    // does), every item would stay reachable until the cursor is gone. Measured by reachability,
    // not by process memory: a garbage collection forced here, then weak references to a
    // sample of the items. (Memory use counts garbage not yet collected, which on a busy
    // machine is anything from nothing to everything.)
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const sample: WeakRef<Uint8Array>[] = []
    async function* gen() {
      for (let i = 0; i < 2000; i++) {
        const item = new Uint8Array(64 * 1024)
        if (i % 100 === 0) sample.push(new WeakRef(item))
        yield item
      }
    }
    const c = new Cursor(gen())
    let n = 0
    for await (const _ of c) n++
    expect(n).toBe(2000)
    // WeakRef targets are kept until the current job ends: let it end, then collect.
    await new Promise((r) => setImmediate(r))
    gc()
    expect(sample.filter((w) => w.deref() !== undefined)).toHaveLength(0)
    // The cursor itself is still reachable here: what it holds would still be alive.
    expect(c.done).toBe(true)
  })
})
