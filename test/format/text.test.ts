import { describe, expect, it } from 'vitest'
import { ERR_UNKNOWN_COLUMN, formatMeta, formatTtl, parseColumns, text, TEXT_COLUMNS, textColumn, TEXT_FIRST_BATCH, TEXT_HOST_MAX } from '../../src/format/text.js'
import { render, sample } from './records.js'

describe('text formatter', () => {
  it('prints an aligned table with a header', () => {
    const { text: out } = render(text, [sample(1, 'a'), sample(2, 'longer-host')])
    const lines = out.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+SERVER\s+HOST\s+META$/)
    const metaCol = lines[0]!.indexOf('META')
    const hostCol = lines[0]!.indexOf('HOST')
    for (const l of lines.slice(1)) {
      expect(l.slice(metaCol)).toMatch(/^region=/)
      expect(l[hostCol - 1]).toBe(' ')
    }
    expect(lines[1]).toContain(sample(1).peer)
    expect(lines[2]).toContain('longer-host')
  })

  it('prints nothing for an empty result', () => {
    expect(render(text, []).text).toBe('')
  })

  it('shows an empty host as - and quotes meta values that need it, keys sorted', () => {
    const r = sample(1, '', { z: 'last', a: 'with space', e: '' })
    const line = render(text, [r]).text.split('\n')[1]!
    expect(line).toMatch(/\s-\s+a="with space" e="" z=last$/)
    expect(formatMeta({ 'k"q': 'v\\' })).toBe('"k\\"q"="v\\\\"')
  })

  it('holds back only the first batch, then streams each row', () => {
    const recs = Array.from({ length: TEXT_FIRST_BATCH + 3 }, (_, i) => sample(i))
    const { writes } = render(text, recs)
    // One write for header + first batch, then one per later row.
    expect(writes).toHaveLength(1 + 3)
    expect(writes[0]!.split('\n')).toHaveLength(TEXT_FIRST_BATCH + 2)
  })

  it('never truncates: a later, wider host pushes its row to the right', () => {
    const recs = Array.from({ length: TEXT_FIRST_BATCH }, (_, i) => sample(i, 'h'))
    const wide = 'x'.repeat(TEXT_HOST_MAX + 10)
    recs.push(sample(99, wide))
    const lines = render(text, recs).text.trimEnd().split('\n')
    expect(lines.at(-1)).toContain(wide + '  region=')
  })

  it('bolds the header only with colour', () => {
    expect(render(text, [sample(1)], { color: true }).text.startsWith('\u001b[1mPEER')).toBe(true)
    expect(render(text, [sample(1)]).text.includes('\u001b')).toBe(false)
  })
})

describe('text formatter columns', () => {
  const withAddrs = (i: number, addrs?: string[]): ReturnType<typeof sample> => ({ ...sample(i), ...(addrs !== undefined ? { addrs } : {}) })

  it('-o wide adds SEQ and TTL after HOST and ADDRS at the end', () => {
    const a = withAddrs(1, ['/ip4/127.0.0.1/tcp/4001/p2p/x', '/ip4/10.0.0.1/tcp/4001/p2p/x'])
    const b = withAddrs(2)
    const lines = render(text, [a, b], { init: { wide: true } }).text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+SERVER\s+HOST\s+SEQ\s+TTL\s+META\s+ADDRS$/)
    expect(lines[1]).toMatch(new RegExp(`\\s${a.seq}\\s+10s\\s+region=us-east-1 role=db\\s+/ip4/127\\.0\\.0\\.1/tcp/4001/p2p/x,/ip4/10\\.0\\.0\\.1/tcp/4001/p2p/x$`))
    // a record without addresses shows -
    expect(lines[2]).toMatch(/role=web\s+-$/)
    // every column starts where its header does
    const at = lines[0]!.indexOf('ADDRS')
    expect(lines[1]!.slice(at)).toMatch(/^\/ip4\//)
    expect(lines[2]!.slice(at)).toBe('-')
  })

  it('--columns picks columns in the given order, meta.KEY included', () => {
    const r = sample(3, 'web-3', { region: 'eu-west-1', 'host': 'meta-host' })
    const lines = render(text, [r, sample(4, 'x', {})], { init: { fields: ['host', 'meta.region', 'peer', 'meta.host', 'ttl'] } }).text.trimEnd().split('\n')
    // a meta key that shadows a built-in header keeps its prefix
    expect(lines[0]).toMatch(/^HOST\s+REGION\s+PEER\s+META\.HOST\s+TTL$/)
    expect(lines[1]).toMatch(new RegExp(`^web-3\\s+eu-west-1\\s+${r.peer}\\s+meta-host\\s+10s$`))
    // a record without the key shows -
    expect(lines[2]).toMatch(/^x\s+-\s+\S+\s+-\s+10s$/)
  })

  it('refuses an unknown column with ERR_UNKNOWN_COLUMN before printing anything', () => {
    expect(() => render(text, [sample(1)], { init: { fields: ['peer', 'hots'] } })).toThrow(expect.objectContaining({ code: ERR_UNKNOWN_COLUMN, message: expect.stringContaining('"hots"') }))
    expect(() => parseColumns('peer,,host')).toThrow(expect.objectContaining({ code: ERR_UNKNOWN_COLUMN }))
    expect(() => parseColumns('meta.')).toThrow(expect.objectContaining({ code: ERR_UNKNOWN_COLUMN }))
    expect(parseColumns(' peer , meta.region')).toEqual(['peer', 'meta.region'])
    for (const c of TEXT_COLUMNS) expect(textColumn(c).name).toBe(c)
  })

  it('--no-headers leaves out only the header line', () => {
    const withHeader = render(text, [sample(1), sample(2)]).text.split('\n')
    const without = render(text, [sample(1), sample(2)], { init: { headers: false } }).text.split('\n')
    expect(without).toEqual(withHeader.slice(1))
  })

  it('with colour, dims an absent value but aligns by its visible width', () => {
    const out = render(text, [sample(1, ''), sample(2, 'some-host')], { color: true }).text
    const plain = render(text, [sample(1, ''), sample(2, 'some-host')]).text
    expect(out).toContain('\u001b[2m-\u001b[22m')
    // eslint-disable-next-line no-control-regex
    expect(out.replace(/\u001b\[\d+m/g, '')).toBe(plain)
  })

  it('shows a sub-second TTL in ms', () => {
    expect(formatTtl(500)).toBe('500ms')
    expect(formatTtl(90_000)).toBe('1m')
  })
})
