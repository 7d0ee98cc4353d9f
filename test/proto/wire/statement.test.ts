import { describe, expect, it } from 'vitest'
import { validateStatement, ERR_BAD_QUERY } from '../../../src/proto/wire/statement.js'
import { parseQuery } from '../../../src/lang/index.js'
import type { WwError } from '../../../src/errors.js'

function codeOf(v: unknown): string | undefined {
  try {
    validateStatement(v)
  } catch (err) {
    return (err as WwError).code
  }
  return undefined
}

const ok = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

describe('validateStatement', () => {
  it('accepts what the parser produces', () => {
    for (const q of ['', 'LOOKUP', 'WHERE region=us-east-1', 'WHERE host=my-host*', 'FROM host=a TO host=b* LIMIT 3 REVERSE', 'TO peer=12D3', 'WHERE meta.role=*']) {
      const s = parseQuery(q)
      expect(validateStatement(JSON.parse(JSON.stringify(s)))).toEqual(s)
    }
  })

  it('rejects each malformed shape with ERR_BAD_QUERY', () => {
    const bad: unknown[] = [
      null,
      [],
      { ...ok, op: 'drop' },
      { ...ok, reverse: 'yes' },
      { ...ok, selector: { kind: 'bogus' } },
      { ...ok, selector: { kind: 'match' } },
      { ...ok, selector: { kind: 'match', index: { field: 'seq', value: '1', prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'meta', value: '1', prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'meta', key: 'a=b', value: '1', prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'host', key: 'k', value: '1', prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'host', value: 1, prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'host', value: 'x'.repeat(20_000), prefix: false } } },
      { ...ok, selector: { kind: 'match', index: { field: 'host', value: 'h', prefix: 'no' } } },
      { ...ok, constraints: {} },
      { ...ok, constraints: [{ kind: 'limit', n: 0 }] },
      { ...ok, constraints: [{ kind: 'limit', n: 1.5 }] },
      { ...ok, constraints: [{ kind: 'limit', n: 2 ** 31 }] },
      { ...ok, constraints: [{ kind: 'limit', n: 1 }, { kind: 'limit', n: 2 }] },
      { ...ok, constraints: [{ kind: 'skip' }] },
      { ...ok, op: 'lookup', constraints: [{ kind: 'limit', n: 1 }] },
      { ...ok, selector: { kind: 'match', index: { field: 'host', value: 'h', prefix: false } }, constraints: [{ kind: 'to', index: { field: 'host', value: 'z', prefix: false } }] },
      { ...ok, selector: { kind: 'from', index: { field: 'host', value: 'h', prefix: false } }, constraints: [{ kind: 'to', index: { field: 'peer', value: 'z', prefix: false } }] },
    ]
    for (const b of bad) expect(codeOf(b), JSON.stringify(b)?.slice(0, 200)).toBe(ERR_BAD_QUERY)
  })

  it('takes a nil key on a builtin field as not given, as docs/protocol.md says of nil', () => {
    const host = { field: 'host', key: null, value: 'h', prefix: false }
    expect(validateStatement({ ...ok, selector: { kind: 'match', index: host } }).selector).toEqual({ kind: 'match', index: { field: 'host', value: 'h', prefix: false } })
    expect(codeOf({ ...ok, selector: { kind: 'match', index: { ...host, field: 'meta' } } })).toBe(ERR_BAD_QUERY)
  })

  it('rejects keys a Statement does not have, and returns a fresh copy', () => {
    expect(codeOf({ ...ok, extra: 1 })).toBe(ERR_BAD_QUERY)
    const input = JSON.parse(JSON.stringify(ok))
    const s = validateStatement(input)
    expect(s).toEqual(ok)
    expect(s).not.toBe(input)
  })
})
