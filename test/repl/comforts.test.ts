/**
 * The shell's comforts, each in a REAL terminal (util-linux `script`, see pty.ts) against a
 * real node: Ctrl-R history search, a multi-line paste run line by line, Ctrl-L, `\o`, `\i`,
 * `\x`, the wording of the banner and of the status line while dialling; and the piped
 * shell as a separate process whose stdout holds only results.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type Node } from '../../src/node/node.js'
import { fillTable, ROOT, tempHome, wwArgv, wwEnv } from '../cli/helpers.js'
import { killGroup, spawnGroup } from '../procs.js'
import { KEY, Pty, ptyEnv } from './pty.js'

describe('shell comforts', () => {
  const home = tempHome()
  const ptys: Pty[] = []
  let node: Node
  let hang: Server | undefined
  const sockets = new Set<Socket>()

  beforeAll(async () => {
    const r = spawnSync('script', ['--version'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error('these tests need util-linux `script` (Debian: bsdutils) to make a pseudo-terminal')
    node = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home.dir, 'node.key'), host: 'alpha' })
    fillTable(node.table, 12) // bulk-0 … bulk-11
  }, 60_000)

  afterEach(async () => {
    await Promise.all(ptys.splice(0).map((p) => p.kill()))
  })

  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => (hang === undefined ? r() : hang.close(() => r())))
    await node?.kill()
    home.cleanup()
  })

  /** `ww shell` against the node, in a pty, at its first prompt. */
  async function shell(args: string[] = ['--addr', node.addr!]): Promise<Pty> {
    const p = new Pty(wwArgv(['shell', ...args]), ptyEnv(home.dir))
    ptys.push(p)
    await p.waitFor('Type help', 'the banner', 0, 60_000)
    await p.waitFor('ww>', 'the prompt')
    return p
  }

  it('says plainly when it is not connected, and that it is connecting while \\connect dials', async () => {
    // A port that accepts and never answers: the WebSocket handshake hangs until Ctrl-C.
    hang = createServer((s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    await new Promise<void>((r) => hang!.listen(0, '127.0.0.1', r))
    const hangUrl = `ws://127.0.0.1:${(hang.address() as AddressInfo).port}`
    // A port nobody listens on: the first dial fails at once.
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const deadUrl = `ws://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise<void>((r) => closed.close(() => r()))

    const p = await shell(['--addr', deadUrl])
    expect(p.text()).toContain(`not connected to ${deadUrl}`)
    expect(p.text()).not.toMatch(/connected to \S+ — not connected/)

    const m = p.mark
    await p.type(`\\connect ${hangUrl}`, KEY.enter)
    await p.waitFor(`connecting to ${hangUrl} · `, 'the status line while dialling', m)
    expect(p.text(m)).not.toMatch(/\d+ records? · /)
    await p.type(KEY.ctrlC)
    await p.waitFor(/ERR_ABORTED[\s\S]*ww>/, 'the prompt after cancelling the dial', m)
  }, 120_000)

  it('piped: stdout holds only results; meta-command answers, help and timing go to stderr', async () => {
    const g = spawnGroup(process.execPath, wwArgv(['shell', '--addr', node.addr!]), { cwd: ROOT, env: wwEnv(home.dir) })
    let out = ''
    let err = ''
    g.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    g.child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    g.child.stdin!.end(['\\format ndjson', '\\timing on', 'help', 'ls WHERE host=bulk-1*', 'count ls', '\\format', 'lookup WHERE host=alpha'].join('\n') + '\n')
    const timer = setTimeout(() => void killGroup(g), 60_000)
    const code = await g.exited
    clearTimeout(timer)
    expect(code, err).toBe(0)
    const lines = out.split('\n').filter((l) => l !== '')
    // ls: bulk-1, bulk-10, bulk-11 as ndjson; count: the whole table; lookup: alpha.
    const records = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { host: string })
    expect(records.map((r) => r.host).sort()).toEqual(['alpha', 'bulk-1', 'bulk-10', 'bulk-11'])
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual(['13'])
    expect(err).toContain('format is ndjson')
    expect(err).toContain('timing is on')
    expect(err).toContain('Meta-commands')
    expect(err).toMatch(/\(3 records, [0-9.]+ ms\)/)
    expect(err).toMatch(/\(1 record, [0-9.]+ ms\)/)
  }, 90_000)
})
