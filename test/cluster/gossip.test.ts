import { describe, expect, it } from 'vitest'
import { fastMsgId, MEMBERSHIP_GOSSIPSUB } from '../../src/cluster/gossip.js'

const base = {
  topic: '/ww/ww/heartbeat',
  from: new Uint8Array([0, 36, 8, 1, 18, 32, 1, 2, 3]),
  seqno: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 7]),
  data: new Uint8Array([0x94, 1, 2, 3, 4]),
  signature: new Uint8Array(64).fill(9),
  key: undefined as Uint8Array | undefined,
}

describe('fastMsgId: the duplicate check before signature verification', () => {
  it('is the same for a byte-identical copy', () => {
    const copy = { ...base, from: base.from.slice(), seqno: base.seqno.slice(), data: base.data.slice(), signature: base.signature.slice() }
    expect(fastMsgId(copy)).toBe(fastMsgId(base))
  })

  it('differs when any field differs, so an altered copy is verified (and rejected) as before', () => {
    const id = fastMsgId(base)
    const flip = (b: Uint8Array): Uint8Array => {
      const c = b.slice()
      c[c.length - 1] ^= 1
      return c
    }
    const variants = [
      { ...base, topic: '/ww/other/heartbeat' },
      { ...base, from: flip(base.from) },
      { ...base, seqno: flip(base.seqno) },
      { ...base, data: flip(base.data) },
      { ...base, signature: flip(base.signature) },
      { ...base, key: new Uint8Array(0) },
      { ...base, signature: undefined },
      // Bytes moved from one field to the next: the length prefixes keep them apart.
      { ...base, data: new Uint8Array([0x94, 1, 2, 3]), signature: new Uint8Array([4, ...base.signature]) },
    ]
    const ids = variants.map((v) => fastMsgId(v))
    for (const other of ids) expect(other).not.toBe(id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('membership options: mesh degree 3 (2…5) and the fast id', () => {
    expect(MEMBERSHIP_GOSSIPSUB).toMatchObject({ D: 3, Dlo: 2, Dhi: 5, Dscore: 1, Dout: 1, Dlazy: 3, fastMsgIdFn: fastMsgId })
  })
})
