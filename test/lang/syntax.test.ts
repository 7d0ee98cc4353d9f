import { describe, expect, it } from 'vitest'
import { ERR_QUERY_DUPLICATE_CLAUSE, ERR_QUERY_SYNTAX, QueryError, tryParseQuery } from '../../src/lang/index.js'

function fail(text: string): QueryError {
  const r = tryParseQuery(text)
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail`)
  return r.error
}

const START = ['LS', 'LOOKUP', 'WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE', 'end of query']
const AFTER_OP = ['WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE', 'end of query']
const TRAILING = ['TO', 'LIMIT', 'REVERSE', 'end of query']

// query, column, expected
const cases: [string, number, string[]][] = [
  ['bogus', 1, START],
  ['ls bogus', 4, AFTER_OP],
  ['ls ls', 4, AFTER_OP],
  ['lookup ls', 8, AFTER_OP],
  ['ls WHERE', 9, ['a field']],
  ['ls WHERE ', 10, ['a field']],
  ['ls WHERE host', 14, ['=']],
  ['ls WHERE host x', 15, ['=']],
  ['ls WHERE host=', 15, ['a value', '*']],
  ['ls WHERE =a', 10, ['a field']],
  ['ls WHERE host=a b', 17, TRAILING],
  ['ls WHERE host=a=b', 16, ['*', ...TRAILING]],
  ['ls WHERE host=a LIMIT', 22, ['a number']],
  ['ls WHERE host=a LIMIT 3 x', 25, TRAILING],
  ['ls WHERE host=web *', 19, TRAILING],
  ['ls WHERE host=web**', 19, TRAILING],
  ['*', 1, START],
  ['ls WHERE host="a"b', 18, ['*', ...TRAILING]],
  ['ls WHERE "a b"=x', 10, ['a field']],
  ['ls WHERE meta. "a"=x', 16, ['=']],
  ['REVERSE WHERE host=a', 9, TRAILING],
  ['ls WHERE limit=3', 10, ['a field']],
  ['ls WHERE host=LIMIT 3', 21, TRAILING],
  ['"ls"', 1, START],
  ['=', 1, START],
]

describe('syntax errors', () => {
  it.each(cases)('%s → column %i, expected %j', (text, column, expected) => {
    const e = fail(text)
    expect(e.code).toBe(ERR_QUERY_SYNTAX)
    expect(e.column).toBe(column)
    expect(e.expected).toEqual(expected)
    expect(e.message).toContain('expected')
  })

  it('a second WHERE or FROM is a duplicate clause', () => {
    for (const [text, column] of [
      ['WHERE host=a WHERE host=b', 14],
      ['WHERE host=a FROM host=b', 14],
      ['FROM host=a LIMIT 1 FROM host=b', 21],
    ] as const) {
      const e = fail(text)
      expect([e.code, e.column]).toEqual([ERR_QUERY_DUPLICATE_CLAUSE, column])
    }
  })
})

it('keeps messages short whatever was pasted', () => {
  expect(fail(`ls ${'x'.repeat(5000)}`).message.length).toBeLessThan(200)
  expect(fail(`ls WHERE a=b "${'x'.repeat(5000)}"`).message.length).toBeLessThan(200)
  expect(fail(`LIMIT ${'9'.repeat(5000)}`).message.length).toBeLessThan(200)
})

describe('did you mean', () => {
  it.each([
    ['ls WHRE host=a', 'WHERE'],
    ['ls WHERE host=a LIMT 3', 'LIMIT'],
    ['lookp', 'LOOKUP'],
    ['ls whre host=a', 'WHERE'],
    ['ls FORM host=a', 'FROM'],
    ['ls WHERE host=a REVRESE', 'REVERSE'],
    ['ls WHERE host=a reverce', 'REVERSE'],
    ['sl', 'LS'],
    ['FROM host=a tp host=b', 'TO'],
  ])('%s → %s', (text, guess) => {
    expect(fail(text).hint).toBe(`did you mean ${guess}?`)
  })

  it('only suggests keywords valid at that spot', () => {
    // LOOKUP is close to "lokup" but can't come after LS.
    expect(fail('ls lokup').hint).toBeUndefined()
    expect(fail('ls WHERE host=a wher').hint).toBeUndefined()
  })

  it('does not guess for words far from every keyword', () => {
    expect(fail('ls x').hint).toBeUndefined()
    expect(fail('ls banana').hint).toBeUndefined()
    expect(fail('ls WHERE host=a xx').hint).toBeUndefined()
  })

  it('other hints', () => {
    expect(fail('ls WHERE limit=3').hint).toBe('use meta.limit for a meta key named limit')
    expect(fail('ls WHERE From=3').hint).toBe('use meta.From for a meta key named From')
    expect(fail('ls WHERE host=web *').hint).toMatch(/directly after the value/)
    expect(fail('ls WHERE "a b"=x').hint).toBe('a quoted key is written meta."a b"')
    expect(fail('ls WHERE host=a*b').hint).toMatch(/can only end a value/)
    expect(fail('ls WHERE host=a*"b"').hint).toMatch(/can only end a value/)
    expect(fail('ls WHERE host=a"b"').hint).toBe('to put " in a value, quote the whole value and escape the quote: "a\\"b"')
    expect(fail('ls WHERE host="a""b"').hint).toMatch(/quote the whole value/)
  })
})
