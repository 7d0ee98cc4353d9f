import { describe, expect, it } from 'vitest'
import { QueryError, renderCaret, tryParseQuery } from '../../src/lang/index.js'

function err(text: string): QueryError {
  const r = tryParseQuery(text)
  if (r.ok) throw new Error('expected a failure')
  return r.error
}

describe('renderCaret', () => {
  it('puts a caret under the column, then the message and the hint', () => {
    const text = 'ls WHRE host=a'
    const out = renderCaret(text, err(text)).split('\n')
    expect(out[0]).toBe(text)
    expect(out[1]).toBe('   ^')
    expect(out[2]).toBe(err(text).message)
    expect(out[3]).toBe('hint: did you mean WHERE?')
    expect(out).toHaveLength(4)
  })

  it('points just past the end when the query ends too early', () => {
    const text = 'ls WHERE host='
    const out = renderCaret(text, err(text)).split('\n')
    expect(out[1]).toBe(`${' '.repeat(text.length)}^`)
    expect(out).toHaveLength(3)
  })

  it('keeps the caret aligned when the query holds tabs or line breaks', () => {
    const text = 'ls\tWHERE\nhost=a bogus'
    const out = renderCaret(text, err(text)).split('\n')
    expect(out[0]).toBe('ls WHERE host=a bogus')
    expect(out[1]!.indexOf('^')).toBe(text.indexOf('bogus'))
  })

  it('clamps a column outside the text', () => {
    const e = new QueryError('ERR_QUERY_SYNTAX', 'x', { column: 99 })
    expect(renderCaret('ab', e).split('\n')[1]).toBe('  ^')
  })
})
