import { describe, expect, it } from 'vitest'
import { editDistance, nearest } from '../../src/lang/suggest.js'

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['', 'ab', 2],
    ['WHERE', 'WHERE', 0],
    ['WHRE', 'WHERE', 1],
    ['WEHRE', 'WHERE', 1],
    ['LIMT', 'LIMIT', 1],
    ['LOOKP', 'LOOKUP', 1],
    ['SL', 'LS', 1],
    ['KITTEN', 'SITTING', 3],
  ])('%s ↔ %s = %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d)
    expect(editDistance(b, a)).toBe(d)
  })
})

describe('nearest', () => {
  const kws = ['LS', 'LOOKUP', 'WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE']
  it('finds a keyword within 2 edits, case-insensitively', () => {
    expect(nearest('whre', kws)).toBe('WHERE')
    expect(nearest('Limt', kws)).toBe('LIMIT')
    expect(nearest('revrese', kws)).toBe('REVERSE')
    expect(nearest('fomr', kws)).toBe('FROM')
  })
  it('allows at most half the word length in edits', () => {
    expect(nearest('x', kws)).toBeUndefined()
    expect(nearest('xo', kws)).toBe('TO')
    expect(nearest('xy', kws)).toBeUndefined()
  })
  it('returns nothing for far words, empty words and exact matches', () => {
    expect(nearest('banana', kws)).toBeUndefined()
    expect(nearest('', kws)).toBeUndefined()
    expect(nearest('where', kws)).toBeUndefined()
    expect(nearest('a'.repeat(1000), kws)).toBeUndefined()
  })
})
