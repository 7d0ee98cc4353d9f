import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { tryParseQuery } from '../../src/lang/index.js'

// The error table of docs/language.md is part of the contract: every example in it must fail
// with the code and column it states.
const doc = readFileSync(new URL('../../docs/language.md', import.meta.url), 'utf8')
const rows = [...doc.matchAll(/^\| `(ERR_QUERY_[A-Z_]+)` \| `(.+?)` \| (\d+) \|/gm)].map((m) => ({
  code: m[1]!,
  // Markdown tables can't hold a bare `|`; none of the examples needs one.
  query: m[2]!,
  column: Number(m[3]),
}))

describe('docs/language.md error table', () => {
  it('has an example for every code the code raises', () => {
    const codes = new Set(rows.map((r) => r.code))
    for (const code of ['SYNTAX', 'BAD_STRING', 'UNKNOWN_FIELD', 'BAD_KEY', 'BAD_LIMIT', 'DUPLICATE_CLAUSE', 'LOOKUP_LIMIT', 'TO_FIELD', 'TO_WITH_WHERE']) {
      expect(codes.has(`ERR_QUERY_${code}`)).toBe(true)
    }
  })
  it.each(rows)('$query → $code at $column', ({ query, code, column }) => {
    const r = tryParseQuery(query)
    expect(r.ok).toBe(false)
    if (!r.ok) expect([r.error.code, r.error.column]).toEqual([code, column])
  })
  it('the seed examples at the top parse', () => {
    const block = doc.split('```')[1]!
    const lines = block.split('\n').filter((l) => l.trim() !== '')
    expect(lines.length).toBe(4)
    for (const l of lines) expect(tryParseQuery(l).ok).toBe(true)
  })
})
