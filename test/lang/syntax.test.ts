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
// After a WHERE predicate: another predicate, a FROM, or the trailing clauses.
const AFTER_PRED = ['AND', 'FROM', ...TRAILING]
const OPS = ['=', '!=', 'IN']

// query, column, expected
const cases: [string, number, string[]][] = [
  ['bogus', 1, START],
  ['ls bogus', 4, AFTER_OP],
  ['ls ls', 4, AFTER_OP],
  ['lookup ls', 8, AFTER_OP],
  ['ls WHERE', 9, ['a field']],
  ['ls WHERE ', 10, ['a field']],
  ['ls WHERE host', 14, OPS],
  ['ls WHERE host x', 15, OPS],
  ['ls WHERE host=', 15, ['a value', '*']],
  ['ls WHERE =a', 10, ['a field']],
  ['ls WHERE host=a b', 17, AFTER_PRED],
  ['ls WHERE host=a=b', 16, ['*', ...AFTER_PRED]],
  ['ls WHERE host=a LIMIT', 22, ['a number']],
  ['ls WHERE host=a LIMIT 3 x', 25, ['FROM', ...TRAILING]],
  ['ls WHERE host=web *', 19, AFTER_PRED],
  ['ls WHERE host=web**', 19, AFTER_PRED],
  ['*', 1, START],
  ['ls WHERE host="a"b', 18, ['*', ...AFTER_PRED]],
  ['ls WHERE "a b"=x', 10, ['a field']],
  ['ls WHERE meta. "a"=x', 16, OPS],
  ['REVERSE WHERE host=a x', 22, ['AND', 'FROM', ...TRAILING]],
  ['ls WHERE limit=3', 10, ['a field']],
  ['ls WHERE host=LIMIT 3', 21, AFTER_PRED],
  ['"ls"', 1, START],
  ['ls WHERE a=1 AND', 17, ['a field']],
  ['ls WHERE a=1 AND AND b=2', 18, ['a field']],
  ['ls WHERE a IN ()', 16, ['a value', '*']],
  ['ls WHERE a IN (x', 17, ['*', ',', ')']],
  ['ls WHERE a IN (x y)', 18, [',', ')']],
  ['ls WHERE a IN (x,)', 18, ['a value', '*']],
  ['ls WHERE a IN x', 12, OPS],
  ['ls FROM host!=a', 13, ['=']],
  ['ls WHERE a=1 OR b=2', 14, AFTER_PRED],
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
      ['WHERE host=a FROM region=b WHERE x=1', 28],
      ['FROM host=a WHERE x=1 FROM host=b', 23],
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
    expect(fail('ls WHERE host=a FROM x=1 wher').hint).toBeUndefined()
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
    expect(fail('ls WHERE a=1 WHERE b=2').hint).toMatch(/AND/)
    expect(fail('ls WHERE a IN x').hint).toMatch(/IN \(a, b\*\)/)
  })

  // A key with an operator character in it: before, `region>=us` looked up the key
  // `region>` and silently found nothing.
  it.each([
    ['ls WHERE region>=us', 16, /FROM f=v and TO f=v/],
    ['ls WHERE region<=us', 16, /FROM f=v and TO f=v/],
    ['ls WHERE region<us', 19, /FROM f=v and TO f=v/],
    ['ls WHERE region>us', 19, /FROM f=v and TO f=v/],
    ['ls WHERE a!b=1', 11, /did you mean !=\?/],
    ['ls WHERE region! =us', 16, /did you mean !=\?/],
    ['ls WHERE region!', 17, /did you mean !=\?/],
    ['ls WHERE f(x)=1', 11, /IN \(a, b\*\)/],
    ['ls WHERE a,b=1', 11, /AND/],
    ['ls WHERE a=1 AND meta.b<c=1', 24, /FROM f=v/],
    ['FROM b>c=1', 7, /FROM f=v/],
  ])('%s → ERR_QUERY_SYNTAX at %i with a hint', (text, column, hint) => {
    const e = fail(text)
    expect([e.code, e.column]).toEqual([ERR_QUERY_SYNTAX, column])
    expect(e.hint).toMatch(hint)
  })
})
