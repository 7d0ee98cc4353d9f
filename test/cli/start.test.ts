import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PassThrough } from 'node:stream'
import { startCommand } from '../../src/cli/start.js'
import { ERR_BAD_DURATION, ERR_BAD_META, ERR_BAD_MIN_PEERS } from '../../src/cluster/options.js'
import type { Node } from '../../src/node/node.js'
import { killGroup, spawnGroup, type GroupChild } from '../procs.js'
import { wwArgv } from './helpers.js'

const root = resolve(import.meta.dirname, '../..')

/** One `ww start` process with its stdout collected line by line. */
class Proc {
  readonly lines: string[] = []
  readonly group: GroupChild
  readonly child: ChildProcess
  stderr = ''
  readonly exited: Promise<number | null>
  readonly #waiters = new Set<() => void>()

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    // Node itself, not the tsx wrapper: a signal sent to `child` reaches the node, and the
    // process group is killed whole when the test ends.
    this.group = spawnGroup(process.execPath, wwArgv(['start', ...args]), { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = this.group.child
    let buf = ''
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      const parts = buf.split('\n')
      buf = parts.pop()!
      this.lines.push(...parts)
      for (const w of [...this.#waiters]) w()
    })
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d
    })
    this.exited = this.group.exited
    this.child.once('exit', () => {
      for (const w of [...this.#waiters]) w()
    })
  }

  value(key: string): string | undefined {
    return this.lines.find((l) => l.startsWith(`${key} `))?.slice(key.length).trim()
  }

  /** Waits for a line matching `pred`, checked as lines arrive; fails if the process exits first. */
  waitLine(pred: (l: string) => boolean, timeout: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const l = this.lines.find(pred)
        if (l !== undefined) done(undefined, l)
        else if (this.child.exitCode !== null || this.child.signalCode !== null) done(new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}: ${this.stderr}`))
      }
      const done = (err: Error | undefined, l?: string): void => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        if (err === undefined) resolve(l!)
        else reject(err)
      }
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr}`)), timeout)
      this.#waiters.add(check)
      check()
    })
  }
}

const procs: Proc[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(procs.map((p) => killGroup(p.group)))
  procs.length = 0
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  dirs.length = 0
})

describe('ww start (processes)', () => {
  it('three processes find each other, log joins, and a SIGINT leaves gracefully', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ww-start-'))
    dirs.push(dir)
    const env = { XDG_CONFIG_HOME: join(dir, 'cfg') }
    const spawnNode = (i: number, bootstrap?: string): Proc => {
      const args = ['--listen', 'ws://127.0.0.1:0', '--ttl', '2s', '--host', `cli-${i}`, '--meta', `idx=${i}`, '--identity', join(dir, `id-${i}.key`)]
      if (bootstrap !== undefined) args.push('--bootstrap', bootstrap)
      const p = new Proc(args, env)
      procs.push(p)
      return p
    }
    const check = async (p: Proc, i: number): Promise<void> => {
      await p.waitLine((l) => l.startsWith('listen '), 30_000, `start of node ${i}`)
      expect(p.value('peer')).toMatch(/^12D3KooW/)
      expect(p.value('p2p')).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${p.value('peer')}$`))
      expect(p.value('listen')).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/)
      expect((await stat(join(dir, `id-${i}.key`))).mode & 0o777).toBe(0o600)
    }
    // The second and third start together, both through the first.
    const first = spawnNode(0)
    await check(first, 0)
    const started = [first, spawnNode(1, first.value('p2p')), spawnNode(2, first.value('p2p'))]
    await Promise.all([check(started[1]!, 1), check(started[2]!, 2)])
    const peers = started.map((p) => p.value('peer')!)
    for (const [i, p] of started.entries()) {
      for (const [j, peer] of peers.entries()) {
        if (i === j) continue
        const line = await p.waitLine((l) => l.startsWith('joined') && l.includes(peer), 20_000, `node ${i} seeing node ${j}`)
        expect(line).toContain(`host=cli-${j}`)
        expect(line).toContain(`idx=${j}`)
      }
    }
    const leaver = started[2]!
    const leftAt = performance.now()
    leaver.child.kill('SIGINT')
    expect(await leaver.exited).toBe(0)
    for (const p of started.slice(0, 2)) {
      await p.waitLine((l) => l.startsWith('left') && l.includes(peers[2]!), 5000, 'leave line')
    }
    // The same identity file gives the same peer ID on the next start.
    const again = new Proc(['--listen', 'none', '--ttl', '2s', '--identity', join(dir, 'id-2.key'), '--quiet'], env)
    procs.push(again)
    await again.waitLine((l) => l.startsWith('listen '), 30_000, 'restart')
    expect(again.value('peer')).toBe(peers[2])
    expect(again.value('listen')).toBe('none')
    again.child.kill('SIGTERM')
    expect(await again.exited).toBe(0)
    // Once the leaver's 2 s TTL has passed: a peer that left is never reported expired. (A
    // claim about an absence after a deadline: the wait is for the clock, not for an event.)
    const rest = 2500 - (performance.now() - leftAt)
    if (rest > 0) await new Promise((r) => setTimeout(r, rest))
    for (const p of started.slice(0, 2)) expect(p.lines.some((l) => l.startsWith('expired'))).toBe(false)
  }, 120_000)
})

describe('ww start with an identity already in use', () => {
  // Three node processes one after another: each start compiles through tsx, slow on a busy machine.
  it('a second node with the same default identity exits 1, naming the file, with the --identity hint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ww-start-'))
    dirs.push(dir)
    const env = { XDG_CONFIG_HOME: join(dir, 'cfg') }
    const first = new Proc(['--listen', 'none', '--ttl', '2s', '--quiet'], env)
    procs.push(first)
    await first.waitLine((l) => l.startsWith('listen '), 30_000, 'start of the first node')
    const second = new Proc(['--listen', 'none', '--ttl', '2s', '--quiet'], env)
    procs.push(second)
    expect(await second.exited).toBe(1)
    const file = join(dir, 'cfg', 'ww', 'identity.key')
    expect(second.stderr).toContain(`identity file ${file} is in use by another ww node (pid ${first.child.pid}`)
    expect(second.stderr).toContain('ERR_IDENTITY_LOCKED')
    expect(second.stderr).toMatch(/hint: .*--identity/)
    expect(second.lines).toEqual([])
    // The first one runs on, and once it has stopped the identity is free again.
    expect(first.child.exitCode).toBeNull()
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const third = new Proc(['--listen', 'none', '--ttl', '2s', '--quiet'], env)
    procs.push(third)
    await third.waitLine((l) => l.startsWith('listen '), 30_000, 'start after the first stopped')
    expect(third.value('peer')).toBe(first.value('peer'))
  }, 90_000)
})

describe('startCommand (in process)', () => {
  it('prints the banner, then one line per join and expiry (not per update)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ww-start-'))
    dirs.push(dir)
    const outA = new PassThrough()
    const outB = new PassThrough()
    let textA = ''
    outA.setEncoding('utf8').on('data', (d: string) => (textA += d))
    outB.resume()
    const stopA = new AbortController()
    const stopB = new AbortController()
    let nodeA: Node | undefined
    let nodeB: Node | undefined
    const a = startCommand({ listen: false, ttl: '400ms', host: 'a', identity: join(dir, 'a.key'), stdout: outA, stderr: new PassThrough(), signal: stopA.signal, handleSignals: false, onStarted: (n) => (nodeA = n) })
    try {
      await vi.waitFor(() => expect(nodeA).toBeDefined(), { timeout: 10_000 })
      expect(textA).toContain(`peer    ${nodeA!.peer}`)
      expect(textA).toContain(`server  ${nodeA!.server}`)
      expect(textA).toContain('listen  none')
      const b = startCommand({ listen: false, ttl: 400, host: 'b', meta: ['role=web'], identity: join(dir, 'b.key'), bootstrap: [nodeA!.multiaddrs[0]!], stdout: outB, stderr: new PassThrough(), signal: stopB.signal, handleSignals: false, onStarted: (n) => (nodeB = n) })
      await vi.waitFor(() => expect(nodeB !== undefined && textA.includes(`joined  ${nodeB.peer} host=b role=web`)).toBe(true), { timeout: 10_000 })
      // Several heartbeats (updates) later there is still exactly one line about b.
      const seq = nodeA!.table.get(nodeB!.peer)!.seq
      await vi.waitFor(() => expect((nodeA!.table.get(nodeB!.peer)?.seq ?? 0) >= seq + 2).toBe(true), { timeout: 10_000 })
      await nodeB!.kill()
      stopB.abort()
      expect(await b).toBe(0)
      await vi.waitFor(() => expect(textA.includes(`expired ${nodeB!.peer}`)).toBe(true), { timeout: 5000 })
      expect(textA.split('\n').filter((l) => l.includes(nodeB!.peer))).toHaveLength(2)
    } finally {
      stopA.abort()
      stopB.abort()
    }
    expect(await a).toBe(0)
  })

  it('rejects bad flags with their codes before starting anything', async () => {
    await expect(startCommand({ ttl: '10 weeks', handleSignals: false })).rejects.toMatchObject({ code: ERR_BAD_DURATION })
    await expect(startCommand({ meta: ['novalue'], handleSignals: false })).rejects.toMatchObject({ code: ERR_BAD_META })
    for (const bad of ['-1', 'six', '1.5', '1001']) {
      await expect(startCommand({ minPeers: bad, handleSignals: false })).rejects.toMatchObject({ code: ERR_BAD_MIN_PEERS })
    }
    await expect(startCommand({ maxClockSkew: 'soon', handleSignals: false })).rejects.toMatchObject({ code: ERR_BAD_DURATION })
  })
})
