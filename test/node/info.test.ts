import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/api.js'
import { connect } from '../../src/proto/client/client.js'
import { checkNodeInfo } from '../../src/proto/wire/info-codec.js'
import { packageVersion } from '../../src/node/info.js'
import { hasCode } from '../../src/errors.js'
import { runWw, tempHome } from '../cli/helpers.js'
import { RawClient } from '../proto/helpers.js'
import { Cluster } from './node-helpers.js'

const cluster = new Cluster()
const sessions: Session[] = []
afterEach(async () => {
  await Promise.allSettled(sessions.splice(0).map((s) => s.close()))
  await cluster.cleanup()
})

describe('View.info on a real node', () => {
  it('answers the node: identity, addresses, uptime, table, peers, heartbeat rates, clients', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', ttl: 300, ns: 'infotest' })
    const b = await cluster.start({ ttl: 300, ns: 'infotest', bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.get(b.peer)).toBeDefined(), { timeout: 10_000 })
    const session = await connect(a.addr!)
    sessions.push(session)
    // rates are over the last seconds: wait until a's sampler has seen b's heartbeats arrive
    await vi.waitFor(async () => expect((await session.view.info()).heartbeats.inPerSec).toBeGreaterThan(0), { timeout: 10_000, interval: 300 })
    const i = await session.view.info()
    expect(i).toMatchObject({ peer: a.peer, server: a.server, version: packageVersion(), ns: 'infotest', listen: a.addr, tablePeers: 2, connectedPeers: 1, clients: 1, streams: 0 })
    expect(i.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(i.p2p).toEqual(a.multiaddrs)
    expect(i.uptimeMs).toBeGreaterThan(0)
    expect(i.meshPeers).toBeLessThanOrEqual(1)
    expect(i.heartbeats.out).toBe(a.membership.stats.published)
    expect(i.heartbeats.outPerSec).toBeGreaterThan(0)
    expect(i.heartbeats.in).toBeGreaterThan(0)
    // an open stream is counted
    const w = session.view.watch('ls')
    expect(await w.next()).toBeDefined()
    expect((await session.view.info()).streams).toBe(1)
    w.cancel()
    // the reversed View answers the same node
    expect((await session.view.reverse().info()).peer).toBe(a.peer)
  }, 60_000)

  it('the null View (no token) answers ERR_NOT_AUTHORIZED; with the token the same node answers', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', token: 'secret' })
    const session = await connect(a.addr!)
    sessions.push(session)
    expect(session.view.isNull).toBe(true)
    await expect(session.view.info()).rejects.toMatchObject({ code: 'ERR_NOT_AUTHORIZED' })
    const ok = await connect(a.addr!, { token: 'secret' })
    sessions.push(ok)
    expect((await ok.view.info()).peer).toBe(a.peer)
  })

  it('the client refuses an answer that is not a NodeInfo map (ERR_BAD_FRAME)', () => {
    const good = { peer: 'p', server: 's', version: '1.0.0', ns: 'ww', p2p: ['/ip4/1.2.3.4/tcp/1'], listen: 'ws://x', uptimeMs: 1, tablePeers: 1, connectedPeers: 0, meshPeers: 0, heartbeats: { in: 0, out: 0, rejected: 0, inPerSec: 0, outPerSec: 0, rejectedPerSec: 0 }, clients: 0, streams: 0 }
    expect(checkNodeInfo({ ...good, extra: 1 })).toEqual(good)
    for (const bad of [null, [], 'x', { ...good, peer: 1 }, { ...good, p2p: [1] }, { ...good, tablePeers: -1 }, { ...good, uptimeMs: Infinity }, { ...good, heartbeats: { ...good.heartbeats, inPerSec: '1' } }, { ...good, heartbeats: null }]) {
      expect(() => checkNodeInfo(bad), JSON.stringify(bad)).toThrow(expect.toSatisfy((e) => hasCode(e, 'ERR_BAD_FRAME')))
    }
  })
})

describe('info on the wire', () => {
  it("the node's null View answers ERR_NOT_AUTHORIZED itself; a node without a token answers the map", async () => {
    const locked = await cluster.start({ listen: 'ws://127.0.0.1:0', token: 'secret' })
    const { raw: r } = await RawClient.hello(locked.addr!)
    try {
      r.send({ t: 'call', id: 1, cap: 0, m: 'info', a: {} })
      expect(await r.read()).toMatchObject({ t: 'result', id: 1, error: { code: 'ERR_NOT_AUTHORIZED' } })
    } finally {
      await r.close()
    }
    const open = await cluster.start({ listen: 'ws://127.0.0.1:0' })
    const { raw: o } = await RawClient.hello(open.addr!)
    try {
      o.send({ t: 'call', id: 1, cap: 0, m: 'info', a: {} })
      const f = (await o.read()) as { value?: unknown }
      expect(checkNodeInfo(f.value).peer).toBe(open.peer)
    } finally {
      await o.close()
    }
  })
})

describe('ww info', () => {
  it('prints the node in text and in json', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0' })
    const home = tempHome()
    try {
      const text = await runWw(['info', '--addr', a.addr!], { home: home.dir })
      expect(text.code, text.stderr).toBe(0)
      expect(text.stdout).toMatch(new RegExp(`^peer {7}${a.peer}$`, 'm'))
      expect(text.stdout).toMatch(/^table {6}1 peer$/m)
      expect(text.stdout).toMatch(/^clients {4}1 connection, 0 open streams$/m)
      const json = await runWw(['info', '--addr', a.addr!, '--format', 'json'], { home: home.dir })
      expect(json.code, json.stderr).toBe(0)
      const i = checkNodeInfo(JSON.parse(json.stdout))
      expect(i).toMatchObject({ peer: a.peer, listen: a.addr, tablePeers: 1 })
      const ndjson = await runWw(['info', '--addr', a.addr!, '--format', 'ndjson'], { home: home.dir })
      expect(ndjson.code).toBe(1)
      expect(ndjson.stderr).toMatch(/ERR_UNKNOWN_FORMAT/)
    } finally {
      home.cleanup()
    }
  }, 60_000)
})
