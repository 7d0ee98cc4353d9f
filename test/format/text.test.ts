import { describe, expect, it } from 'vitest'
import { formatMeta, text, TEXT_FIRST_BATCH, TEXT_HOST_MAX } from '../../src/format/text.js'
import { render, sample } from './records.js'

describe('text formatter', () => {
  it('prints an aligned table with a header', () => {
    const { text: out } = render(text, [sample(1, 'a'), sample(2, 'longer-host')])
    const lines = out.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+SERVER\s+HOST\s+META$/)
    const metaCol = lines[0]!.indexOf('META')
    const hostCol = lines[0]!.indexOf('HOST')
    for (const l of lines.slice(1)) {
      expect(l.slice(metaCol)).toMatch(/^region=/)
      expect(l[hostCol - 1]).toBe(' ')
    }
    expect(lines[1]).toContain(sample(1).peer)
    expect(lines[2]).toContain('longer-host')
  })

  it('prints nothing for an empty result', () => {
    expect(render(text, []).text).toBe('')
  })

  it('shows an empty host as - and quotes meta values that need it, keys sorted', () => {
    const r = sample(1, '', { z: 'last', a: 'with space', e: '' })
    const line = render(text, [r]).text.split('\n')[1]!
    expect(line).toMatch(/\s-\s+a="with space" e="" z=last$/)
    expect(formatMeta({ 'k"q': 'v\\' })).toBe('"k\\"q"="v\\\\"')
  })

  it('holds back only the first batch, then streams each row', () => {
    const recs = Array.from({ length: TEXT_FIRST_BATCH + 3 }, (_, i) => sample(i))
    const { writes } = render(text, recs)
    // One write for header + first batch, then one per later row.
    expect(writes).toHaveLength(1 + 3)
    expect(writes[0]!.split('\n')).toHaveLength(TEXT_FIRST_BATCH + 2)
  })

  it('never truncates: a later, wider host pushes its row to the right', () => {
    const recs = Array.from({ length: TEXT_FIRST_BATCH }, (_, i) => sample(i, 'h'))
    const wide = 'x'.repeat(TEXT_HOST_MAX + 10)
    recs.push(sample(99, wide))
    const lines = render(text, recs).text.trimEnd().split('\n')
    expect(lines.at(-1)).toContain(wide + '  region=')
  })

  it('bolds the header only with colour', () => {
    expect(render(text, [sample(1)], { color: true }).text.startsWith('\u001b[1mPEER')).toBe(true)
    expect(render(text, [sample(1)]).text.includes('\u001b')).toBe(false)
  })
})
