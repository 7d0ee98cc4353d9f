import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { highlight, MAX_QUERY_LENGTH, type HighlightSpan } from '../../src/lang/index.js'

function kinds(text: string): string[] {
  return highlight(text).map((s) => `${s.kind}:${text.slice(s.start, s.end)}`)
}

function assertCovers(text: string, spans: HighlightSpan[]): void {
  let pos = 0
  for (const s of spans) {
    expect(s.start).toBe(pos)
    expect(s.end).toBeGreaterThan(s.start)
    pos = s.end
  }
  expect(pos).toBe(text.length)
}

describe('highlight', () => {
  it('classifies a valid query', () => {
    expect(kinds('ls WHERE host=web* LIMIT 10')).toEqual([
      'keyword:ls',
      'space: ',
      'keyword:WHERE',
      'space: ',
      'field:host',
      'operator:=',
      'value:web',
      'star:*',
      'space: ',
      'keyword:LIMIT',
      'space: ',
      'number:10',
    ])
    expect(kinds('WHERE meta."a b"="x y"')).toEqual(['keyword:WHERE', 'space: ', 'field:meta."a b"', 'operator:=', 'string:"x y"'])
    expect(kinds('WHERE region=to')).toEqual(['keyword:WHERE', 'space: ', 'field:region', 'operator:=', 'value:to'])
  })

  it('classifies the operators of several conditions', () => {
    expect(kinds('WHERE a!=x* AND b IN (c, "d")')).toEqual([
      'keyword:WHERE', 'space: ', 'field:a', 'operator:!=', 'value:x', 'star:*', 'space: ', 'keyword:AND', 'space: ',
      'field:b', 'space: ', 'keyword:IN', 'space: ', 'operator:(', 'value:c', 'operator:,', 'space: ', 'string:"d"', 'operator:)',
    ])
  })

  it('marks the spot of the error', () => {
    expect(kinds('ls WHRE host=a')).toContain('error:WHRE')
    expect(kinds('ls LIMIT 0')).toContain('error:0')
    expect(kinds('ls WHERE host=a *')).toContain('error:*')
    expect(kinds('WHERE k="a\\q"')).toContain('error:"a\\q"')
  })

  it('marks a blank when the error points at it', () => {
    expect(kinds('WHERE host= a')).toEqual(['keyword:WHERE', 'space: ', 'field:host', 'operator:=', 'error: ', 'value:a'])
  })

  it('shows a word being typed after a clause keyword as a field', () => {
    expect(kinds('ls WHERE hos')).toEqual(['keyword:ls', 'space: ', 'keyword:WHERE', 'space: ', 'field:hos'])
    expect(kinds('ls REVERSE x')).toEqual(['keyword:ls', 'space: ', 'keyword:REVERSE', 'space: ', 'error:x'])
  })

  it('is empty for the empty line and one error span for an overlong one', () => {
    expect(highlight('')).toEqual([])
    const long = 'x'.repeat(MAX_QUERY_LENGTH + 1)
    expect(highlight(long)).toEqual([{ start: 0, end: long.length, kind: 'error' }])
  })

  it('never throws and covers every character, in order (fast-check)', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom('ls ', 'WHERE ', 'FROM ', 'TO ', 'LIMIT ', 'REVERSE ', 'meta.', 'host', '=', '*', '"', '\\', ' ', '\t', '5'),
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 25 }), (parts) => {
        const text = parts.join('')
        assertCovers(text, highlight(text))
      }),
      { numRuns: 3000 },
    )
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => assertCovers(text, highlight(text))),
      { numRuns: 1000 },
    )
  })
})
