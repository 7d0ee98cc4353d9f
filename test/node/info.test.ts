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
    expect(i.load!.cpu).toBeGreaterThan(0)
    expect(i.load!.cpu).toBeLessThan(64)
    expect(Number.isInteger(i.load!.lagMs)).toBe(true)
    // an open stream is counted
    const w = session.view.watch('ls')
    expect(await w.next()).toBeDefined()
    expect((await session.view.info()).streams).toBe(1)
    w.cancel()
    // the reversed View answers the same node
    expect((await session.view.reverse().info()).peer).toBe(a.peer)
  }, 60_000)

  it("load: the process's CPU share and its event loop's lateness; a loop standing still past a quarter of the TTL is logged, once", async () => {
    const warnings: string[] = []
    const logger = { info: () => {}, warn: (m: string) => warnings.push(m), error: () => {} }
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', ttl: 1000, logger })
    const session = await connect(a.addr!)
    sessions.push(session)
    // Burn 300 ms of CPU time (not wall time: a busy host gives less CPU per second), in
    // slices of 20 ms so the loop itself is never late: the share over the sampler's window
    // (≤ 11 s) is then at least 300 / 11 000.
    const cpu0 = process.cpuUsage()
    for (let done = false; !done; await new Promise((r) => setImmediate(r))) {
      const slice = performance.now() + 20
      while (!done && performance.now() < slice) {
        const used = process.cpuUsage(cpu0)
        done = used.user + used.system >= 300_000
      }
    }
    await vi.waitFor(async () => expect((await session.view.info()).load!.cpu).toBeGreaterThanOrEqual(0.02), { timeout: 5_000, interval: 200 })
    // Stand still for 1.5 s (no CPU: the thread waits). A 1 s tick falls due at least 500 ms
    // before the end, so it runs ≥ 500 ms late: the warning's threshold (max(500, ttl/4)).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
    await vi.waitFor(() => expect(warnings.filter((w) => /^event loop \d+ ms late \(TTL 1000 ms\)/.test(w))).toHaveLength(1), { timeout: 5_000, interval: 50 })
    expect(Number(/event loop (\d+) ms late/.exec(warnings.find((w) => w.startsWith('event loop'))!)![1])).toBeGreaterThanOrEqual(500)
    expect((await session.view.info()).load!.lagMs).toBeGreaterThanOrEqual(500)
    // A second stall within the minute is not logged again.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
    await vi.waitFor(async () => expect((await session.view.info()).load!.lagMs).toBeGreaterThanOrEqual(500), { timeout: 5_000, interval: 50 })
    await new Promise((r) => setTimeout(r, 1100))
    expect(warnings.filter((w) => w.startsWith('event loop'))).toHaveLength(1)
  }, 30_000)

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
    expect(checkNodeInfo({ ...good, load: { cpu: 0.031, lagMs: 12 } })).toEqual({ ...good, load: { cpu: 0.031, lagMs: 12 } })
    for (const bad of [null, [], 'x', { ...good, peer: 1 }, { ...good, p2p: [1] }, { ...good, tablePeers: -1 }, { ...good, uptimeMs: Infinity }, { ...good, heartbeats: { ...good.heartbeats, inPerSec: '1' } }, { ...good, heartbeats: null }, { ...good, load: null }, { ...good, load: { cpu: -1, lagMs: 0 } }, { ...good, load: { cpu: 0.1 } }]) {
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
      expect(text.stdout).toMatch(/^load {7}CPU \d+\.\d % of a core, event loop up to \d+ ms late \(last ~10 s\)$/m)
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
