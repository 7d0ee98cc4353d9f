import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX_PAYLOAD, DEFAULT_READ_BUFFER_BYTES, hardReadBound, resolveLimits } from '../../src/transport/limits.js'

describe('resolveLimits', () => {
  it('fills in the documented defaults', () => {
    expect(resolveLimits()).toEqual({
      highWaterMark: 1 << 20,
      readBufferFrames: 64,
      readBufferBytes: 4 << 20,
      maxPayload: 4 << 20,
      closeTimeout: 30_000,
    })
  })

  it('keeps given values and rejects unusable ones', () => {
    expect(resolveLimits({ highWaterMark: 5 }).highWaterMark).toBe(5)
    expect(() => resolveLimits({ readBufferFrames: 0 })).toThrow(RangeError)
    expect(() => resolveLimits({ maxPayload: 1.5 })).toThrow(RangeError)
    expect(() => resolveLimits({ highWaterMark: -1 })).toThrow(RangeError)
  })

  it('puts the hard read bound one maximal frame and 1 MiB past the pause threshold', () => {
    expect(hardReadBound(resolveLimits())).toBe(DEFAULT_READ_BUFFER_BYTES + DEFAULT_MAX_PAYLOAD + (1 << 20))
  })
})
