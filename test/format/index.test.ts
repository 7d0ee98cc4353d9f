import { describe, expect, it } from 'vitest'
import { ERR_FORMAT_EXISTS, ERR_UNKNOWN_FORMAT, FormatRegistry, ndjson } from '../../src/format/index.js'
import { hasCode } from '../../src/errors.js'

describe('format registry', () => {
  it('holds the built-ins in order', () => {
    expect(FormatRegistry.withBuiltins().names()).toEqual(['text', 'json', 'ndjson'])
  })

  it('names the known formats when asked for an unknown one', () => {
    const r = FormatRegistry.withBuiltins()
    let err: unknown
    try {
      r.get('yaml')
    } catch (e) {
      err = e
    }
    expect(hasCode(err, ERR_UNKNOWN_FORMAT)).toBe(true)
    expect((err as Error).message).toContain('text, json, ndjson')
  })

  it('refuses a name taken twice', () => {
    const r = FormatRegistry.withBuiltins()
    expect(() => r.register('json', ndjson)).toThrow(expect.objectContaining({ code: ERR_FORMAT_EXISTS }))
    r.register('other', ndjson)
    expect(r.get('other')).toBe(ndjson)
  })
})
