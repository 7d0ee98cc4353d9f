import { describe, expect, it } from 'vitest'
import {
  decodeHeartbeat,
  encodeHeartbeat,
  ERR_HEARTBEAT_MALFORMED,
  ERR_HEARTBEAT_TOO_LARGE,
  ERR_HEARTBEAT_VERSION,
  MAX_HEARTBEAT_BYTES,
  newServerId,
  nextHeartbeatDelay,
  SeqClock,
} from '../../src/cluster/heartbeat.js'
import { ERR_INVALID_RECORD } from '../../src/record/record.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const RECORD = { peer: PEER, server: '0123456789abcdef', seq: 1700000000000000, ttl: 10000, host: 'h1', meta: { region: 'eu' } }

// Literal wire pieces of the valid fixture: [1, peer, server, seq, ttl, host, meta].
const HEAD = '97' // fixarray of 7
const V1 = '01'
const PEER_HEX = 'd934' + Buffer.from(PEER).toString('hex') // str8, 52 bytes
const SERVER = 'cf0123456789abcdef' // uint64
const SEQ = 'cf00060a24181e4000' // uint64 1700000000000000
const TTL = 'cd2710' // uint16 10000
const HOST = 'a26831' // "h1"
const META = '92a6726567696f6ea26575' // ["region", "eu"]
const VALID = HEAD + V1 + PEER_HEX + SERVER + SEQ + TTL + HOST + META

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const build = (p: Partial<Record<'head' | 'v' | 'peer' | 'server' | 'seq' | 'ttl' | 'host' | 'meta', string>>): Uint8Array =>
  hex((p.head ?? HEAD) + (p.v ?? V1) + (p.peer ?? PEER_HEX) + (p.server ?? SERVER) + (p.seq ?? SEQ) + (p.ttl ?? TTL) + (p.host ?? HOST) + (p.meta ?? META))

// The heartbeat of a record the encoder would refuse (its addrs break the record rules).
function encodeHeartbeatUnchecked(r: typeof RECORD & { addrs: string[] }): Uint8Array {
  const ok = encodeHeartbeat({ ...RECORD, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`] })
  const good = Buffer.from(`/ip4/127.0.0.1/tcp/1/p2p/${PEER}`)
  const bad = Buffer.from(r.addrs[0]!)
  const i = Buffer.from(ok).indexOf(good)
  return new Uint8Array(Buffer.concat([Buffer.from(ok.subarray(0, i - 2)), Buffer.from([0xd9, bad.length]), bad]))
}

function codeOf(bytes: Uint8Array): string {
  try {
    decodeHeartbeat(bytes)
  } catch (err) {
    return (err as { code: string }).code
  }
  return 'accepted'
}

describe('heartbeat codec', () => {
  it('encodes the documented bytes and decodes them back', () => {
    expect(Buffer.from(encodeHeartbeat(RECORD)).toString('hex')).toBe(VALID)
    expect(decodeHeartbeat(hex(VALID))).toEqual(RECORD)
  })

  it('carries addrs as an 8th element; reads 7 (no addrs) and reads past elements after addrs', () => {
    const addrs = [`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`, `/ip6/::1/tcp/4001/p2p/${PEER}`]
    const bytes = encodeHeartbeat({ ...RECORD, addrs })
    expect(bytes[0]).toBe(0x98)
    expect(decodeHeartbeat(bytes)).toEqual({ ...RECORD, addrs })
    expect(decodeHeartbeat(hex(VALID))).not.toHaveProperty('addrs')
    // A later format's 9th element is read past.
    const nine = hex('99' + Buffer.from(bytes.subarray(1)).toString('hex') + 'a3787878')
    expect(decodeHeartbeat(nine)).toEqual({ ...RECORD, addrs })
    // An address of another peer, or too many: refused by the record rules.
    expect(() => decodeHeartbeat(encodeHeartbeatUnchecked({ ...RECORD, addrs: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'] }))).toThrow(
      expect.objectContaining({ code: ERR_INVALID_RECORD, field: 'addrs' }),
    )
  })

  it('round-trips leave records, empty host and meta, server with leading zeros', () => {
    const r = { ...RECORD, server: '000000000000000a', ttl: 0, host: '', meta: {} }
    expect(decodeHeartbeat(encodeHeartbeat(r))).toEqual(r)
  })

  it('refuses a meta key named __proto__ (reserved), and it pollutes no prototype', () => {
    const meta = '92a95f5f70726f746f5f5fa178' // ["__proto__", "x"]
    expect(() => decodeHeartbeat(build({ meta }))).toThrow(/meta: key '__proto__' is reserved/)
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('reads integers of any width, and integral float64 (other encoders)', () => {
    expect(decodeHeartbeat(build({ ttl: '0a' })).ttl).toBe(10) // positive fixint
    expect(decodeHeartbeat(build({ seq: 'cb4318289060790000' })).seq).toBe(1700000000000000) // float64
    expect(decodeHeartbeat(build({ server: '05' })).server).toBe('0000000000000005')
  })

  it('refuses to encode a record larger than the limit', () => {
    const meta: Record<string, string> = {}
    for (let i = 0; i < 10; i++) meta[`k${i}`] = 'x'.repeat(1000)
    expect(() => encodeHeartbeat({ ...RECORD, meta })).toThrow(expect.objectContaining({ code: ERR_HEARTBEAT_TOO_LARGE }))
  })

  it('refuses to encode an invalid record', () => {
    expect(() => encodeHeartbeat({ ...RECORD, server: 'XYZ' })).toThrow(expect.objectContaining({ code: ERR_INVALID_RECORD }))
  })
})

// An address of exactly `bytes` UTF-8 bytes made of two-byte characters, ending in /p2p/PEER.
function wideAddr(bytes: number): string {
  const tail = `/tcp/1/p2p/${PEER}`
  const room = bytes - Buffer.byteLength(`/dns4/${tail}`)
  const a = `/dns4/${'é'.repeat(Math.floor(room / 2))}${room % 2 === 1 ? 'x' : ''}${tail}`
  expect(Buffer.byteLength(a)).toBe(bytes)
  return a
}

// A heartbeat of RECORD whose 8th element holds the one address `a` (str16, any length).
function withAddr(a: string): Uint8Array {
  const b = Buffer.from(a)
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return hex('98' + VALID.slice(2) + '91' + 'da' + len.toString('hex') + b.toString('hex'))
}

describe('heartbeat codec: an address is bounded by its bytes', () => {
  it('takes a multi-byte address of exactly LIMITS.addrBytes bytes', () => {
    const a = wideAddr(256)
    expect(a.length).toBeLessThan(256)
    expect(decodeHeartbeat(withAddr(a))).toEqual({ ...RECORD, addrs: [a] })
  })

  it('refuses one byte more in the decoder, before multiaddr parsing or the record validator', () => {
    const a = wideAddr(257)
    // Fewer UTF-16 units than the limit: a bound on .length would let it through.
    expect(a.length).toBeLessThan(256)
    expect(() => decodeHeartbeat(withAddr(a))).toThrow(expect.objectContaining({ code: ERR_HEARTBEAT_MALFORMED, message: expect.stringContaining('longer than 256 bytes') }))
  })
})

describe('heartbeat codec: every malformed case is rejected', () => {
  const cases: Array<[string, Uint8Array, string]> = [
    ['empty payload', hex(''), ERR_HEARTBEAT_MALFORMED],
    ['truncated', hex(VALID.slice(0, -2)), ERR_HEARTBEAT_MALFORMED],
    ['trailing byte', hex(VALID + '00'), ERR_HEARTBEAT_MALFORMED],
    ['reserved byte 0xc1', hex('c1'), ERR_HEARTBEAT_MALFORMED],
    ['top level string', hex('a3616263'), ERR_HEARTBEAT_MALFORMED],
    ['top level map', hex('80'), ERR_HEARTBEAT_MALFORMED],
    ['empty array', hex('90'), ERR_HEARTBEAT_MALFORMED],
    ['version 2', build({ v: '02' }), ERR_HEARTBEAT_VERSION],
    ['version 0', build({ v: '00' }), ERR_HEARTBEAT_VERSION],
    ['version as string', build({ v: 'a131' }), ERR_HEARTBEAT_VERSION],
    ['six elements', hex('96' + V1 + PEER_HEX + SERVER + SEQ + TTL + HOST), ERR_HEARTBEAT_MALFORMED],
    ['addrs (8th element) is nil', hex('98' + VALID.slice(2) + 'c0'), ERR_HEARTBEAT_MALFORMED],
    ['addrs holds an integer', hex('98' + VALID.slice(2) + '9101'), ERR_HEARTBEAT_MALFORMED],
    ['addrs holds a non-multiaddr', hex('98' + VALID.slice(2) + '91' + 'a3' + Buffer.from('/xx').toString('hex')), ERR_HEARTBEAT_MALFORMED],
    ['addrs: 9 addresses', hex('98' + VALID.slice(2) + '99' + ('a0'.repeat(9))), ERR_HEARTBEAT_MALFORMED],
    ['peer is an integer', build({ peer: '01' }), ERR_HEARTBEAT_MALFORMED],
    ['peer is invalid UTF-8', build({ peer: 'a2c328' }), ERR_HEARTBEAT_MALFORMED],
    ['peer is not base58', build({ peer: 'a461626321' }), ERR_INVALID_RECORD],
    ['peer is empty', build({ peer: 'a0' }), ERR_INVALID_RECORD],
    ['server is a string', build({ server: 'b0' + Buffer.from('0123456789abcdef').toString('hex') }), ERR_HEARTBEAT_MALFORMED],
    ['server is negative', build({ server: 'd0ff' }), ERR_HEARTBEAT_MALFORMED],
    ['server is nil', build({ server: 'c0' }), ERR_HEARTBEAT_MALFORMED],
    ['seq is negative', build({ seq: 'ff' }), ERR_HEARTBEAT_MALFORMED],
    ['seq beyond 2^53-1', build({ seq: 'cf0020000000000000' }), ERR_HEARTBEAT_MALFORMED],
    ['seq is fractional', build({ seq: 'cb3ff8000000000000' }), ERR_HEARTBEAT_MALFORMED],
    ['seq is a boolean', build({ seq: 'c3' }), ERR_HEARTBEAT_MALFORMED],
    ['ttl longer than a day', build({ ttl: 'ce05265c01' }), ERR_INVALID_RECORD],
    ['ttl is a string', build({ ttl: 'a131' }), ERR_HEARTBEAT_MALFORMED],
    ['host is nil', build({ host: 'c0' }), ERR_HEARTBEAT_MALFORMED],
    ['host is a timestamp extension', build({ host: 'd6ff00000000' }), ERR_HEARTBEAT_MALFORMED],
    ['host longer than 255 bytes', build({ host: 'da0100' + '61'.repeat(256) }), ERR_INVALID_RECORD],
    ['meta is a map', build({ meta: '81a161a162' }), ERR_HEARTBEAT_MALFORMED],
    ['meta is nil', build({ meta: 'c0' }), ERR_HEARTBEAT_MALFORMED],
    ['meta has an odd length', build({ meta: '91a161' }), ERR_HEARTBEAT_MALFORMED],
    ['meta has a duplicate key', build({ meta: '94a161a162a161a163' }), ERR_HEARTBEAT_MALFORMED],
    ['meta value is an integer', build({ meta: '92a16101' }), ERR_HEARTBEAT_MALFORMED],
    ['meta key is an integer', build({ meta: '9201a161' }), ERR_HEARTBEAT_MALFORMED],
    ['meta key contains =', build({ meta: '92a3613d62a163' }), ERR_INVALID_RECORD],
    ['meta key is empty', build({ meta: '92a0a161' }), ERR_INVALID_RECORD],
    ['meta value is invalid UTF-8', build({ meta: '92a161a1ff' }), ERR_HEARTBEAT_MALFORMED],
    ['payload over 8 KiB', new Uint8Array(MAX_HEARTBEAT_BYTES + 1), ERR_HEARTBEAT_TOO_LARGE],
  ]
  for (const [name, bytes, code] of cases) {
    it(name, () => {
      expect(codeOf(bytes)).toBe(code)
    })
  }
})

describe('heartbeat cadence', () => {
  it('jitters the delay within [ttl/4, ttl/2]', () => {
    expect(nextHeartbeatDelay(10_000, () => 0)).toBe(2500)
    expect(nextHeartbeatDelay(10_000, () => 0.999999)).toBe(5000)
    for (let i = 0; i < 1000; i++) {
      const d = nextHeartbeatDelay(1000)
      expect(d).toBeGreaterThanOrEqual(250)
      expect(d).toBeLessThanOrEqual(500)
    }
  })

  it('takes seq from the clock in µs, and never lets it go backwards', () => {
    const before = Date.now() * 1000
    const c = new SeqClock()
    const first = c.next()
    expect(first).toBeGreaterThanOrEqual(before - 1000)
    expect(first).toBeLessThanOrEqual(Date.now() * 1000 + 1000)
    const second = c.next()
    expect(second).toBeGreaterThan(first)
    expect(c.current).toBe(second)
    let now = 42
    const fixed = new SeqClock(() => now)
    expect(fixed.next()).toBe(42)
    now = 1000
    expect(fixed.next()).toBe(1000)
    now = 500 // the clock stepped back: seq still grows
    expect(fixed.next()).toBe(1001)
  })

  it('draws 16 lowercase hex digits per server ID, different each time', () => {
    const a = newServerId()
    expect(a).toMatch(/^[0-9a-f]{16}$/)
    expect(newServerId()).not.toBe(a)
  })
})
