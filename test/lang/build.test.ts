import { describe, expect, it } from 'vitest'
import {
  ERR_QUERY_BAD_KEY,
  ERR_QUERY_BAD_LIMIT,
  ERR_QUERY_BAD_STRING,
  ERR_QUERY_DUPLICATE_CLAUSE,
  ERR_QUERY_LOOKUP_LIMIT,
  ERR_QUERY_SYNTAX,
  ERR_QUERY_TO_FIELD,
  ERR_QUERY_TO_WITH_WHERE,
  ERR_QUERY_UNKNOWN_FIELD,
  MAX_LIMIT,
  QueryError,
  parseQuery,
  tryParseQuery,
} from '../../src/lang/index.js'

function fail(text: string): QueryError {
  const r = tryParseQuery(text)
  if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to fail`)
  return r.error
}

// Each row: query, code, 1-based column of the offending spot.
const cases: [string, string, number][] = [
  // LIMIT's number
  ['LIMIT 0', ERR_QUERY_BAD_LIMIT, 7],
  ['ls LIMIT -1', ERR_QUERY_BAD_LIMIT, 10],
  ['ls LIMIT 1.5', ERR_QUERY_BAD_LIMIT, 10],
  ['ls LIMIT 1e3', ERR_QUERY_BAD_LIMIT, 10],
  ['ls LIMIT 0x10', ERR_QUERY_BAD_LIMIT, 10],
  ['ls LIMIT ten', ERR_QUERY_BAD_LIMIT, 10],
  [`ls LIMIT ${MAX_LIMIT + 1}`, ERR_QUERY_BAD_LIMIT, 10],
  ['ls LIMIT 99999999999999999999999', ERR_QUERY_BAD_LIMIT, 10],
  // clauses at most once
  ['ls LIMIT 1 LIMIT 2', ERR_QUERY_DUPLICATE_CLAUSE, 12],
  ['ls REVERSE LIMIT 1 REVERSE', ERR_QUERY_DUPLICATE_CLAUSE, 20],
  ['FROM host=a TO host=b TO host=c', ERR_QUERY_DUPLICATE_CLAUSE, 23],
  ['TO host=b TO host=c', ERR_QUERY_DUPLICATE_CLAUSE, 11],
  // LOOKUP takes no LIMIT
  ['lookup LIMIT 1', ERR_QUERY_LOOKUP_LIMIT, 8],
  ['lookup WHERE host=a REVERSE LIMIT 5', ERR_QUERY_LOOKUP_LIMIT, 29],
  // TO
  ['WHERE host=a TO host=b', ERR_QUERY_TO_WITH_WHERE, 14],
  ['FROM host=a TO peer=b', ERR_QUERY_TO_FIELD, 16],
  ['FROM region=a TO zone=b', ERR_QUERY_TO_FIELD, 18],
  ['FROM region=a TO meta.zone=b', ERR_QUERY_TO_FIELD, 18],
  ['FROM host=a TO meta.host=b', ERR_QUERY_TO_FIELD, 16],
  // fields and keys
  ['WHERE seq=1', ERR_QUERY_UNKNOWN_FIELD, 7],
  ['ls FROM ttl=0', ERR_QUERY_UNKNOWN_FIELD, 9],
  ['WHERE meta.=x', ERR_QUERY_BAD_KEY, 12],
  ['WHERE meta.""=x', ERR_QUERY_BAD_KEY, 12],
  ['WHERE meta."a=b"=x', ERR_QUERY_BAD_KEY, 14],
  // strings
  ['WHERE k="a\\tb"', ERR_QUERY_BAD_STRING, 11],
  ['WHERE k="abc', ERR_QUERY_BAD_STRING, 9],
  ['WHERE k="abc\\"', ERR_QUERY_BAD_STRING, 9],
  ['WHERE meta."a\\x"=1', ERR_QUERY_BAD_STRING, 14],
  // blanks inside f=v
  ['WHERE host =a', ERR_QUERY_SYNTAX, 11],
  ['WHERE host= a', ERR_QUERY_SYNTAX, 12],
  ['WHERE host = a', ERR_QUERY_SYNTAX, 11],
]

describe('builder checks', () => {
  it.each(cases)('%s → %s at column %i', (text, code, column) => {
    const e = fail(text)
    expect(e).toBeInstanceOf(QueryError)
    expect(e.code).toBe(code)
    expect(e.column).toBe(column)
  })

  it('accepts the largest LIMIT and leading zeros', () => {
    expect(parseQuery(`LIMIT ${MAX_LIMIT}`).constraints).toEqual([{ kind: 'limit', n: MAX_LIMIT }])
    expect(parseQuery('LIMIT 007').constraints).toEqual([{ kind: 'limit', n: 7 }])
  })

  it('TO after FROM on the same meta key is fine', () => {
    expect(parseQuery('FROM region=a TO meta.region=m*').constraints).toEqual([
      { kind: 'to', index: { field: 'meta', key: 'region', value: 'm', prefix: true } },
    ])
  })

  it('explains what to write instead', () => {
    expect(fail('WHERE seq=1').hint).toBe('use meta.seq for a meta key named seq')
    expect(fail('WHERE ttl=1').hint).toBe('use meta.ttl for a meta key named ttl')
    expect(fail('FROM host=a TO peer=b').expected).toEqual(['host'])
    expect(fail('FROM region=a TO zone=b').expected).toEqual(['meta.region'])
    expect(fail('LIMIT 0').expected).toEqual([`a whole number from 1 to ${MAX_LIMIT}`])
    expect(fail('WHERE host= a').expected).toEqual(['a value', '*'])
    expect(fail('WHERE k="abc').expected).toEqual(['"'])
  })

  it('reports the first of several mistakes, left to right', () => {
    expect(fail('LIMIT 0 LIMIT 0').code).toBe(ERR_QUERY_BAD_LIMIT)
    expect(fail('WHERE seq=1 TO host=b').code).toBe(ERR_QUERY_UNKNOWN_FIELD)
    expect(fail('lookup REVERSE REVERSE LIMIT 1').code).toBe(ERR_QUERY_DUPLICATE_CLAUSE)
  })
})
