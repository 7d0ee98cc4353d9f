/**
 * The tcp plugin: the shared transport conformance suite, plus its own specifics (framing
 * limits, URL checks, loading through the plugin loader).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { transportConformance } from '../src/transport/conformance.js'
import { loadPlugin } from '../src/client/plugins.js'
import { hasCode } from '../src/errors.js'
import type { Connection, Listener, Transport } from '../src/transport/types.js'
import plugin, { tcpTransport } from './tcp.js'

transportConformance('tcp plugin', async () => ({ transport: tcpTransport(), listenUrl: 'tcp://127.0.0.1:0' }))

describe('tcp plugin specifics', () => {
  const cleanup: Array<() => Promise<unknown> | void> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  async function pair(t: Transport): Promise<{ listener: Listener; client: Connection; server: Connection }> {
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await t.listen('tcp://127.0.0.1:0', (c) => accept(c))
    cleanup.push(() => listener.close())
    const client = await t.connect(listener.url)
    cleanup.push(() => client.abort(new Error('cleanup')))
    const server = await accepted
    return { listener, client, server }
  }

  it('loads through the plugin loader with the tcp scheme', async () => {
    const p = await loadPlugin(new URL('./tcp.js', import.meta.url).pathname)
    expect(p.name).toBe('tcp')
    expect(p.transports.map((t) => t.schemes)).toEqual([['tcp']])
    expect(plugin.name).toBe('tcp')
  })

  it('listens on port 0 and reports the real port', async () => {
    const { listener } = await pair(tcpTransport())
    expect(listener.url).toMatch(/^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/)
  })

  it('refuses to send a frame over maxPayload', async () => {
    const { client } = await pair(tcpTransport({ maxPayload: 1024 }))
    let err: unknown
    try {
      client.send(new Uint8Array(1025))
    } catch (e) {
      err = e
    }
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
  })

  it('resets a connection whose peer announces a frame over maxPayload', async () => {
    const small = tcpTransport({ maxPayload: 1024 })
    const big = tcpTransport({ maxPayload: 1 << 20 })
    let accept!: (c: Connection) => void
    const accepted = new Promise<Connection>((r) => (accept = r))
    const listener = await small.listen('tcp://127.0.0.1:0', (c) => accept(c))
    cleanup.push(() => listener.close())
    const client = await big.connect(listener.url)
    cleanup.push(() => client.abort(new Error('cleanup')))
    const server = await accepted
    client.send(new Uint8Array(4096))
    const err = await server.closed
    expect(hasCode(err, 'ERR_FRAME_TOO_LARGE')).toBe(true)
    expect(hasCode(await client.closed, 'ERR_CONNECTION_CLOSED')).toBe(true)
  })

  it('rejects URLs that are not tcp://host:port', async () => {
    const t = tcpTransport()
    for (const url of ['tcp://127.0.0.1', 'ws://127.0.0.1:1', 'not a url']) {
      const err = await t.connect(url).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(hasCode(err, 'ERR_INVALID_URL') || hasCode(err, 'ERR_UNSUPPORTED_SCHEME')).toBe(true)
    }
  })
})
