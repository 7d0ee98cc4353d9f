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
    // What the grammar takes after a predicate: another one, a range, the trailing clauses.
    expect(completeAt('ls WHERE host=a ').keywords).toEqual(['AND', 'FROM', 'TO', 'LIMIT', 'REVERSE'])
    expect(completeAt('ls WHERE host=web-1 ').keywords).toEqual(['AND', 'FROM', 'TO', 'LIMIT', 'REVERSE'])
    expect(completeAt('ls WHERE host=a LIMIT 2 ').keywords).toEqual(['FROM', 'TO', 'REVERSE'])
    expect(completeAt('ls FROM host=a ').keywords).toEqual(['WHERE', 'TO', 'LIMIT', 'REVERSE'])
    expect(completeAt('ls WHERE host=a FROM peer=b ').keywords).toEqual(['TO', 'LIMIT', 'REVERSE'])
    expect(completeAt('ls FROM host=a TO host=m ').keywords).toEqual(['WHERE', 'LIMIT', 'REVERSE'])
    expect(completeAt('lookup ').keywords).toEqual(['WHERE', 'FROM', 'TO', 'REVERSE'])
    expect(completeAt('FROM host=a LIMIT 3 ').keywords).toEqual(['WHERE', 'TO', 'REVERSE'])
  })

  it('follows the new grammar: operators after a field, AND, IN lists', () => {
    expect(completeAt('ls WHERE host ').keywords).toEqual(['IN'])
    expect(completeAt('ls WHERE host=a AND ')).toMatchObject({ field: true, fields: ['host', 'peer', 'server'] })
    expect(completeAt('ls WHERE region!=')).toMatchObject({ value: { field: 'meta', key: 'region' } })
    expect(completeAt('ls WHERE region!=us')).toMatchObject({ prefix: 'us', value: { field: 'meta', key: 'region' } })
    expect(completeAt('ls WHERE role IN (')).toMatchObject({ value: { field: 'meta', key: 'role' } })
    expect(completeAt('ls WHERE role IN (db, w')).toMatchObject({ prefix: 'w', value: { field: 'meta', key: 'role' } })
    expect(completeAt('ls WHERE host IN (a) ').keywords).toEqual(['AND', 'FROM', 'TO', 'LIMIT', 'REVERSE'])
  })

  it('does not offer the field the other side already names', () => {
    expect(completeAt('ls WHERE host=a TO ').fields).toEqual(['peer', 'server'])
    expect(completeAt('ls WHERE host=a FROM ').fields).toEqual(['peer', 'server'])
    expect(completeAt('ls FROM host=a WHERE ').fields).toEqual(['peer', 'server'])
    expect(completeAt('ls FROM host=a WHERE x=1 AND ').fields).toEqual(['peer', 'server'])
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

  it("offers the other end's field after FROM or TO, whichever came first (found by the property below)", () => {
    expect(completeAt('ls TO zone=b FROM ')).toMatchObject({ field: false, fields: [completeAt('ls FROM zone=b TO ').fields[0]] })
    expect(completeAt('ls TO zone=b FROM ').fields).toHaveLength(1)
    expect(tryParseQuery(`ls TO zone=b FROM ${completeAt('ls TO zone=b FROM ').fields[0]}=a`).ok).toBe(true)
  })

  it('every keyword it offers keeps the line parseable or incomplete, never wrong (fast-check)', () => {
    const piece = fc.constantFrom(
      'ls ', 'lookup ', 'WHERE ', 'FROM ', 'TO ', 'LIMIT 3 ', 'REVERSE ', 'AND ', 'host=a ', 'zone=b ', 'peer!=c* ',
      'role IN (a, b*) ', 'x', ' ', '=', '"',
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), fc.nat(), (parts, cur) => {
        const text = parts.join('')
        const c = completeAt(text, cur % (text.length + 1))
        expect(c.start).toBeLessThanOrEqual(Math.min(cur % (text.length + 1), text.length))
        if (c.prefix === '' && c.start === text.length && tryParseQuery(text).ok) {
          for (const k of c.keywords) {
            let rest = ''
            if (k === 'LIMIT') rest = ' 1'
            if (k === 'IN') rest = ' (a)'
            if (k === 'WHERE' || k === 'FROM' || k === 'TO' || k === 'AND') {
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
