/**
 * `ww pub` / `ww sub` end to end: real `ww` processes (from source, through tsx) against a real
 * node started in this process with startNode on 127.0.0.1.
 */
import type { ChildProcess } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startNode, type Node } from '../../src/node/node.js'
import { connect } from '../../src/proto/client/client.js'
import { MAX_MESSAGE_SIZE } from '../../src/record/topic.js'
import { ROOT, runWw, tempHome, wwArgv, wwEnv } from './helpers.js'
import { reap, spawnGroup } from '../procs.js'

let node: Node
const home = tempHome()

beforeAll(async () => {
  node = await startNode({ listen: 'ws://127.0.0.1:0', identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'] })
})
afterAll(async () => {
  await node?.kill()
  home.cleanup()
})
afterEach(reap)

interface Sub {
  child: ChildProcess
  out(): string
  err(): string
  exited: Promise<number | null>
}

function startSub(args: string[], addr: string = node.addr!): Sub {
  const { child, exited } = spawnGroup(process.execPath, wwArgv(['sub', '--addr', addr, ...args]), { cwd: ROOT, env: wwEnv(home.dir), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  return { child, out: () => out, err: () => err, exited }
}

describe('ww pub / ww sub', () => {
  it('sub prints what pub publishes (whole stdin, then --lines) and exits 0 on Ctrl-C', async () => {
    const sub = startSub(['-t', 'chat'])
    await vi.waitFor(() => expect(node.pubsub.subscribers('chat'), 'ww sub to subscribe').toBe(1), { timeout: 20_000 })
    const one = await runWw(['pub', '-t', 'chat', '--addr', node.addr!], { home: home.dir, input: 'hello world\n' })
    expect(one).toMatchObject({ code: 0, stderr: '' })
    const lines = await runWw(['pub', '-t', 'chat', '--lines', '--addr', node.addr!], { home: home.dir, input: 'a\nb\nc\n' })
    expect(lines.code).toBe(0)
    await vi.waitFor(() => expect(sub.out(), 'the messages to be printed').toBe('hello world\na\nb\nc\n'), { timeout: 15_000 })
    sub.child.kill('SIGINT')
    expect(await sub.exited).toBe(0)
    expect(sub.err()).toBe('')
    await vi.waitFor(() => expect(node.pubsub.subscribers('chat'), 'the node to free the subscription').toBe(0), { timeout: 15_000 })
  })

  it('sub refuses record formats (a plugin’s, or unknown) with ERR_USAGE saying why, and its help says which apply', async () => {
    for (const extra of [['--format', 'csv', '--plugin', 'plugins/csv.js'], ['--format', 'yaml']]) {
      const r = await runWw(['sub', '-t', 'x', '--addr', node.addr!, ...extra], { home: home.dir })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`format "${extra[1]}" does not apply to messages`)
      expect(r.stderr).toContain('ERR_USAGE')
      expect(r.stderr).toContain('text (the default), ndjson or json')
    }
    expect(node.pubsub.subscribers('x')).toBe(0)
    const help = await runWw(['sub', '--help'], { home: home.dir })
    expect(help.stdout).toMatch(/--format <name>\s+text \(the payloads\), or ndjson \/ json/)
  })

  it('sub --format ndjson --hex prints one JSON object per message', async () => {
    const sub = startSub(['-t', 'bin', '--format', 'ndjson', '--hex'])
    await vi.waitFor(() => expect(node.pubsub.subscribers('bin'), 'ww sub to subscribe').toBe(1), { timeout: 20_000 })
    const s = await connect(node.addr!)
    try {
      await s.pubsub.join('bin').publish(new Uint8Array([0, 1, 0xff]))
    } finally {
      await s.close()
    }
    await vi.waitFor(() => expect(sub.out().endsWith('\n'), 'the message').toBe(true), { timeout: 15_000 })
    expect(JSON.parse(sub.out())).toEqual({ topic: 'bin', from: node.peer, data: '0001ff', dropped: 0 })
    sub.child.kill('SIGTERM')
    expect(await sub.exited).toBe(0)
  })

  it('a bad topic exits 1 without connecting; an unreachable node exits 2', async () => {
    for (const op of ['pub', 'sub']) {
      const bad = await runWw([op, '-t', 'no spaces', '--addr', node.addr!], { home: home.dir, input: 'x' })
      expect(bad.code).toBe(1)
      expect(bad.stderr).toContain('ERR_TOPIC_NAME')
      const down = await runWw([op, '-t', 'ok', '--addr', 'ws://127.0.0.1:1'], { home: home.dir, input: 'x' })
      expect(down.code).toBe(2)
    }
  })

  it('a node requiring a token this client lacks: exit 4 (not authorized) with ERR_PUBSUB_DENIED; with the token it works', async () => {
    const locked = await startNode({ listen: 'ws://127.0.0.1:0', identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'], token: 's3cret' })
    try {
      for (const op of ['pub', 'sub']) {
        const r = await runWw([op, '-t', 'locked', '--addr', locked.addr!], { home: home.dir, input: 'x' })
        expect(r.code).toBe(4)
        expect(r.stderr).toContain('did not grant PubSub')
      }
      const ok = await runWw(['pub', '-t', 'locked', '--addr', locked.addr!, '--token', 's3cret'], { home: home.dir, input: 'x' })
      expect(ok.code).toBe(0)
    } finally {
      await locked.kill()
    }
  })

  it('pub refuses stdin larger than one message may carry (exit 1)', async () => {
    const big = await runWw(['pub', '-t', 'big', '--addr', node.addr!], { home: home.dir, input: 'x'.repeat(MAX_MESSAGE_SIZE + 1) })
    expect(big.code).toBe(1)
    expect(big.stderr).toContain('ERR_MESSAGE_TOO_LARGE')
    const fits = await runWw(['pub', '-t', 'big', '--addr', node.addr!], { home: home.dir, input: 'x'.repeat(MAX_MESSAGE_SIZE) })
    expect(fits.code).toBe(0)
  })

  it('sub exits 3 when the stream fails after it began (the node goes away)', async () => {
    const other = await startNode({ listen: 'ws://127.0.0.1:0', identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      const sub = startSub(['-t', 'doomed'], other.addr!)
      await vi.waitFor(() => expect(other.pubsub.subscribers('doomed'), 'ww sub to subscribe').toBe(1), { timeout: 20_000 })
      await other.kill()
      expect(await sub.exited).toBe(3)
      expect(sub.err()).toMatch(/ERR_/)
    } finally {
      await other.kill()
    }
  })
})
