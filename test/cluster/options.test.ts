import { describe, expect, it } from 'vitest'
import { ERR_BAD_DURATION, ERR_BAD_META, ERR_BAD_NAMESPACE, parseDuration, parseMeta, validateNamespace, validateTtl } from '../../src/cluster/options.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('parseDuration', () => {
  it('reads units and bare milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('10s')).toBe(10_000)
    expect(parseDuration('1m')).toBe(60_000)
    expect(parseDuration('2h')).toBe(7_200_000)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('250')).toBe(250)
    expect(parseDuration(' 3 s ')).toBe(3000)
    expect(parseDuration(42)).toBe(42)
  })

  it('rejects anything else with ERR_BAD_DURATION', () => {
    for (const bad of ['', 's', '10 weeks', '-5s', '1e3', '5sec', '1m30s', 'ten', '1.s']) {
      expect(code(() => parseDuration(bad)), bad).toBe(ERR_BAD_DURATION)
    }
    expect(code(() => parseDuration(-1))).toBe(ERR_BAD_DURATION)
    expect(code(() => parseDuration(Number.NaN))).toBe(ERR_BAD_DURATION)
    expect(code(() => parseDuration('99999999999999999999h'))).toBe(ERR_BAD_DURATION)
  })
})

describe('validateTtl', () => {
  it('accepts 100 ms to one day', () => {
    expect(validateTtl(100)).toBe(100)
    expect(validateTtl(86_400_000)).toBe(86_400_000)
  })
  it('rejects too short, too long and fractional TTLs', () => {
    for (const bad of [0, 99, 86_400_001, 1.5]) expect(code(() => validateTtl(bad))).toBe(ERR_BAD_DURATION)
  })
})

describe('validateNamespace', () => {
  it('accepts names that fit in a topic', () => {
    for (const ok of ['ww', 'prod-eu.1', 'a', 'A_b', 'x'.repeat(64)]) expect(validateNamespace(ok)).toBe(ok)
  })
  it('rejects slashes, spaces, empty and long names', () => {
    for (const bad of ['', 'a/b', 'a b', '-x', '.x', 'x'.repeat(65), 'é']) expect(code(() => validateNamespace(bad)), bad).toBe(ERR_BAD_NAMESPACE)
  })
})

describe('parseMeta', () => {
  it('splits at the first =, later keys win', () => {
    expect(parseMeta(['region=us-east-1', 'expr=a=b', 'empty=', 'region=eu'])).toEqual({ region: 'eu', expr: 'a=b', empty: '' })
  })
  it('refuses the reserved key __proto__; constructor is an ordinary key', () => {
    expect(code(() => parseMeta(['__proto__=x']))).toBe(ERR_BAD_META)
    const m = parseMeta(['constructor=x'])
    expect(Object.keys(m)).toEqual(['constructor'])
    expect(m['constructor']).toBe('x')
  })
  it('rejects entries without = or without a key', () => {
    expect(code(() => parseMeta(['region']))).toBe(ERR_BAD_META)
    expect(code(() => parseMeta(['=x']))).toBe(ERR_BAD_META)
  })
})
