/**
 * The command line end to end: real `ww start` processes (one listening through the tcp
 * plugin), and `ww ls / lookup / shell` run as real processes against them — every format,
 * every exit code, piped shell mode, plugins from flags and from the config file, `--help`,
 * and that `ww ls` never loads the shell's Ink/React.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ROOT, runWw, startWw, tempHome, wwEnv, type StartedNode } from './helpers.js'
import { reap, spawnGroup } from '../procs.js'

// Each test spawns real processes (through tsx); on a busy 2-core machine that takes a while.
vi.setConfig({ testTimeout: 90_000 })

const home = tempHome()
const nodes: StartedNode[] = []
let addr = ''
let tcpAddr = ''

beforeAll(async () => {
  const key = (n: string): string => join(home.dir, `${n}.key`)
  const a = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', key('a'), '--host', 'web-1', '--meta', 'region=us-east-1', '--meta', 'role=web', '--quiet'], home.dir)
  nodes.push(a)
  addr = a.listen
  const others = await Promise.all([
    startWw(['--listen', 'none', '--identity', key('b'), '--host', 'db-1', '--meta', 'region=eu-west-1', 'role=db', '--bootstrap', ...a.p2p, '--quiet'], home.dir),
    startWw(['--listen', 'none', '--identity', key('c'), '--host', 'web-2', '--meta', 'region=us-east-1', '--meta', 'role=web', '--bootstrap', ...a.p2p, '--quiet'], home.dir),
    startWw(['--listen', 'tcp://127.0.0.1:0', '--plugin', 'plugins/tcp.js', '--identity', key('d'), '--host', 'cache-1', '--meta', 'region=ap-south-1', '--meta', 'role=cache', '--bootstrap', ...a.p2p, '--quiet'], home.dir),
  ])
  nodes.push(...others)
  tcpAddr = others[2]!.listen
  await vi.waitUntil(async () => {
    const r = await runWw(['ls', '--addr', addr, '--format', 'ndjson'], { home: home.dir })
    return r.stdout.trim().split('\n').length === 4
  }, { timeout: 45_000 })
}, 90_000)

afterAll(async () => {
  const codes = await Promise.all(nodes.map((n) => n.stop()))
  await reap()
  home.cleanup()
  // ww start leaves gracefully and exits 0 on SIGTERM (null: it had to be killed).
  expect(codes).toEqual(nodes.map(() => 0))
}, 60_000)

const ndjsonOf = (s: string): Array<Record<string, unknown>> => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)

describe('ww ls / lookup', () => {
  it('prints an aligned text table by default, ordered by peer', async () => {
    const r = await runWw(['ls', '--addr', addr], { home: home.dir })
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META$/)
    expect(lines).toHaveLength(5)
    const peers = lines.slice(1).map((l) => l.split(/\s+/)[0]!)
    expect(peers).toEqual([...peers].sort())
    expect(r.stdout).toMatch(/db-1\s+\d+[smhd]\s+\d+[smhd]\s+region=eu-west-1 role=db/)
  })

  it('takes the query unquoted and prints ndjson with the documented fields', async () => {
    const r = await runWw(['ls', 'WHERE', 'region=us-east-1', '--addr', addr, '--format', 'ndjson'], { home: home.dir })
    expect(r.code).toBe(0)
    const recs = ndjsonOf(r.stdout)
    expect(recs.map((x) => x.host).sort()).toEqual(['web-1', 'web-2'])
    for (const x of recs) {
      // The documented fields in their order; `addrs` last, since ww start nodes announce
      // where they can be dialled.
      expect(Object.keys(x)).toEqual(['peer', 'server', 'seq', 'ttl', 'host', 'meta', 'addrs'])
      expect(x.server).toMatch(/^[0-9a-f]{16}$/)
      for (const a of x.addrs as string[]) expect(a).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${x.peer as string}$`))
    }
  })

  it('prints one JSON array with --format json, honouring LIMIT', async () => {
    const r = await runWw(['ls', 'LIMIT 2', '--addr', addr, '--format', 'json'], { home: home.dir })
    expect(r.code).toBe(0)
    const arr = JSON.parse(r.stdout) as unknown[]
    expect(arr).toHaveLength(2)
  })

  it('lookup prints the first match; an empty result is a success', async () => {
    const r = await runWw(['lookup', 'WHERE', 'host=db-1', '--addr', addr, '--format', 'ndjson'], { home: home.dir })
    expect(r.code).toBe(0)
    expect(ndjsonOf(r.stdout).map((x) => x.host)).toEqual(['db-1'])
    const none = await runWw(['lookup', 'WHERE', 'host=nope', '--addr', addr], { home: home.dir })
    expect(none.code).toBe(0)
    expect(none.stdout).toBe('')
    const empty = await runWw(['ls', 'WHERE', 'role=nope', '--addr', addr, '--format', 'json'], { home: home.dir })
    expect(empty.code).toBe(0)
    expect(JSON.parse(empty.stdout)).toEqual([])
  })

  it('reads the address from WW_ADDR', async () => {
    const r = await runWw(['ls', '--format', 'ndjson'], { home: home.dir, env: { WW_ADDR: addr } })
    expect(r.code).toBe(0)
    expect(ndjsonOf(r.stdout)).toHaveLength(4)
  })

  it('formats with a plugin (csv) and dials through a plugin transport (tcp)', async () => {
    const csv = await runWw(['ls', 'WHERE', 'role=web', '--addr', addr, '--plugin', 'plugins/csv.js', '--format', 'csv'], { home: home.dir })
    expect(csv.code).toBe(0)
    expect(csv.stdout.split('\r\n')[0]).toBe('peer,server,seq,ttl,host,meta.region,meta.role,meta')
    expect(csv.stdout.split('\r\n').filter(Boolean)).toHaveLength(3)
    const tcp = await runWw(['ls', '--addr', tcpAddr, '--plugin', 'plugins/tcp.js', '--format', 'ndjson'], { home: home.dir })
    expect(tcp.code).toBe(0)
    expect(tcpAddr).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    expect(ndjsonOf(tcp.stdout).map((x) => x.host).sort()).toEqual(['cache-1', 'db-1', 'web-1', 'web-2'])
  })

  it('loads plugins listed in the config file', async () => {
    const cfg = tempHome()
    try {
      mkdirSync(join(cfg.dir, 'ww'))
      writeFileSync(join(cfg.dir, 'ww', 'config.json'), JSON.stringify({ plugins: [join(ROOT, 'plugins/csv.js')] }))
      const r = await runWw(['ls', '--addr', addr, '--format', 'csv'], { home: cfg.dir })
      expect(r.code).toBe(0)
      expect(r.stdout.startsWith('peer,server,seq,ttl,host')).toBe(true)
    } finally {
      cfg.cleanup()
    }
  })
})

describe('exit codes and messages', () => {
  it('1: a syntax error shows the caret and the hint, sends nothing, prints no stack', async () => {
    const r = await runWw(['ls', 'WHERE', 'host=a', 'LIMT', '3', '--addr', 'ws://127.0.0.1:1'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const lines = r.stderr.split('\n')
    expect(lines[0]).toBe('WHERE host=a LIMT 3')
    expect(lines[1]).toBe(' '.repeat(13) + '^')
    expect(r.stderr).toContain('did you mean LIMIT')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('1: usage mistakes — unknown format, unknown command, bad option value', async () => {
    const fmt = await runWw(['ls', '--addr', addr, '--format', 'yaml'], { home: home.dir })
    expect(fmt.code).toBe(1)
    expect(fmt.stderr).toContain('unknown format "yaml"')
    expect(fmt.stderr).toContain('hint:')
    const cmd = await runWw(['frobnicate'], { home: home.dir })
    expect(cmd.code).toBe(1)
    expect(cmd.stderr).toContain("unknown command 'frobnicate'")
    const dev = await runWw(['dev', '--nodes', '0'], { home: home.dir })
    expect(dev.code).toBe(1)
    expect(dev.stderr).toContain('--nodes')
  })

  it('1: a broken plugin is named, whether it throws on load or has the wrong shape', async () => {
    const dir = tempHome()
    try {
      const throws = join(dir.dir, 'throws.js')
      const shape = join(dir.dir, 'shape.js')
      writeFileSync(throws, "throw new Error('kaboom')\n")
      writeFileSync(shape, 'export default { formatters: 42 }\n')
      const a = await runWw(['ls', '--addr', addr, '--plugin', throws], { home: home.dir })
      expect(a.code).toBe(1)
      expect(a.stderr).toContain(throws)
      expect(a.stderr).toContain('kaboom')
      expect(a.stderr).toContain('ERR_PLUGIN_LOAD')
      const b = await runWw(['ls', '--addr', addr, '--plugin', shape], { home: home.dir })
      expect(b.code).toBe(1)
      expect(b.stderr).toContain(shape)
      expect(b.stderr).toContain('ERR_PLUGIN_INVALID')
      expect(`${a.stderr}${b.stderr}`).not.toMatch(/\n\s+at /)
    } finally {
      dir.cleanup()
    }
  })

  it('2: nothing listens at --addr', async () => {
    const r = await runWw(['ls', '--addr', 'ws://127.0.0.1:1'], { home: home.dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('cannot connect to ws://127.0.0.1:1')
    expect(r.stderr).toContain('hint:')
    // one line with its code, the socket error said once, not nested through every layer
    expect(r.stderr.split('\n')[0]).toMatch(/^ww: cannot connect to ws:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1 \(ERR_CONNECT_FAILED\)$/)
  })

  it('1: a URL scheme no transport handles (a plugin may add it), or no URL at all', async () => {
    const r = await runWw(['ls', '--addr', 'tcp://127.0.0.1:1'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_UNSUPPORTED_SCHEME')
    expect(r.stderr).toContain('--plugin')
    const bad = await runWw(['ls', '--addr', 'not a url'], { home: home.dir })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('ERR_INVALID_URL')
  })

  it('0: --help for every command', async () => {
    const cmds = ['start', 'ls', 'lookup', 'shell', 'dev', 'pub', 'sub']
    const results = await Promise.all(cmds.map((cmd) => runWw([cmd, '--help'], { home: home.dir })))
    results.forEach((r, i) => {
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`Usage: ww ${cmds[i]}`)
    })
    const v = await runWw(['--version'], { home: home.dir })
    expect(v.code).toBe(0)
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)
  })
})

describe('piped shell', () => {
  it('runs one query per line and exits 0 when all succeed', async () => {
    const input = ['# a comment', 'ls WHERE role=web', '', '\\format ndjson', 'lookup WHERE host=db-1'].join('\n') + '\n'
    const r = await runWw(['shell', '--addr', addr], { home: home.dir, input })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META/)
    expect(r.stdout).toContain('"host":"db-1"')
    // Piped mode: a meta-command's answer is not a result, so it goes to stderr, never into the data.
    expect(r.stdout).not.toContain('format is ndjson')
    expect(r.stderr.trim()).toBe('format is ndjson')
  })

  it('keeps going past a failing line and exits with its code; --stop-on-error stops there', async () => {
    const input = 'ls WHERE host=web-1\nls WHERE host=\nls WHERE host=db-1\n'
    const r = await runWw(['shell', '--addr', addr, '--format', 'ndjson'], { home: home.dir, input })
    expect(r.code).toBe(1)
    expect(ndjsonOf(r.stdout).map((x) => x.host)).toEqual(['web-1', 'db-1'])
    expect(r.stderr).toContain('^')
    const s = await runWw(['shell', '--addr', addr, '--format', 'ndjson', '--stop-on-error'], { home: home.dir, input })
    expect(s.code).toBe(1)
    expect(ndjsonOf(s.stdout).map((x) => x.host)).toEqual(['web-1'])
  })

  it('exits 2 when the node cannot be reached', async () => {
    const r = await runWw(['shell', '--addr', 'ws://127.0.0.1:1'], { home: home.dir, input: 'ls\n' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('cannot connect')
  })
})

describe('what ww ls loads', () => {
  it('never resolves ink or react (the shell is imported on demand)', async () => {
    const trace = join(home.dir, 'trace-ls.txt')
    const preload = join(ROOT, 'test/cli/fixtures/trace-imports.mjs')
    const r = await runWw(['ls', '--addr', addr, '--format', 'ndjson'], { home: home.dir, preload: [preload], env: { WW_TRACE_IMPORTS: trace } })
    expect(r.code).toBe(0)
    const resolved = readFileSync(trace, 'utf8')
    expect(resolved).toContain('src/client/query.ts')
    expect(resolved).not.toMatch(/node_modules\/(ink|react)\//)
    expect(resolved).not.toMatch(/src\/repl\//)
    expect(resolved).not.toMatch(/node_modules\/libp2p\//)

    // The tracer does see ink when something loads it (the check above is not vacuous).
    const control = join(home.dir, 'trace-control.txt')
    await spawnGroup(process.execPath, ['--import', preload, '--input-type=module', '-e', "await import('ink')"], { cwd: ROOT, env: wwEnv(home.dir, { WW_TRACE_IMPORTS: control }) }).exited
    expect(readFileSync(control, 'utf8')).toMatch(/node_modules\/ink\//)
  })

  it('loads ws and node:http(s) with require(), never through an ESM import (start-up cost)', async () => {
    const trace = join(home.dir, 'trace-ls-how.txt')
    const preload = join(ROOT, 'test/cli/fixtures/trace-imports.mjs')
    const r = await runWw(['ls', '--addr', addr, '--format', 'ndjson'], { home: home.dir, preload: [preload], env: { WW_TRACE_IMPORTS: trace } })
    expect(r.code).toBe(0)
    const lines = readFileSync(trace, 'utf8').split('\n')
    expect(lines).toContainEqual(expect.stringMatching(/^ws\t.*\trequire$/))
    expect(lines.filter((l) => /^(ws|node:https?|https?)\t.*\timport$/.test(l))).toEqual([])

    // The tracer tells an import from a require (the check above is not vacuous).
    const control = join(home.dir, 'trace-how-control.txt')
    await spawnGroup(process.execPath, ['--import', preload, '--input-type=module', '-e', "await import('node:http'); await import('ws')"], { cwd: ROOT, env: wwEnv(home.dir, { WW_TRACE_IMPORTS: control }) }).exited
    const seen = readFileSync(control, 'utf8')
    expect(seen).toMatch(/^node:http\t.*\timport$/m)
    expect(seen).toMatch(/^ws\t.*\timport$/m)
  })

  it('a query that does not parse exits 1 without loading the protocol client or ws', async () => {
    const trace = join(home.dir, 'trace-ls-bad.txt')
    const preload = join(ROOT, 'test/cli/fixtures/trace-imports.mjs')
    const r = await runWw(['ls', 'WHRE'], { home: home.dir, preload: [preload], env: { WW_TRACE_IMPORTS: trace } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('^')
    const resolved = readFileSync(trace, 'utf8')
    expect(resolved).toContain('src/client/query.ts')
    expect(resolved).not.toMatch(/src\/proto\/client\/client\.ts/)
    expect(resolved).not.toMatch(/^(ws|@msgpack\/msgpack)\t/m)
  })
})
