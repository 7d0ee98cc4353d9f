import { describe, expect, it } from 'vitest'
import { decodeString, lexQuery, tokenEnd } from '../../src/lang/tokens.js'

function types(text: string): string[] {
  return lexQuery(text).tokens.map((t) => `${t.tokenType.name}:${t.image}`)
}

describe('lexQuery', () => {
  it('lexes keywords case-insensitively, before words', () => {
    expect(types('ls Lookup wHeRe FROM to limit REVERSE')).toEqual([
      'LS:ls',
      'LOOKUP:Lookup',
      'WHERE:wHeRe',
      'FROM:FROM',
      'TO:to',
      'LIMIT:limit',
      'REVERSE:REVERSE',
    ])
  })

  it('keeps longer words whole (longer_alt)', () => {
    expect(types('lsx wherever tomorrow limits')).toEqual(['Word:lsx', 'Word:wherever', 'Word:tomorrow', 'Word:limits'])
  })

  it('lexes bare words with any character but blank, =, " and *', () => {
    expect(types('region=us-east-1')).toEqual(['Word:region', 'Eq:=', 'Word:us-east-1'])
    expect(types('addr=10.0.0.1:80')).toEqual(['Word:addr', 'Eq:=', 'Word:10.0.0.1:80'])
    expect(types('path=a/b\\c')).toEqual(['Word:path', 'Eq:=', 'Word:a/b\\c'])
    expect(types('ключ=значение')).toEqual(['Word:ключ', 'Eq:=', 'Word:значение'])
  })

  it('turns a keyword written directly after = into a word', () => {
    expect(types('role=to')).toEqual(['Word:role', 'Eq:=', 'Word:to'])
    expect(types('role= to')).toEqual(['Word:role', 'Eq:=', 'TO:to'])
  })

  it('splits meta."key" into MetaDot and a string, but keeps meta.key a word', () => {
    expect(types('meta."a b"=x')).toEqual(['MetaDot:meta.', 'Str:"a b"', 'Eq:=', 'Word:x'])
    expect(types('meta.region=x')).toEqual(['Word:meta.region', 'Eq:=', 'Word:x'])
    expect(types('x=meta."a"')).toEqual(['Word:x', 'Eq:=', 'Word:meta.', 'Str:"a"'])
  })

  it('marks a * with a blank before it as a LoneStar', () => {
    expect(types('host=web*')).toEqual(['Word:host', 'Eq:=', 'Word:web', 'Star:*'])
    expect(types('host=*')).toEqual(['Word:host', 'Eq:=', 'Star:*'])
    expect(types('host=web *')).toEqual(['Word:host', 'Eq:=', 'Word:web', 'LoneStar:*'])
    expect(types('*')).toEqual(['LoneStar:*'])
  })

  it('decodes strings and reports the first bad one without failing', () => {
    const r = lexQuery('a="x\\"y\\\\z" b="q\\n" c="open')
    expect([...r.strings.values()]).toEqual(['x"y\\z'])
    expect(r.badString).toMatchObject({ offset: 16 })
  })

  it('covers every character with a token or a blank', () => {
    const text = ' ls  WHERE host="a b"* = ==** x '
    const covered = new Array<boolean>(text.length).fill(false)
    for (const t of lexQuery(text).tokens) for (let i = t.startOffset; i < tokenEnd(t); i++) covered[i] = true
    covered.forEach((c, i) => expect(c || /\s/.test(text[i]!)).toBe(true))
  })
})

describe('decodeString', () => {
  it('accepts \\" and \\\\ only', () => {
    expect(decodeString('"a\\"b\\\\c"', 0)).toBe('a"b\\c')
    expect(decodeString('""', 0)).toBe('')
  })
  it('reports an unknown escape at the backslash', () => {
    expect(decodeString('"ab\\tc"', 10)).toMatchObject({ offset: 13 })
  })
  it('reports an unterminated string at the opening quote', () => {
    expect(decodeString('"abc', 4)).toMatchObject({ offset: 4 })
    expect(decodeString('"abc\\"', 4)).toMatchObject({ offset: 4 })
    expect(decodeString('"abc\\', 4)).toMatchObject({ offset: 4 })
  })
})
