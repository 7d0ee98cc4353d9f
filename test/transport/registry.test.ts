import { describe, expect, it } from 'vitest'
import { hasCode } from '../../src/errors.js'
import { MemoryNetwork, memoryTransport } from '../../src/transport/memory.js'
import { defaultTransports, TransportRegistry } from '../../src/transport/registry.js'
import type { Connection, Transport } from '../../src/transport/types.js'

function errOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  return undefined
}

/** A plugin-style transport: scheme `test`, carried by a private memory network. */
function testTransport(): Transport {
  const inner = memoryTransport({ network: new MemoryNetwork() })
  const toMemory = (url: string): string => url.replace(/^test:/, 'memory:')
  return {
    schemes: ['test'],
    connect: (url, o) => inner.connect(toMemory(url), o),
    listen: async (url, onConn, o) => {
      const l = await inner.listen(toMemory(url), onConn, o)
      return { url: l.url.replace(/^memory:/, 'test:'), close: () => l.close() }
    },
  }
}

describe('TransportRegistry', () => {
  it('finds transports by scheme and by URL', () => {
    const r = defaultTransports()
    expect(r.schemes).toEqual(['memory', 'ws', 'wss'])
    expect(r.get('ws')).toBe(r.get('wss:'))
    expect(r.for('ws://127.0.0.1:8420')).toBe(r.get('ws'))
    expect(r.for('MEMORY://x')).toBe(r.get('memory'))
  })

  it('lists the known schemes when none matches', () => {
    const err = errOf(() => defaultTransports().for('quic://127.0.0.1:1'))
    expect(hasCode(err, 'ERR_UNSUPPORTED_SCHEME')).toBe(true)
    expect((err as Error).message).toContain('memory://, ws://, wss://')
    expect(hasCode(errOf(() => new TransportRegistry().for('x://y')), 'ERR_UNSUPPORTED_SCHEME')).toBe(true)
  })

  it('rejects malformed URLs with ERR_INVALID_URL', async () => {
    const r = defaultTransports()
    expect(hasCode(errOf(() => r.for('::nope')), 'ERR_INVALID_URL')).toBe(true)
    expect(hasCode(await r.connect('::nope').catch((e: unknown) => e), 'ERR_INVALID_URL')).toBe(true)
  })

  it('refuses a second transport for a scheme unless asked to replace it', () => {
    const r = new TransportRegistry().register(testTransport())
    expect(hasCode(errOf(() => r.register(testTransport())), 'ERR_DUPLICATE_SCHEME')).toBe(true)
    const replacement = testTransport()
    r.register(replacement, { replace: true })
    expect(r.get('test')).toBe(replacement)
    expect(() => r.register({ ...replacement, schemes: ['bad scheme'] })).toThrow(TypeError)
    expect(() => r.register({ ...replacement, schemes: [] })).toThrow(TypeError)
  })

  it('dials and listens through a plugin-registered scheme', async () => {
    const r = defaultTransports().register(testTransport())
    let server: Connection | undefined
    const l = await r.listen('test://svc', (c) => (server = c))
    try {
      expect(l.url).toBe('test://svc')
      const c = await r.connect(l.url)
      c.send(Uint8Array.of(8))
      const got = await (server as Connection)[Symbol.asyncIterator]().next()
      expect([...(got.value ?? [])]).toEqual([8])
      await c.close()
    } finally {
      await l.close()
    }
  })
})
