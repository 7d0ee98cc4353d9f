import { describe, expect, it } from 'vitest'
import { BatchSink } from '../../src/repl/sink.js'

describe('BatchSink', () => {
  it('prints whole lines in batches, and the rest at end()', async () => {
    const printed: string[] = []
    const s = new BatchSink((t) => printed.push(t), { intervalMs: 5 })
    s.write('a\n')
    s.write('b\nparti')
    expect(printed).toEqual([])
    await s.drain()
    expect(printed).toEqual(['a\nb\n'])
    s.write('al')
    s.end()
    expect(printed).toEqual(['a\nb\n', 'partial\n'])
  })

  it('asks the producer to wait past maxPending, and lets it go on after the flush', async () => {
    const printed: string[] = []
    const s = new BatchSink((t) => printed.push(t), { intervalMs: 5, maxPending: 10 })
    expect(s.write('0123456789\n')).toBe(false)
    expect(s.needsDrain).toBe(true)
    await s.drain()
    expect(s.needsDrain).toBe(false)
    expect(printed).toEqual(['0123456789\n'])
  })

  it('does not wait forever on a long partial line', async () => {
    const s = new BatchSink(() => {}, { intervalMs: 5, maxPending: 4 })
    s.write('no newline here')
    await s.drain()
    expect(s.needsDrain).toBe(true)
  })
})
