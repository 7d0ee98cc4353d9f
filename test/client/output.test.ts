import { PassThrough, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Output } from '../../src/client/output.js'
import { killGroup, spawnGroup } from '../procs.js'

describe('Output', () => {
  it('coalesces small writes and flushes them on the next turn', async () => {
    const chunks: string[] = []
    const out = new Output(new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }))
    out.write('a')
    out.write('b')
    expect(chunks).toEqual([])
    await new Promise((r) => setImmediate(r))
    expect(chunks).toEqual(['ab'])
  })

  it('waits for drain while the stream is full', async () => {
    const slow = new PassThrough({ highWaterMark: 4 })
    const out = new Output(slow)
    out.write('0123456789')
    out.flush()
    expect(out.needsDrain).toBe(true)
    let drained = false
    const p = out.drain().then(() => (drained = true))
    await new Promise((r) => setImmediate(r))
    expect(drained).toBe(false)
    slow.read()
    await p
    expect(drained).toBe(true)
  })

  it('aborts `closed` on EPIPE instead of crashing, and writes nothing more', async () => {
    // A real pipe whose reader goes away after the first bytes, as `| head -c 1` does.
    const g = spawnGroup(process.execPath, ['-e', "process.stdin.once('data', () => process.exit(0))"], { stdio: ['pipe', 'ignore', 'ignore'] })
    try {
      const out = new Output(g.child.stdin!)
      const aborted = new Promise<void>((r) => out.closed.addEventListener('abort', () => r(), { once: true }))
      out.write('x'.repeat(70_000))
      // The reader is gone: what is still queued, or the next write, fails with EPIPE.
      expect(await g.exited).toBe(0)
      out.write('x'.repeat(70_000))
      await aborted
      expect(out.closed.aborted).toBe(true)
      expect((out.closed.reason as NodeJS.ErrnoException).code).toBe('EPIPE')
      expect(out.write('more')).toBe(false)
    } finally {
      await killGroup(g)
    }
  })

  it('treats a stream destroyed by its owner like a closed pipe', () => {
    const w = new PassThrough()
    w.destroy()
    const out = new Output(w)
    out.write('x')
    out.flush()
    expect(out.closed.aborted).toBe(true)
  })
})
