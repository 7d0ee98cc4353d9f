/**
 * `ww top` in-process, on the ways out before the screen is taken: a first dial that fails
 * (exit 2) and a node that hands out the null View (exit 4) must leave no SIGINT/SIGTERM
 * handler behind (a leftover handler would swallow the next Ctrl-C of an embedding process).
 * `top` refuses to run without a terminal, so the test marks stdin and stdout as TTYs while
 * it runs; nothing is drawn on these paths.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { topCommand } from '../../src/cli/top.js'
import { createContext } from '../../src/client/context.js'
import { ERR_CANNOT_CONNECT, ERR_NOT_AUTHORIZED } from '../../src/client/errors.js'
import { startNode, type Node } from '../../src/node/node.js'
import { deadPort } from './helpers.js'

const home = mkdtempSync(join(tmpdir(), 'ww-top-exit-'))
const env = { XDG_CONFIG_HOME: home }
const nodes: Node[] = []
const saved = { out: Object.getOwnPropertyDescriptor(process.stdout, 'isTTY'), in: Object.getOwnPropertyDescriptor(process.stdin, 'isTTY') }

beforeEach(() => {
  Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true })
  Object.defineProperty(process.stdin, 'isTTY', { value: true, configurable: true })
})
afterEach(async () => {
  for (const [stream, d] of [[process.stdout, saved.out], [process.stdin, saved.in]] as const) {
    if (d === undefined) delete (stream as { isTTY?: boolean }).isTTY
    else Object.defineProperty(stream, 'isTTY', d)
  }
  await Promise.allSettled(nodes.splice(0).map((n) => n.kill()))
})
afterAll(() => rmSync(home, { recursive: true, force: true }))

const counts = (): number[] => [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]

describe('ww top removes its signal handlers on every way out', () => {
  it('after a failed first dial (exit 2)', async () => {
    const ctx = await createContext({ addr: [`ws://127.0.0.1:${await deadPort()}`] }, env)
    const before = counts()
    await expect(topCommand([], ctx)).rejects.toMatchObject({ code: ERR_CANNOT_CONNECT })
    expect(counts()).toEqual(before)
  })

  it('after a node hands out the null View (exit 4)', async () => {
    const n = await startNode({ listen: 'ws://127.0.0.1:0', token: 'secret', identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'], minPeers: 0 })
    nodes.push(n)
    const ctx = await createContext({ addr: [n.addr!] }, env)
    const before = counts()
    await expect(topCommand([], ctx)).rejects.toMatchObject({ code: ERR_NOT_AUTHORIZED })
    expect(counts()).toEqual(before)
  })
})
