import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERR_QUERY_BAD_STATEMENT, MAX_LIMIT, QueryError, parseQuery, validateStatement } from '../../src/lang/index.js'

function rejects(value: unknown): QueryError {
  try {
    validateStatement(value)
  } catch (err) {
    expect(err).toBeInstanceOf(QueryError)
    expect((err as QueryError).code).toBe(ERR_QUERY_BAD_STATEMENT)
    expect((err as QueryError).column).toBe(0)
    return err as QueryError
  }
  throw new Error(`accepted ${JSON.stringify(value)}`)
}

function ne(key: string, value: string): Record<string, unknown> {
  return { kind: 'ne', index: { field: 'meta', key, value, prefix: false } }
}

const ok = {
  op: 'ls',
  selector: { kind: 'from', index: { field: 'meta', key: 'region', value: 'a', prefix: false } },
  constraints: [
    { kind: 'to', index: { field: 'meta', key: 'region', value: 'm', prefix: true } },
    { kind: 'limit', n: 5 },
  ],
  reverse: true,
}

describe('validateStatement', () => {
  it('accepts what the parser produces, as a fresh copy', () => {
    for (const q of [
      '', 'lookup WHERE peer=x', 'ls FROM host=a TO host=m* REVERSE LIMIT 3', 'WHERE meta."a b"=*', 'TO zone=b',
      'WHERE region!=us', 'WHERE a=1 AND b!=* AND c IN (x, y*, *)', 'FROM host=a WHERE region=eu TO host=m LIMIT 2',
      'WHERE role=db TO host=m',
    ]) {
      const s = parseQuery(q)
      const v = validateStatement(s)
      expect(v).toStrictEqual(s)
      expect(v).not.toBe(s)
    }
    expect(validateStatement(ok)).toStrictEqual(ok)
  })

  it('takes a nil key (null or undefined) on a builtin field as absent, never on meta', () => {
    for (const key of [null, undefined]) {
      const s = { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'host', key, value: 'a', prefix: false } } }
      expect(validateStatement(s).selector).toStrictEqual({ kind: 'match', index: { field: 'host', value: 'a', prefix: false } })
      const meta = { ...s, selector: { kind: 'match', index: { field: 'meta', key, value: 'a', prefix: false } } }
      expect(rejects(meta).message).toMatch(/lacks key/)
    }
  })

  it('drops FROM prefix like the parser', () => {
    const s = { ...ok, constraints: [], selector: { kind: 'from', index: { field: 'host', value: 'a', prefix: true } } }
    expect(validateStatement(s).selector).toEqual({ kind: 'from', index: { field: 'host', value: 'a', prefix: false } })
  })

  it.each([
    ['not an object', 'ls'],
    ['null', null],
    ['an array', []],
    ['extra property', { ...ok, extra: 1 }],
    ['missing reverse', { op: 'ls', selector: { kind: 'all' }, constraints: [] }],
    ['bad op', { ...ok, op: 'rm' }],
    ['bad reverse', { ...ok, reverse: 'yes' }],
    ['bad selector kind', { ...ok, selector: { kind: 'range' } }],
    ['extra in all', { ...ok, constraints: [], selector: { kind: 'all', index: {} } }],
    ['bad field', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'seq', value: '1', prefix: false } } }],
    ['meta without key', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'meta', value: '1', prefix: false } } }],
    ['empty key', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'meta', key: '', value: '1', prefix: false } } }],
    ['key with =', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'meta', key: 'a=b', value: '1', prefix: false } } }],
    ['key on host', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'host', key: 'x', value: '1', prefix: false } } }],
    ['value not a string', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'host', value: 1, prefix: false } } }],
    ['huge value', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'host', value: 'x'.repeat(20000), prefix: false } } }],
    ['prefix not boolean', { ...ok, constraints: [], selector: { kind: 'match', index: { field: 'host', value: 'a', prefix: 1 } } }],
    ['constraints not array', { ...ok, constraints: {} }],
    ['too many constraints', { ...ok, constraints: [ok.constraints[1], ok.constraints[1], ok.constraints[1]] }],
    ['duplicate limit', { ...ok, constraints: [ok.constraints[1], ok.constraints[1]] }],
    ['limit 0', { ...ok, constraints: [{ kind: 'limit', n: 0 }] }],
    ['limit 1.5', { ...ok, constraints: [{ kind: 'limit', n: 1.5 }] }],
    ['limit too big', { ...ok, constraints: [{ kind: 'limit', n: MAX_LIMIT + 1 }] }],
    ['limit as string', { ...ok, constraints: [{ kind: 'limit', n: '3' }] }],
    ['lookup with limit', { ...ok, op: 'lookup', constraints: [{ kind: 'limit', n: 3 }] }],
    ['to with match', { ...ok, selector: { kind: 'match', index: ok.selector.index }, constraints: [ok.constraints[0]] }],
    ['to on another field', { ...ok, constraints: [{ kind: 'to', index: { field: 'host', value: 'm', prefix: false } }] }],
    ['to on another meta key', { ...ok, constraints: [{ kind: 'to', index: { field: 'meta', key: 'zone', value: 'm', prefix: false } }] }],
    ['class instance', Object.assign(new (class X {})(), ok)],
    ['where not an array', { ...ok, where: {} }],
    ['empty where', { ...ok, where: [] }],
    ['where with match', { ...ok, constraints: [], selector: { kind: 'match', index: ok.selector.index }, where: [ne('zone', 'a')] }],
    ['where on the FROM field', { ...ok, where: [ne('region', 'a')] }],
    ['where on the TO field', { ...ok, selector: { kind: 'all' }, where: [{ kind: 'in', field: 'meta', key: 'region', values: [{ value: 'a', prefix: false }] }] }],
    ['bad predicate kind', { ...ok, where: [{ kind: 'lt', index: { field: 'host', value: 'a', prefix: false } }] }],
    ['extra in predicate', { ...ok, where: [{ ...ne('zone', 'a'), x: 1 }] }],
    ['in without values', { ...ok, where: [{ kind: 'in', field: 'host', values: [] }] }],
    ['in with key on host', { ...ok, where: [{ kind: 'in', field: 'host', key: 'k', values: [{ value: 'a', prefix: false }] }] }],
    ['in meta without key', { ...ok, where: [{ kind: 'in', field: 'meta', values: [{ value: 'a', prefix: false }] }] }],
    ['in value not a pattern', { ...ok, where: [{ kind: 'in', field: 'host', values: ['a'] }] }],
    ['in with too many values', { ...ok, where: [{ kind: 'in', field: 'host', values: Array.from({ length: 8193 }, () => ({ value: 'a', prefix: false })) }] }],
    ['too many predicates', { ...ok, where: Array.from({ length: 4097 }, () => ne('zone', 'a')) }],
  ])('rejects %s', (_name, value) => {
    rejects(value)
  })

  it('rejects arbitrary junk with QueryError only (fast-check)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        try {
          validateStatement(v)
        } catch (err) {
          expect(err).toBeInstanceOf(QueryError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
