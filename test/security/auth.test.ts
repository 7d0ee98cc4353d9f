/**
 * Tokens and browsers at the endpoint, over real WebSockets: wrong tokens are rate-limited
 * per address, a connection without the token holds only a handful of capabilities, and an
 * upgrade from a browser origin not allowed is refused.
 */
import { describe, expect, it } from 'vitest'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type WebSocket from 'ws'
import type { IncomingMessage } from 'node:http'
import { connect } from '../../src/proto/client/client.js'
import { AUTH_BURST, NULL_MAX_CAPS, type Server, type ServeInit } from '../../src/proto/server/server.js'
import { defaultTransports } from '../../src/transport/registry.js'
import { hasCode } from '../../src/errors.js'
import { filledTable, RawClient, serveTable } from '../proto/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const WS = createRequire(import.meta.url)('ws') as typeof WebSocket

async function server(init: Partial<ServeInit> = {}): Promise<Server> {
  const s = await serveTable(filledTable(20), init)
  cleanups.push(() => s.close())
  return s
}

async function hello(url: string, token: string): Promise<{ t: string; code?: string; view?: { null: boolean } }> {
  const { raw, welcome } = await RawClient.hello(url, token)
  cleanups.push(() => raw.close())
  return welcome as { t: string; code?: string; view?: { null: boolean } }
}

describe('tokens', () => {
  it(`wrong tokens: ${AUTH_BURST} are answered (null View), then hellos with a token are refused unread, the right one included; a client without a token is unaffected`, async () => {
    const s = await server({ token: 'right' })
    for (let i = 0; i < AUTH_BURST; i++) expect(await hello(s.url, `guess-${i}`)).toMatchObject({ t: 'welcome', view: { null: true } })
    expect(await hello(s.url, 'guess-x')).toMatchObject({ t: 'error', code: 'ERR_AUTH_RATE_LIMITED' })
    // Refused without comparing: even the right token learns nothing now.
    expect(await hello(s.url, 'right')).toMatchObject({ t: 'error', code: 'ERR_AUTH_RATE_LIMITED' })
    const anon = await connect(s.url)
    cleanups.push(() => anon.close())
    expect(anon.view.isNull).toBe(true)
  })

  it(`a connection without the right token binds at most ${NULL_MAX_CAPS} capabilities; one with it binds more`, async () => {
    const s = await server({ token: 'right' })
    // Raw frames: join on the (null) PubSub, each binding a new Topic capability.
    const count = async (token?: string): Promise<number> => {
      const { raw } = await RawClient.hello(s.url, token)
      cleanups.push(() => raw.close())
      for (let i = 0; i < 40; i++) raw.send({ t: 'call', id: i + 1, cap: 1, m: 'join', a: { topic: 't' }, bind: 100 + i })
      let ok = 0
      for (let i = 0; i < 40; i++) {
        const f = (await raw.readUntil((x) => x.t === 'result')) as { error?: { code: string } }
        if (f.error === undefined) ok++
        else expect(f.error.code).toBe('ERR_TOO_MANY_CAPS')
      }
      return ok
    }
    expect(await count()).toBe(NULL_MAX_CAPS - 2)
    expect(await count('right')).toBe(40)
  })
})

describe('origins', () => {
  async function upgrade(url: string, origin?: string): Promise<{ open: boolean; status?: number; code?: string }> {
    const ws = new WS(url, origin === undefined ? {} : { origin })
    cleanups.push(() => ws.terminate())
    return await new Promise((resolve) => {
      ws.once('open', () => resolve({ open: true }))
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        resolve({ open: false, status: res.statusCode, code: res.headers['x-ww-error'] as string | undefined })
        res.resume()
      })
      ws.once('error', () => resolve({ open: false }))
    })
  }

  it('an upgrade from a web page (any Origin) is refused with 403 ERR_ORIGIN_FORBIDDEN unless allowed; clients without the header are unaffected', async () => {
    const open = await server()
    expect(await upgrade(open.url, 'http://evil.example')).toEqual({ open: false, status: 403, code: 'ERR_ORIGIN_FORBIDDEN' })
    expect(await upgrade(open.url, 'http://127.0.0.1:8420')).toMatchObject({ open: false, status: 403 })
    expect(await upgrade(open.url)).toEqual({ open: true })

    const allowing = await server({ transports: defaultTransports({ ws: { allowOrigins: ['https://ops.example'] } }) })
    expect(await upgrade(allowing.url, 'https://ops.example')).toEqual({ open: true })
    expect(await upgrade(allowing.url, 'https://ops.example.evil')).toMatchObject({ open: false, status: 403 })
  })
})
