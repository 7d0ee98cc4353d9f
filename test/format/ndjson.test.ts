import { describe, expect, it } from 'vitest'
import { ndjson } from '../../src/format/ndjson.js'
import { render, sample } from './records.js'

describe('ndjson formatter', () => {
  it('writes one object per line with the fields in the documented order', () => {
    const r = { ...sample(1), meta: { b: '2', a: '1' } }
    const { text } = render(ndjson, [r, sample(2)])
    const lines = text.split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[2]).toBe('')
    expect(Object.keys(JSON.parse(lines[0]!))).toEqual(['peer', 'server', 'seq', 'ttl', 'host', 'meta'])
    expect(JSON.parse(lines[0]!)).toEqual(r)
    expect(JSON.parse(lines[1]!)).toEqual(sample(2))
  })

  it('drops extra properties a record object might carry', () => {
    const r = { ...sample(1), extra: 'x' }
    expect(JSON.parse(render(ndjson, [r]).text)).toEqual(sample(1))
  })

  it('writes each record as it arrives and nothing for an empty result', () => {
    expect(render(ndjson, [sample(1), sample(2), sample(3)]).writes).toHaveLength(3)
    expect(render(ndjson, []).text).toBe('')
  })
})
