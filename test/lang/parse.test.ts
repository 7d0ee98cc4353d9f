import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Index, Statement } from '../../src/lang/ast.js'
import {
  ERR_QUERY_BAD_STRING,
  ERR_QUERY_SYNTAX,
  ERR_QUERY_TOO_LONG,
  MAX_QUERY_LENGTH,
  QueryError,
  parseQuery,
  tryParseQuery,
} from '../../src/lang/index.js'
import { WwError } from '../../src/errors.js'

const all = { kind: 'all' } as const
function st(partial: Partial<Statement>): Statement {
  return { op: 'ls', selector: all, constraints: [], reverse: false, ...partial }
}
function meta(key: string, value: string, prefix = false): Index {
  return { field: 'meta', key, value, prefix }
}
function f(field: 'host' | 'peer' | 'server', value: string, prefix = false): Index {
  return { field, value, prefix }
}

describe('seed examples', () => {
  it('ls WHERE region=us-east-1', () => {
    expect(parseQuery('ls WHERE region=us-east-1')).toEqual(st({ selector: { kind: 'match', index: meta('region', 'us-east-1') } }))
  })
  it('ls WHERE host=web*  LIMIT 10', () => {
    expect(parseQuery('ls WHERE host=web*  LIMIT 10')).toEqual(
      st({ selector: { kind: 'match', index: f('host', 'web', true) }, constraints: [{ kind: 'limit', n: 10 }] }),
    )
  })
  it('ls FROM host=a TO host=m* REVERSE', () => {
    expect(parseQuery('ls FROM host=a TO host=m* REVERSE')).toEqual(
      st({
        selector: { kind: 'from', index: f('host', 'a') },
        constraints: [{ kind: 'to', index: f('host', 'm', true) }],
        reverse: true,
      }),
    )
  })
  it('lookup WHERE peer=12D3KooW…', () => {
    const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    expect(parseQuery(`lookup WHERE peer=${peer}`)).toEqual(
      st({ op: 'lookup', selector: { kind: 'match', index: f('peer', peer) } }),
    )
  })
  it('WHERE host=my-hostname', () => {
    expect(parseQuery('WHERE host=my-hostname').selector).toEqual({ kind: 'match', index: f('host', 'my-hostname') })
  })
})

describe('statement', () => {
  it('the empty query (and blanks only) is ls of everything', () => {
    expect(parseQuery('')).toEqual(st({}))
    expect(parseQuery('  \t ')).toEqual(st({}))
    expect(parseQuery('ls')).toEqual(st({}))
  })
  it('LOOKUP alone', () => {
    expect(parseQuery('LOOKUP')).toEqual(st({ op: 'lookup' }))
  })
  it('keywords are case-insensitive', () => {
    expect(parseQuery('LoOkUp wHeRe host=a rEvErSe')).toEqual(
      st({ op: 'lookup', selector: { kind: 'match', index: f('host', 'a') }, reverse: true }),
    )
  })
  it('may start with any clause (LS is the default)', () => {
    expect(parseQuery('WHERE host=a').op).toBe('ls')
    expect(parseQuery('FROM host=a').selector).toEqual({ kind: 'from', index: f('host', 'a') })
    expect(parseQuery('TO host=a').constraints).toEqual([{ kind: 'to', index: f('host', 'a') }])
    expect(parseQuery('LIMIT 3').constraints).toEqual([{ kind: 'limit', n: 3 }])
    expect(parseQuery('REVERSE').reverse).toBe(true)
  })
  it('trailing clauses in any order; constraints keep the written order', () => {
    expect(parseQuery('FROM host=a LIMIT 2 REVERSE TO host=z').constraints).toEqual([
      { kind: 'limit', n: 2 },
      { kind: 'to', index: f('host', 'z') },
    ])
    expect(parseQuery('REVERSE TO host=z LIMIT 2')).toEqual(
      st({ constraints: [{ kind: 'to', index: f('host', 'z') }, { kind: 'limit', n: 2 }], reverse: true }),
    )
  })
  it('lookup takes FROM, TO and REVERSE', () => {
    expect(parseQuery('lookup FROM server=0 TO server=8 REVERSE')).toEqual(
      st({
        op: 'lookup',
        selector: { kind: 'from', index: f('server', '0') },
        constraints: [{ kind: 'to', index: f('server', '8') }],
        reverse: true,
      }),
    )
  })
  it('blanks of any kind separate tokens', () => {
    expect(parseQuery('\tls\nWHERE\u00a0host=a\r\nLIMIT  1 ')).toEqual(
      st({ selector: { kind: 'match', index: f('host', 'a') }, constraints: [{ kind: 'limit', n: 1 }] }),
    )
  })
})

describe('fields', () => {
  it('host, peer, server are the builtin fields, without a key property', () => {
    for (const name of ['host', 'peer', 'server'] as const) {
      const s = parseQuery(`WHERE ${name}=x`)
      expect(s.selector).toEqual({ kind: 'match', index: f(name, 'x') })
      expect(s.selector.kind === 'match' && 'key' in s.selector.index).toBe(false)
    }
  })
  it('any other bare name is a meta key, case-sensitive', () => {
    expect(parseQuery('WHERE region=x').selector).toEqual({ kind: 'match', index: meta('region', 'x') })
    expect(parseQuery('WHERE Host=x').selector).toEqual({ kind: 'match', index: meta('Host', 'x') })
    expect(parseQuery('WHERE meta=x').selector).toEqual({ kind: 'match', index: meta('meta', 'x') })
    expect(parseQuery('WHERE a.b/c:d=x').selector).toEqual({ kind: 'match', index: meta('a.b/c:d', 'x') })
  })
  it('meta.KEY reaches keys that collide with builtins, keywords and unindexed fields', () => {
    for (const key of ['host', 'peer', 'server', 'seq', 'ttl', 'limit', 'WHERE', 'ls', 'meta.x', 'region']) {
      expect(parseQuery(`WHERE meta.${key}=v`).selector).toEqual({ kind: 'match', index: meta(key, 'v') })
    }
  })
  it('a quoted key after meta.', () => {
    expect(parseQuery('WHERE meta."a b"=v').selector).toEqual({ kind: 'match', index: meta('a b', 'v') })
    expect(parseQuery('WHERE meta."q\\"uote*"=v').selector).toEqual({ kind: 'match', index: meta('q"uote*', 'v') })
  })
})

describe('values', () => {
  it('bare words keep every character but blank, =, " and *', () => {
    for (const v of ['us-east-1', '10.0.0.1:80', 'a/b', 'a\\b', '12D3KooW', 'ünï', '-1', 'a.b,c;d']) {
      expect(parseQuery(`WHERE k=${v}`).selector).toEqual({ kind: 'match', index: meta('k', v) })
    }
  })
  it('a keyword right after = is a value', () => {
    expect(parseQuery('WHERE role=to LIMIT 1').selector).toEqual({ kind: 'match', index: meta('role', 'to') })
    expect(parseQuery('WHERE host=LIMIT').selector).toEqual({ kind: 'match', index: f('host', 'LIMIT') })
  })
  it('quoted strings with \\" and \\\\ escapes', () => {
    expect(parseQuery('WHERE k="a b"').selector).toEqual({ kind: 'match', index: meta('k', 'a b') })
    expect(parseQuery('WHERE k="say \\"hi\\" \\\\o/"').selector).toEqual({ kind: 'match', index: meta('k', 'say "hi" \\o/') })
    expect(parseQuery('WHERE k="x=y*"').selector).toEqual({ kind: 'match', index: meta('k', 'x=y*') })
    expect(parseQuery('WHERE k=""').selector).toEqual({ kind: 'match', index: meta('k', '') })
  })
  it('a trailing * makes a prefix match; alone it means "present"', () => {
    expect(parseQuery('WHERE host=web*').selector).toEqual({ kind: 'match', index: f('host', 'web', true) })
    expect(parseQuery('WHERE k="a b"*').selector).toEqual({ kind: 'match', index: meta('k', 'a b', true) })
    expect(parseQuery('WHERE host=*').selector).toEqual({ kind: 'match', index: f('host', '', true) })
  })
  it('FROM f=v* means FROM f=v', () => {
    expect(parseQuery('FROM host=a*')).toEqual(parseQuery('FROM host=a'))
    expect(parseQuery('FROM host=*').selector).toEqual({ kind: 'from', index: f('host', '') })
  })
})

describe('front door', () => {
  it('tryParseQuery returns errors as data', () => {
    const r = tryParseQuery('ls WHERE')
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error).toBeInstanceOf(QueryError)
      expect(r.error).toBeInstanceOf(WwError)
      expect(r.error.code).toBe(ERR_QUERY_SYNTAX)
    }
    expect(tryParseQuery('ls')).toEqual({ ok: true, statement: st({}) })
  })
  it('parseQuery throws the same QueryError', () => {
    expect(() => parseQuery('ls WHERE')).toThrow(QueryError)
  })
  it('rejects a query over the length limit', () => {
    const r = tryParseQuery(`WHERE host=${'a'.repeat(MAX_QUERY_LENGTH)}`)
    expect(r.ok === false && r.error.code).toBe(ERR_QUERY_TOO_LONG)
    expect(r.ok === false && r.error.column).toBe(MAX_QUERY_LENGTH + 1)
    expect(parseQuery(`WHERE host=${'a'.repeat(MAX_QUERY_LENGTH - 11)}`).selector.kind).toBe('match')
  })
  it('rejects a non-string', () => {
    const r = tryParseQuery(42 as unknown as string)
    expect(r.ok === false && r.error.code).toBe(ERR_QUERY_TOO_LONG)
  })
  it('reports the leftmost mistake: a broken string before a syntax error', () => {
    const r = tryParseQuery('WHERE k="a\\q" bogus')
    expect(r.ok === false && [r.error.code, r.error.column]).toEqual([ERR_QUERY_BAD_STRING, 11])
  })
  it('the parser is reusable after an error', () => {
    expect(tryParseQuery('ls WHERE host').ok).toBe(false)
    expect(parseQuery('ls WHERE host=a').selector.kind).toBe('match')
  })
})

describe('fuzz: only QueryError ever comes out', () => {
  function check(text: string): void {
    try {
      const s = parseQuery(text)
      expect(['ls', 'lookup']).toContain(s.op)
    } catch (err) {
      expect(err).toBeInstanceOf(QueryError)
      const e = err as QueryError
      expect(e.code).toMatch(/^ERR_QUERY_[A-Z_]+$/)
      expect(Number.isInteger(e.column)).toBe(true)
      expect(e.column).toBeGreaterThanOrEqual(1)
      expect(e.column).toBeLessThanOrEqual(text.length + 1)
      expect(Array.isArray(e.expected)).toBe(true)
    }
  }
  const alphabet = fc.constantFrom(
    ...'lsLSwhereWHEREfromtolimitreverselookupmeta.hostpeerserverseqttl=*"\\ \t\n019-:/aZ'.split(''),
    'LS ', 'WHERE ', 'FROM ', 'TO ', 'LIMIT ', 'REVERSE ', 'LOOKUP ', 'meta.', 'host', '=', '*', '"', '\\', ' ',
  )
  it('random strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => check(s)), { numRuns: 2000 })
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => check(s)), { numRuns: 1000 })
  })
  it('random sequences of query-like pieces', () => {
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 30 }), (parts) => check(parts.join(''))), { numRuns: 3000 })
  })
  it('random mutations of valid queries', () => {
    const seeds = [
      'ls WHERE region=us-east-1',
      'ls WHERE host=web*  LIMIT 10',
      'ls FROM host=a TO host=m* REVERSE',
      'lookup WHERE peer=12D3KooWabc',
      'WHERE meta."a b"="x \\" y"*',
    ]
    const mutation = fc.record({
      seed: fc.constantFrom(...seeds),
      edits: fc.array(
        fc.record({ at: fc.nat(), del: fc.nat({ max: 3 }), ins: fc.string({ maxLength: 4 }) }),
        { minLength: 1, maxLength: 4 },
      ),
    })
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let text = seed
        for (const e of edits) {
          const at = e.at % (text.length + 1)
          text = text.slice(0, at) + e.ins + text.slice(at + e.del)
        }
        check(text)
      }),
      { numRuns: 3000 },
    )
  })
})

describe('the parse cache', () => {
  it('hands back the same frozen statement for the same text, and keeps errors out', async () => {
    const { clearParseCache } = await import('../../src/lang/index.js')
    clearParseCache()
    const a = parseQuery('ls WHERE role=db AND host=web*')
    const b = parseQuery('ls WHERE role=db AND host=web*')
    expect(b).toBe(a)
    expect(Object.isFrozen(a)).toBe(true)
    expect(Object.isFrozen(a.where![0])).toBe(true)
    expect(() => {
      ;(a as { reverse: boolean }).reverse = true
    }).toThrow(TypeError)
    // Still equal to a fresh parse after clearing.
    clearParseCache()
    expect(parseQuery('ls WHERE role=db AND host=web*')).not.toBe(a)
    expect(parseQuery('ls WHERE role=db AND host=web*')).toEqual(a)
    expect(tryParseQuery('ls WHERE').ok).toBe(false)
    expect(tryParseQuery('ls WHERE').ok).toBe(false)
  })
})
