import { describe, expect, it } from 'vitest'
import { json } from '../../src/format/json.js'
import { render, sample } from './records.js'

describe('json formatter', () => {
  it('writes one valid JSON array', () => {
    const recs = [sample(1), sample(2), sample(3)]
    expect(JSON.parse(render(json, recs).text)).toEqual(recs)
  })

  it('shows a record\'s addrs after meta, and no addrs key for a record without', () => {
    const withAddrs = { ...sample(1), addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${sample(1).peer}`] }
    const text = render(json, [withAddrs, sample(2)]).text
    const [a, b] = JSON.parse(text) as Array<Record<string, unknown>>
    expect(Object.keys(a!)).toEqual(['peer', 'server', 'seq', 'ttl', 'host', 'meta', 'addrs'])
    expect(a!.addrs).toEqual(withAddrs.addrs)
    expect(b).not.toHaveProperty('addrs')
  })

  it('writes an empty array for an empty result', () => {
    expect(render(json, []).text).toBe('[]\n')
    expect(JSON.parse(render(json, []).text)).toEqual([])
  })

  it('streams element by element', () => {
    const { writes } = render(json, [sample(1), sample(2)])
    // '[' then one write per element, then the closing bracket.
    expect(writes).toHaveLength(4)
    expect(writes[0]).toBe('[')
    expect(JSON.parse(writes[1]!.trim())).toEqual(sample(1))
    expect(JSON.parse(writes[2]!.replace(/^,/, '').trim())).toEqual(sample(2))
  })

  it('leaves the array unclosed when the stream failed, so it cannot pass for a whole result', () => {
    const { text } = render(json, [sample(1)], { error: new Error('lost') })
    expect(() => JSON.parse(text)).toThrow()
    expect(text.trimEnd().endsWith(']')).toBe(false)
  })
})
