import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createServer } from 'node:net'
import type { Session } from '../../src/api.js'
import { connect } from '../../src/proto/client/client.js'
import { ERR_BAD_METRICS_LISTEN, parseMetricsListen, serveMetrics, type MetricsServer } from '../../src/node/metrics.js'
import { hasCode } from '../../src/errors.js'
import { Cluster } from './node-helpers.js'

const cluster = new Cluster()
const sessions: Session[] = []
const listeners: MetricsServer[] = []
afterEach(async () => {
  await Promise.allSettled(sessions.splice(0).map((s) => s.close()))
  await Promise.allSettled(listeners.splice(0).map((s) => s.close()))
  await cluster.cleanup()
})

/** One sample: name, labels, value. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a `# HELP`, a `# TYPE`
 * (before its samples, once per family) or a sample `name{l="v",…} value`; anything else fails.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  // Values as Prometheus reads them (Go's ParseFloat): a float, or Inf/NaN in any case
  // (prom-client writes an empty summary's mean as `Nan`).
  const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})? ([+-]?(?:[0-9.eE+-]+|[Ii][Nn][Ff]|[Nn][Aa][Nn]))(?: -?\\d+)?$`)
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue // empty lines are allowed between families
    if (line.startsWith('# HELP ')) {
      expect(line).toMatch(new RegExp(`^# HELP ${NAME} .+$`))
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line)
      if (m === null) throw new Error(`bad TYPE line: ${line}`)
      if (types.has(m[1]!)) throw new Error(`TYPE twice: ${m[1]}`)
      types.set(m[1]!, m[2]!)
      continue
    }
    const m = sample.exec(line)
    if (m === null) throw new Error(`bad sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    let rest = m[2] ?? ''
    while (rest !== '') {
      const l = label.exec(rest)
      if (l === null) throw new Error(`bad labels: ${m[2]}`)
      labels[l[1]!] = l[2]!
      rest = rest.slice(l[0].length)
    }
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`sample before its TYPE: ${line}`)
    const text = m[3]!
    const nan = /^[+-]?nan$/i.test(text)
    const value = /^[+-]?inf$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : nan ? NaN : Number(text)
    if (Number.isNaN(value) && !nan) throw new Error(`bad value: ${line}`)
    samples.push({ name: m[1]!, labels, value })
  }
  return { types, samples }
}

async function scrape(url: string) {
  const res = await fetch(`${url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  const parsed = parseExposition(await res.text())
  const get = (name: string, labels: Record<string, string> = {}): number => {
    const s = parsed.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    if (s === undefined) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`)
    return s.value
  }
  return { ...parsed, get }
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe('metrics and health over HTTP', () => {
  it('/metrics parses, and its counters move after real joins and queries', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', host: 'a', ttl: 500 })
    const m = await serveMetrics(a, { listen: '127.0.0.1:0' })
    listeners.push(m)
    const before = await scrape(m.url)
    expect(before.types.get('ww_table_changes_total')).toBe('counter')
    expect(before.types.get('ww_call_duration_seconds')).toBe('histogram')
    expect(before.types.get('ww_table_peers')).toBe('gauge')
    expect(before.get('ww_table_peers')).toBe(1)
    expect(before.get('ww_table_changes_total', { kind: 'joined' })).toBe(0) // its own record was listed before the metrics were
    expect(before.get('ww_client_connections')).toBe(0)

    const b = await cluster.start({ host: 'b', ttl: 500, bootstrap: [a.multiaddrs[0]!] })
    await vi.waitFor(() => expect(a.table.get(b.peer)).toBeDefined(), { timeout: 10_000 })
    await vi.waitFor(async () => expect((await scrape(m.url)).get('ww_table_changes_total', { kind: 'updated' })).toBeGreaterThan(0), { timeout: 10_000 })

    const session = await connect(a.addr!)
    sessions.push(session)
    const cur = session.view.iter('ls')
    const peers: string[] = []
    for (let r = await cur.next(); r !== undefined; r = await cur.next()) peers.push(r.peer)
    expect(peers.sort()).toEqual([a.peer, b.peer].sort())
    expect((await session.view.lookup('LOOKUP WHERE host=b'))?.peer).toBe(b.peer)

    const after = await scrape(m.url)
    expect(after.get('ww_table_peers')).toBe(2)
    expect(after.get('ww_table_changes_total', { kind: 'joined' })).toBe(1)
    expect(after.get('ww_heartbeats_received_total', { outcome: 'accepted' })).toBeGreaterThan(before.get('ww_heartbeats_received_total', { outcome: 'accepted' }))
    expect(after.get('ww_heartbeats_sent_total')).toBeGreaterThan(0)
    expect(after.get('ww_gossip_peers')).toBe(1)
    expect(after.get('ww_p2p_connections')).toBeGreaterThanOrEqual(1)
    expect(after.get('ww_client_connections')).toBe(1)
    expect(after.get('ww_client_connections_total')).toBe(1)
    expect(after.get('ww_client_bytes_sent_total')).toBeGreaterThan(0)
    expect(after.get('ww_call_duration_seconds_count', { method: 'iter' })).toBe(1)
    expect(after.get('ww_call_duration_seconds_count', { method: 'lookup' })).toBe(1)
    expect(after.get('ww_call_duration_seconds_bucket', { method: 'iter', le: '+Inf' })).toBe(1)
    // counters never go down between scrapes
    for (const s of before.samples.filter((x) => before.types.get(x.name) === 'counter' || before.types.get(x.name.replace(/_total$/, '')) === 'counter')) {
      const now = after.samples.find((x) => x.name === s.name && JSON.stringify(x.labels) === JSON.stringify(s.labels))
      expect(now?.value ?? Infinity, s.name).toBeGreaterThanOrEqual(s.value)
    }

    // b leaves gracefully: counted as left
    await b.stop()
    await vi.waitFor(async () => expect((await scrape(m.url)).get('ww_table_changes_total', { kind: 'left' })).toBe(1), { timeout: 10_000 })
  }, 60_000)

  it('a stream held back by its client counts credit waits', async () => {
    const a = await cluster.start({ listen: 'ws://127.0.0.1:0', host: 'x'.repeat(200) })
    const m = await serveMetrics(a, { listen: '127.0.0.1:0', defaultMetrics: false })
    listeners.push(m)
    const bs = await Promise.all(Array.from({ length: 3 }, () => cluster.start({ host: 'y'.repeat(200), bootstrap: [a.multiaddrs[0]!] })))
    await vi.waitFor(() => expect(a.table.size).toBe(4), { timeout: 10_000 })
    // a window smaller than two records: every further record waits for credit
    const session = await connect(a.addr!, { window: { initial: 512, max: 512 } })
    sessions.push(session)
    const cur = session.view.iter('ls')
    let n = 0
    for (let r = await cur.next(); r !== undefined; r = await cur.next()) n++
    expect(n).toBe(4)
    expect(bs).toHaveLength(3)
    const s = await scrape(m.url)
    expect(s.get('ww_flow_control_waits_total', { kind: 'credit' })).toBeGreaterThan(0)
  }, 60_000)

  it('/healthz answers at once; /readyz is 503 until a bootstrapped node has a peer, then 200', async () => {
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    const target = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(key).toString()}`
    const b = await cluster.start({ bootstrap: [target] })
    const m = await serveMetrics(b, { listen: '0' })
    listeners.push(m)
    expect(m.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect((await fetch(`${m.url}/healthz`)).status).toBe(200)
    const notReady = await fetch(`${m.url}/readyz`)
    expect(notReady.status).toBe(503)
    expect(await notReady.text()).toMatch(/not ready/)
    // its bootstrap peer comes up: b's redial loop joins it
    await cluster.start({ identity: key, p2p: [`/ip4/127.0.0.1/tcp/${port}`] })
    await vi.waitFor(async () => expect((await fetch(`${m.url}/readyz`)).status).toBe(200), { timeout: 15_000 })
    expect((await fetch(`${m.url}/nope`)).status).toBe(404)
    expect((await fetch(`${m.url}/metrics`, { method: 'POST' })).status).toBe(405)
  }, 60_000)

  it('/readyz is 503 from the moment the node starts stopping, while /healthz still answers', async () => {
    const a = await cluster.start({})
    const m = await serveMetrics(a, { listen: '0', defaultMetrics: false })
    listeners.push(m)
    expect((await fetch(`${m.url}/readyz`)).status).toBe(200)
    const stopped = a.stop()
    expect(a.stopping).toBe(true)
    const r = await fetch(`${m.url}/readyz`)
    expect(r.status).toBe(503)
    expect(await r.text()).toBe('not ready: stopping\n')
    expect((await fetch(`${m.url}/healthz`)).status).toBe(200)
    await stopped
    // still 503 once stopped, until the listener itself closes
    expect((await fetch(`${m.url}/readyz`)).status).toBe(503)
  }, 30_000)

  it('a node given no bootstrap peer is ready alone', async () => {
    const a = await cluster.start({})
    const m = await serveMetrics(a, { listen: '127.0.0.1:0', defaultMetrics: false })
    listeners.push(m)
    expect((await fetch(`${m.url}/readyz`)).status).toBe(200)
  })

  it('--metrics-listen takes HOST:PORT, [IPv6]:PORT or PORT, and refuses anything else', () => {
    expect(parseMetricsListen('9464')).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(parseMetricsListen(':9464')).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(parseMetricsListen('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 })
    expect(parseMetricsListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 })
    for (const bad of ['', 'host', '1.2.3.4:', '1.2.3.4:99999', 'a b:1', 'http://x:1']) {
      expect(() => parseMetricsListen(bad), bad).toThrow(expect.toSatisfy((e) => hasCode(e, ERR_BAD_METRICS_LISTEN)))
    }
  })
})
