import { describe, expect, it } from 'vitest'
import { compareVersion, RecordError, validateRecord } from '../../src/record/record.js'

const good = {
  peer: '12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERE',
  server: '0123456789abcdef',
  seq: 1,
  ttl: 10_000,
  host: 'web-1',
  meta: { region: 'us-east-1' },
}

function fieldOf(v: unknown): string | undefined {
  try {
    validateRecord(v)
    return undefined
  } catch (e) {
    expect(e).toBeInstanceOf(RecordError)
    expect((e as RecordError).code).toBe('ERR_INVALID_RECORD')
    return (e as RecordError).field
  }
}

describe('validateRecord', () => {
  it('accepts a good record and copies meta', () => {
    const r = validateRecord(good)
    expect(r).toEqual(good)
    expect(r.meta).not.toBe(good.meta)
  })

  it('takes addrs of the record\'s own peer, bounded in count and size, and drops an empty list', () => {
    const mine = (s: string) => `${s}/p2p/${good.peer}`
    const addrs = [mine('/ip4/127.0.0.1/tcp/4001'), mine('/dns4/a.example/tcp/1')]
    const r = validateRecord({ ...good, addrs })
    expect(r.addrs).toEqual(addrs)
    expect(r.addrs).not.toBe(addrs)
    expect(validateRecord({ ...good, addrs: [] })).toEqual(good)
    const bad = [
      'not a list',
      [1],
      [''],
      ['ip4/no/leading/slash'],
      [mine('/ip4/127.0.0.1/tcp/1 ')],
      ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'],
      Array.from({ length: 9 }, (_, i) => mine(`/ip4/127.0.0.1/tcp/${i + 1}`)),
      [mine('/dns4/' + 'a'.repeat(256) + '/tcp/1')],
    ]
    for (const a of bad) expect(fieldOf({ ...good, addrs: a })).toBe('addrs')
    expect(validateRecord({ ...good, addrs: Array.from({ length: 8 }, (_, i) => mine(`/ip4/127.0.0.1/tcp/${i + 1}`)) }).addrs).toHaveLength(8)
  })

  it('drops unknown fields', () => {
    expect(validateRecord({ ...good, extra: 1 })).toEqual(good)
  })

  it.each([
    ['not an object', 5, 'record'],
    ['array', [], 'record'],
    ['peer not base58', { ...good, peer: '0OIl' }, 'peer'],
    ['peer empty', { ...good, peer: '' }, 'peer'],
    ['server upper-case', { ...good, server: '0123456789ABCDEF' }, 'server'],
    ['server short', { ...good, server: 'abc' }, 'server'],
    ['seq negative', { ...good, seq: -1 }, 'seq'],
    ['seq fractional', { ...good, seq: 1.5 }, 'seq'],
    ['seq unsafe', { ...good, seq: 2 ** 53 }, 'seq'],
    ['ttl negative', { ...good, ttl: -5 }, 'ttl'],
    ['ttl string', { ...good, ttl: '10' }, 'ttl'],
    ['host too long', { ...good, host: 'h'.repeat(256) }, 'host'],
    ['host multibyte too long', { ...good, host: 'é'.repeat(128) }, 'host'],
    ['meta not object', { ...good, meta: 'x' }, 'meta'],
    ['meta key with =', { ...good, meta: { 'a=b': 'c' } }, 'meta.a=b'],
    ['meta empty key', { ...good, meta: { '': 'c' } }, 'meta'],
    ['meta value not string', { ...good, meta: { a: 1 } }, 'meta.a'],
    ['meta value too long', { ...good, meta: { a: 'v'.repeat(1025) } }, 'meta.a'],
    ['meta key too long', { ...good, meta: { ['k'.repeat(129)]: 'v' } }, 'meta.' + 'k'.repeat(32)],
    ['too many meta entries', { ...good, meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, 'meta'],
  ])('refuses %s, naming the field', (_name, value, field) => {
    expect(fieldOf(value)).toBe(field)
  })

  it('accepts the limits themselves', () => {
    expect(fieldOf({ ...good, host: 'h'.repeat(255), meta: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v'.repeat(1024)])) })).toBeUndefined()
  })
})

describe('compareVersion', () => {
  it('orders by seq, then server', () => {
    expect(compareVersion({ seq: 1, server: 'f'.repeat(16) }, { seq: 2, server: '0'.repeat(16) })).toBeLessThan(0)
    expect(compareVersion({ seq: 2, server: '0'.repeat(16) }, { seq: 2, server: '1'.repeat(16) })).toBeLessThan(0)
    expect(compareVersion({ seq: 2, server: '1'.repeat(16) }, { seq: 2, server: '1'.repeat(16) })).toBe(0)
    expect(compareVersion({ seq: 3, server: '0'.repeat(16) }, { seq: 2, server: 'f'.repeat(16) })).toBeGreaterThan(0)
  })
})

describe('validateRecord meta keys', () => {
  it('refuses the reserved meta key __proto__ (decoders refuse or misread it), and keeps other Object.prototype names as data', () => {
    const meta = JSON.parse('{"a":"b","__proto__":"x"}') as Record<string, string>
    expect(() => validateRecord({ ...good, meta })).toThrow(/meta\.__proto__: key is reserved/)
    const r = validateRecord({ ...good, meta: JSON.parse('{"constructor":"x","toString":"y"}') as Record<string, string> })
    expect(Object.keys(r.meta)).toEqual(['constructor', 'toString'])
    expect(Object.getPrototypeOf(r.meta)).toBe(Object.prototype)
    expect(r.meta['constructor']).toBe('x')
  })
})
