import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { completeAt, tryParseQuery } from '../../src/lang/index.js'

describe('completeAt', () => {
  it('offers every starting keyword on an empty line', () => {
    expect(completeAt('')).toEqual({
      start: 0,
      prefix: '',
      keywords: ['LS', 'LOOKUP', 'WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE'],
      field: false,
      fields: [],
    })
  })

  it('completes a partial keyword, case-insensitively', () => {
    expect(completeAt('l')).toMatchObject({ start: 0, prefix: 'l', keywords: ['LS', 'LOOKUP', 'LIMIT'] })
    expect(completeAt('ls wh')).toMatchObject({ start: 3, prefix: 'wh', keywords: ['WHERE'] })
    expect(completeAt('ls to')).toMatchObject({ start: 3, keywords: ['TO'] })
  })

  it('offers fields after WHERE/FROM/TO', () => {
    expect(completeAt('ls WHERE ')).toMatchObject({ start: 9, prefix: '', field: true, fields: ['host', 'peer', 'server'], keywords: [] })
    expect(completeAt('ls WHERE ho')).toMatchObject({ start: 9, prefix: 'ho', field: true, fields: ['host'] })
    expect(completeAt('TO ')).toMatchObject({ field: true, fields: ['host', 'peer', 'server'] })
  })

  it('after FROM f=v TO, offers only FROM’s field', () => {
    expect(completeAt('FROM zone=a TO ')).toMatchObject({ field: false, fields: ['zone'] })
    expect(completeAt('FROM meta.limit=a TO ')).toMatchObject({ field: false, fields: ['meta.limit'] })
    expect(completeAt('FROM host=a TO h')).toMatchObject({ field: false, fields: ['host'], prefix: 'h' })
  })

  it('names the index whose values fit after =', () => {
    expect(completeAt('ls WHERE host=')).toMatchObject({ start: 14, prefix: '', value: { field: 'host' } })
    expect(completeAt('ls WHERE host=we')).toMatchObject({ start: 14, prefix: 'we', value: { field: 'host' } })
    expect(completeAt('WHERE region=us')).toMatchObject({ prefix: 'us', value: { field: 'meta', key: 'region' } })
    expect(completeAt('WHERE meta.seq=')).toMatchObject({ value: { field: 'meta', key: 'seq' } })
    expect(completeAt('WHERE meta."a b"=x')).toMatchObject({ value: { field: 'meta', key: 'a b' } })
    expect(completeAt('WHERE region=to')).toMatchObject({ prefix: 'to', keywords: [], value: { field: 'meta', key: 'region' } })
    expect(completeAt('WHERE seq=').value).toBeUndefined()
  })

  it('leaves out clauses the query already has or can’t take', () => {
    expect(completeAt('ls WHERE host=a ').keywords).toEqual(['LIMIT', 'REVERSE'])
    expect(completeAt('lookup ').keywords).toEqual(['WHERE', 'FROM', 'TO', 'REVERSE'])
    expect(completeAt('FROM host=a LIMIT 3 ').keywords).toEqual(['TO', 'REVERSE'])
  })

  it('completes at a cursor inside the line', () => {
    const text = 'ls WH host=a'
    expect(completeAt(text, 5)).toMatchObject({ start: 3, prefix: 'WH', keywords: ['WHERE'] })
  })

  it('offers nothing inside a string, after a mistake, or after LIMIT', () => {
    for (const t of ['WHERE host="a', 'ls bogus ', 'LIMIT ', 'WHERE host=a*']) {
      const c = completeAt(t)
      expect([c.keywords, c.fields, c.field, c.value]).toEqual([[], [], false, undefined])
    }
  })

  it('every keyword it offers keeps the line parseable or incomplete, never wrong (fast-check)', () => {
    const piece = fc.constantFrom('ls ', 'lookup ', 'WHERE ', 'FROM ', 'TO ', 'LIMIT 3 ', 'REVERSE ', 'host=a ', 'zone=b ', 'x', ' ', '=', '"')
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.nat(), (parts, cur) => {
        const text = parts.join('')
        const c = completeAt(text, cur % (text.length + 1))
        expect(c.start).toBeLessThanOrEqual(Math.min(cur % (text.length + 1), text.length))
        if (c.prefix === '' && c.start === text.length && tryParseQuery(text).ok) {
          for (const k of c.keywords) {
            let rest = ''
            if (k === 'LIMIT') rest = ' 1'
            if (k === 'WHERE' || k === 'FROM' || k === 'TO') {
              // Complete the field too, the way a user would.
              const f = completeAt(`${text}${k} `)
              rest = ` ${f.fields[0] ?? 'host'}=a`
            }
            expect(tryParseQuery(`${text}${k}${rest}`).ok).toBe(true)
          }
        }
      }),
      { numRuns: 1500 },
    )
  })
})
