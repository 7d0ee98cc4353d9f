/**
 * `ww keygen` and `ww start --swarm-key`, as real processes: the key file is written 0600 and
 * never overwritten without --force; two `ww start` processes holding the same key form a
 * cluster and print the same fingerprint; a node with another key never joins them.
 */
import { describe, expect, it, vi } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { startCommand } from '../../src/cli/start.js'
import { ERR_SWARM_KEY_INVALID } from '../../src/cluster/swarm-key.js'
import { ERR_ALLOW_LIST_INVALID, ERR_BAD_MAX_PEERS } from '../../src/cluster/admission.js'
import { writeFile } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Node } from '../../src/node/node.js'
import { cleanupAfterEach } from '../cleanup.js'
import { ROOT, runWw, tempHome, wwArgv, wwEnv } from './helpers.js'

const cleanups = cleanupAfterEach()

function home(): string {
  const h = tempHome()
  cleanups.push(() => h.cleanup())
  return h.dir
}

/** A `ww start` process in its own process group, killed (group) and awaited after the test. */
function wwStart(args: string[], dir: string): { lines: string[]; stderr: () => string } {
  const child: ChildProcess = spawn(process.execPath, wwArgv(['start', ...args]), { cwd: ROOT, env: wwEnv(dir), detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((r) => child.once('exit', r))
  cleanups.push(async () => {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL')
    await exited
  })
  const lines: string[] = []
  let buf = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    const parts = buf.split('\n')
    buf = parts.pop()!
    lines.push(...parts)
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  return { lines, stderr: () => err }
}

const field = (lines: string[], key: string): string | undefined => lines.find((l) => l.startsWith(`${key} `))?.slice(key.length).trim()

describe('ww keygen', () => {
  it('writes a 0600 key file, refuses to overwrite it, replaces it with --force', async () => {
    const dir = home()
    const path = join(dir, 'swarm.key')
    const first = await runWw(['keygen', path], { home: dir })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^swarm key [0-9a-f]{8} written to /)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const text = await readFile(path, 'utf8')
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    expect(first.stdout).not.toContain(text.split('\n')[2]!) // the key itself is never printed

    const again = await runWw(['keygen', path], { home: dir })
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('ERR_SWARM_KEY_EXISTS')
    expect(await readFile(path, 'utf8')).toBe(text)

    const forced = await runWw(['keygen', path, '--force'], { home: dir })
    expect(forced.code, forced.stderr).toBe(0)
    expect(await readFile(path, 'utf8')).not.toBe(text)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  }, 60_000)
})

describe('ww start --swarm-key', () => {
  it('two processes with the same key form a cluster; a node with another key does not join', async () => {
    const dir = home()
    const key = join(dir, 'swarm.key')
    const other = join(dir, 'other.key')
    for (const p of [key, other]) expect((await runWw(['keygen', p], { home: dir })).code).toBe(0)

    const a = wwStart(['--listen', 'none', '--ttl', '1s', '--host', 'a', '--identity', join(dir, 'a.id'), '--swarm-key', key], dir)
    await vi.waitFor(() => expect(field(a.lines, 'listen'), `a's banner (${a.stderr()})`).toBeDefined(), { timeout: 60_000 })
    const boot = field(a.lines, 'p2p')!
    const b = wwStart(['--listen', 'none', '--ttl', '1s', '--host', 'b', '--identity', join(dir, 'b.id'), '--swarm-key', key, '--bootstrap', boot], dir)
    await vi.waitFor(() => expect(field(b.lines, 'peer') !== undefined && a.lines.some((l) => l.startsWith(`joined  ${field(b.lines, 'peer')}`)), `b to join a (${b.stderr()})`).toBe(true), { timeout: 60_000 })
    expect(field(a.lines, 'swarm')).toMatch(/^[0-9a-f]{8}$/)
    expect(field(b.lines, 'swarm')).toBe(field(a.lines, 'swarm'))

    // Another key: the dial to a fails, reported on stderr; a never lists it.
    let c: Node | undefined
    const errC = new PassThrough()
    let errText = ''
    errC.setEncoding('utf8').on('data', (d: string) => (errText += d))
    const stopC = new AbortController()
    const running = startCommand({ listen: false, ttl: '1s', identity: join(dir, 'c.id'), swarmKey: other, bootstrap: [boot], stdout: new PassThrough(), stderr: errC, signal: stopC.signal, handleSignals: false, onStarted: (n) => (c = n) })
    cleanups.push(async () => {
      stopC.abort()
      await running
    })
    await vi.waitFor(() => expect(errText.includes('unreachable'), 'the refused bootstrap dial').toBe(true), { timeout: 20_000 })
    expect(c!.table.size).toBe(1)
    expect(a.lines.some((l) => l.includes(c!.peer))).toBe(false)
  }, 120_000)

  it('refuses a file that is not a swarm key before starting anything', async () => {
    await expect(startCommand({ swarmKey: join(ROOT, 'package.json'), handleSignals: false })).rejects.toMatchObject({ code: ERR_SWARM_KEY_INVALID })
  })
})

describe('ww start --allow-peers / --max-peers', () => {
  it('prints the allow-list size, warns about an unlisted bootstrap peer, and takes --max-peers', async () => {
    const dir = home()
    const listed = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const unlisted = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const file = join(dir, 'peers')
    await writeFile(file, `# the cluster\n${listed}\n`)
    let node: Node | undefined
    let out = ''
    let err = ''
    const stdout = new PassThrough().setEncoding('utf8').on('data', (d: string) => (out += d))
    const stderr = new PassThrough().setEncoding('utf8').on('data', (d: string) => (err += d))
    const stop = new AbortController()
    const running = startCommand({ listen: false, identity: join(dir, 'n.id'), allowPeers: file, maxPeers: '7', bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${unlisted}`], stdout, stderr, signal: stop.signal, handleSignals: false, onStarted: (n) => (node = n) })
    cleanups.push(async () => {
      stop.abort()
      await running
    })
    await vi.waitFor(() => expect(node).toBeDefined(), { timeout: 20_000 })
    expect(out).toContain(`allow   1 peer from ${file}`)
    expect(err).toContain(`bootstrap peer ${unlisted} is not on allow-list ${file}`)
    // The node itself is allowed although the file doesn't list it.
    expect(node!.table.get(node!.peer)).toBeDefined()
  })

  it('warns when the p2p port is reachable beyond the host with neither a swarm key nor an allow-list', async () => {
    const dir = home()
    const run = async (extra: Partial<Parameters<typeof startCommand>[0]>): Promise<string> => {
      let err = ''
      let started = false
      const stderr = new PassThrough().setEncoding('utf8').on('data', (d: string) => (err += d))
      const stop = new AbortController()
      const running = startCommand({ listen: false, identity: join(dir, 'w.id'), stdout: new PassThrough(), stderr, signal: stop.signal, handleSignals: false, onStarted: () => (started = true), ...extra })
      try {
        await vi.waitFor(() => expect(started).toBe(true), { timeout: 20_000 })
      } finally {
        stop.abort()
        await running
      }
      return err
    }
    expect(await run({ p2p: ['/ip4/0.0.0.0/tcp/0'] })).toContain('open to any peer')
    expect(await run({ p2p: ['/ip4/127.0.0.1/tcp/0'] })).not.toContain('open to any peer')
    const key = join(dir, 'swarm.key')
    expect((await runWw(['keygen', key], { home: dir })).code).toBe(0)
    expect(await run({ p2p: ['/ip4/0.0.0.0/tcp/0'], swarmKey: key })).not.toContain('open to any peer')
  }, 60_000)

  it('refuses a bad allow-list or --max-peers before starting anything', async () => {
    const dir = home()
    await writeFile(join(dir, 'bad'), 'not-a-peer\n')
    await expect(startCommand({ allowPeers: join(dir, 'bad'), handleSignals: false })).rejects.toMatchObject({ code: ERR_ALLOW_LIST_INVALID })
    for (const bad of ['0', 'ten', '1.5', '-3']) await expect(startCommand({ maxPeers: bad, handleSignals: false })).rejects.toMatchObject({ code: ERR_BAD_MAX_PEERS })
    const r = await runWw(['start', '--max-peers', '0'], { home: dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('--max-peers')
  })
})
