/**
 * The client commands' comforts end to end, as real processes against a real `ww start`
 * (which requires a token): contexts from the config file and their precedence, `--addr`
 * with several URLs tried in order (a real dead port first), `-o wide`, `--columns`,
 * `--no-headers`, and colour decided by TTY, NO_COLOR and FORCE_COLOR.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { deadPort, ROOT, runWw, startWw, tempHome, wwArgv, wwEnv, type StartedNode } from './helpers.js'
import { reap, spawnGroup } from '../procs.js'

vi.setConfig({ testTimeout: 90_000 })

const home = tempHome()
let node: StartedNode
let live = ''
let dead = ''
let dead2 = ''
const TOKEN = 'context-test-token'

function writeConfig(config: unknown): void {
  mkdirSync(join(home.dir, 'ww'), { recursive: true })
  writeFileSync(join(home.dir, 'ww', 'config.json'), JSON.stringify(config))
}

beforeAll(async () => {
  writeFileSync(join(home.dir, 'token'), `${TOKEN}\n`, { mode: 0o600 })
  node = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(home.dir, 'n.key'), '--host', 'web-1', '--meta', 'region=us-east-1', '--token-file', join(home.dir, 'token'), '--quiet'], home.dir)
  live = node.listen
  dead = `ws://127.0.0.1:${await deadPort()}`
  dead2 = `ws://127.0.0.1:${await deadPort()}`
}, 60_000)

afterAll(async () => {
  const code = await node?.stop()
  await reap()
  home.cleanup()
  expect(code).toBe(0)
}, 60_000)

describe('--addr with several URLs', () => {
  it('tries them in order: a dead port, then a live node (repeated or comma-separated)', async () => {
    for (const args of [['--addr', dead, '--addr', live], ['--addr', `${dead},${live}`]]) {
      const r = await runWw(['ls', ...args, '--token', TOKEN, '--format', 'ndjson'], { home: home.dir })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout.trim()).host).toBe('web-1')
    }
  })

  it('names every URL that failed, in one line, exit 2', async () => {
    const r = await runWw(['ls', '--addr', `${dead},${dead2}`], { home: home.dir })
    expect(r.code).toBe(2)
    const first = r.stderr.split('\n')[0]!
    expect(first).toMatch(new RegExp(`^ww: cannot connect to any of 2 nodes: ${dead}: .*ECONNREFUSED.*\\(ERR_CONNECT_FAILED\\); ${dead2}: .*ECONNREFUSED.*\\(ERR_CONNECT_FAILED\\)$`))
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2) // the line and its hint
  })

  it('takes several URLs from WW_ADDR', async () => {
    const r = await runWw(['ls', '--format', 'ndjson'], { home: home.dir, env: { WW_ADDR: `${dead},${live}`, WW_TOKEN: TOKEN } })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('web-1')
  })
})

describe('contexts', () => {
  beforeAll(() => {
    writeConfig({
      current: 'down',
      contexts: {
        down: { addr: dead },
        prod: { addr: [dead2, live], tokenFile: '../token', format: 'ndjson' },
      },
    })
  })
  afterAll(() => writeConfig({}))

  it('uses current when none is named: its dead addr fails, naming it', async () => {
    const r = await runWw(['ls'], { home: home.dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`cannot connect to ${dead}`)
  })

  it('WW_CONTEXT picks a context: its addrs in order, its token file, its format', async () => {
    const r = await runWw(['ls'], { home: home.dir, env: { WW_CONTEXT: 'prod' } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ host: 'web-1' })
  })

  it('--context wins over WW_CONTEXT; flags and env win over the context', async () => {
    const flagWins = await runWw(['ls', '--context', 'down'], { home: home.dir, env: { WW_CONTEXT: 'prod' } })
    expect(flagWins.code).toBe(2)
    // WW_ADDR over the context's addr; --format over its format; --token over its token file
    const envAddr = await runWw(['ls', '--context', 'down', '--format', 'text'], { home: home.dir, env: { WW_ADDR: live, WW_TOKEN: TOKEN } })
    expect(envAddr.code).toBe(0)
    expect(envAddr.stdout).toMatch(/^PEER\s+SERVER\s+HOST/)
    const badToken = await runWw(['ls', '--context', 'prod', '--token', 'wrong'], { home: home.dir })
    expect(badToken.code).toBe(4)
  })

  it('ww info prints text under a context whose format is for records (ndjson), json when asked', async () => {
    const r = await runWw(['info', '--context', 'prod'], { home: home.dir })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^peer\\s+${node.peer}$`, 'm'))
    const flag = await runWw(['info', '--context', 'prod', '--format', 'ndjson'], { home: home.dir })
    expect(flag.code).toBe(1)
  })

  it('an unknown context is a usage error with its code', async () => {
    const r = await runWw(['ls', '--context', 'nope'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^ww: unknown context "nope" \(ERR_UNKNOWN_CONTEXT\)\nhint: the config file defines down, prod\n$/)
  })

  it('a bad config file is one line with ERR_CONFIG_INVALID, not a stack', async () => {
    writeFileSync(join(home.dir, 'ww', 'config.json'), '{"contexts": {"x": {"addr": 1}}}')
    const r = await runWw(['ls'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^ww: .*config\.json: contexts\."x" "addr" must be .* \(ERR_CONFIG_INVALID\)\n$/)
  })
})

describe('table options and colour', () => {
  const auth = (): string[] => ['--addr', live, '--token', TOKEN]

  it('-o wide adds SEQ, TTL and the node\'s dialable ADDRS', async () => {
    const r = await runWw(['ls', ...auth(), '-o', 'wide'], { home: home.dir })
    expect(r.code).toBe(0)
    const [header, row] = r.stdout.trimEnd().split('\n')
    expect(header).toMatch(/^PEER\s+SERVER\s+HOST\s+SEQ\s+TTL\s+AGE\s+SEEN\s+META\s+ADDRS$/)
    expect(row).toMatch(new RegExp(`\\s10s\\s.*region=us-east-1\\s+/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${node.peer}`))
  })

  it('--columns and --no-headers print only the chosen cells', async () => {
    const r = await runWw(['ls', ...auth(), '--columns', 'host,meta.region,peer', '--no-headers'], { home: home.dir })
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`web-1  us-east-1  ${node.peer}\n`)
    const bad = await runWw(['ls', ...auth(), '--columns', 'host,regoin'], { home: home.dir })
    expect(bad.code).toBe(1)
    expect(bad.stderr.split('\n')[0]).toMatch(/unknown column "regoin" .*\(ERR_UNKNOWN_COLUMN\)$/)
  })

  it('colours a pipe only with FORCE_COLOR (not 0)', async () => {
    const plain = await runWw(['ls', ...auth()], { home: home.dir })
    expect(plain.stdout).not.toContain('\u001b[')
    const forced = await runWw(['ls', ...auth()], { home: home.dir, env: { FORCE_COLOR: '1' } })
    expect(forced.stdout.startsWith('\u001b[1mPEER')).toBe(true)
    const off = await runWw(['ls', ...auth()], { home: home.dir, env: { FORCE_COLOR: '0' } })
    expect(off.stdout).not.toContain('\u001b[')
  })

  it('colours a real terminal unless NO_COLOR is set', async () => {
    // `script` runs the command on a pseudo-terminal of its own.
    const onTty = async (noColor: boolean): Promise<string> => {
      const env = wwEnv(home.dir, { TERM: 'xterm-256color' })
      if (!noColor) delete env.NO_COLOR
      // Node gives a terminal 2 colours when CI is set (tty's getColorDepth), so a CI run
      // (.ci/run sets it) would see no colour whatever NO_COLOR says.
      delete env.CI
      const cmd = [process.execPath, ...wwArgv(['ls', ...auth()])].map((a) => `'${a}'`).join(' ')
      const g = spawnGroup('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env })
      let out = ''
      g.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
      g.child.stdin!.end()
      expect(await g.exited).toBe(0)
      expect(out).toContain('web-1')
      return out
    }
    expect(await onTty(false)).toContain('\u001b[1mPEER')
    expect(await onTty(true)).not.toContain('\u001b[1m')
  })
})
