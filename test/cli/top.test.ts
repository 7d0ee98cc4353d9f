/**
 * `ww top` in a REAL terminal (a pseudo-terminal made by `script`) against real nodes on
 * 127.0.0.1 gossiping over libp2p: the screen lists the peers, a node that joins appears and
 * is counted, a node that leaves disappears and is counted, a sort key re-sorts, `q` quits
 * with 0 and gives the terminal its screen back; Ctrl-C exits 130; a node that goes away
 * takes the screen down with exit 3.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type Node, type NodeInit } from '../../src/node/node.js'
import { Pty, ptyEnv, requireScript } from '../pty.js'
import { tempHome, wwArgv } from './helpers.js'

const home = tempHome()
const ptys: Pty[] = []
const nodes: Node[] = []

async function node(init: NodeInit): Promise<Node> {
  const n = await startNode({ identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'], ...init })
  nodes.push(n)
  return n
}

function top(args: string[]): Pty {
  const p = new Pty(wwArgv(['top', ...args]), ptyEnv(home.dir), { cols: 200, rows: 30 })
  ptys.push(p)
  return p
}

// The screen as last drawn: Ink redraws the whole screen each time, starting with the title.
function lastFrame(p: Pty): string {
  const t = p.text()
  return t.slice(t.lastIndexOf('ww top '))
}

// The last frame drawn to its end (its help line, the frame's last, ends with "q quit"): the
// terminal hands output over in chunks, so the newest frame may still be half written.
function fullFrame(p: Pty): string {
  const t = p.text()
  let end = t.length
  for (let i = t.lastIndexOf('ww top '); i >= 0; i = i === 0 ? -1 : t.lastIndexOf('ww top ', i - 1)) {
    const f = t.slice(i, end)
    if (f.includes('q quit')) return f
    end = i
  }
  return ''
}

const ALT_ON = '\u001b[?1049h'
const ALT_OFF = '\u001b[?1049l'

beforeAll(() => requireScript())
afterEach(async () => {
  await Promise.all(ptys.splice(0).map((p) => p.kill()))
  await Promise.allSettled(nodes.splice(0).map((n) => n.kill()))
})
afterAll(() => home.cleanup())

describe('ww top in a real terminal', () => {
  it('shows the peers, a join and a leave as they happen, re-sorts on a key, and q restores the screen', async () => {
    const a = await node({ listen: 'ws://127.0.0.1:0', host: 'alpha', meta: { region: 'eu-west-1', role: 'db' }, ttl: 30_000 })
    const b = await node({ listen: false, host: 'beta', meta: { region: 'us-east-1', role: 'db' }, ttl: 30_000, bootstrap: [a.multiaddrs[0]!] })
    await expect.poll(() => a.table.get(b.peer) !== undefined, { timeout: 20_000 }).toBe(true)

    const p = top(['WHERE', 'role=db', '--addr', a.addr!])
    await p.waitUntil(() => /2 peers/.test(fullFrame(p)) && /beta/.test(fullFrame(p)), 'both peers on screen')
    expect(p.raw).toContain(ALT_ON)
    let f = fullFrame(p)
    expect(f).toMatch(/HOST\s+PEER\s+REGION\s+ROLE\s+AGE\s+SEEN/)
    expect(f).toMatch(new RegExp(`alpha\\s+${a.peer}\\s+eu-west-1\\s+db\\s+\\d+s\\s+\\d+s`))
    expect(f).toMatch(new RegExp(`beta\\s+${b.peer}\\s+us-east-1\\s+db\\s+\\d+s\\s+\\d+s`))
    expect(f).toContain('last minute: 0 joined · 0 left · 0 expired')
    expect(f).toContain('sort: h host · p peer · a age · s seen')

    // A node joins the cluster: it appears, and the footer counts it.
    const c = await node({ listen: false, host: 'gamma', meta: { region: 'ap-south-1', role: 'db' }, ttl: 30_000, bootstrap: [a.multiaddrs[0]!] })
    await p.waitUntil(() => /3 peers/.test(fullFrame(p)), 'the joined node')
    f = fullFrame(p)
    expect(f).toMatch(new RegExp(`gamma\\s+${c.peer}\\s+ap-south-1\\s+db\\s+\\d+s\\s+\\d+s`))
    expect(f).toContain('1 joined · 0 left')

    // It leaves (its last heartbeat has ttl 0): gone from the screen, counted as left.
    await c.stop()
    await p.waitUntil(() => /2 peers/.test(fullFrame(p)), 'the node gone')
    f = fullFrame(p)
    expect(f).not.toContain('gamma')
    expect(f).toContain('1 joined · 1 left · 0 expired')

    // Sorted by host (alpha, beta); `h` again reverses it.
    expect(f.indexOf('alpha')).toBeLessThan(f.indexOf('beta'))
    await p.type('h')
    await p.waitUntil(() => fullFrame(p).includes('now host ↑'), 'the reversed sort')
    f = fullFrame(p)
    expect(f.indexOf('beta')).toBeLessThan(f.indexOf('alpha'))
    await p.type('s')
    await p.waitUntil(() => fullFrame(p).includes('now seen'), 'the sort by seen')

    const m = p.mark
    await p.type('q')
    expect(await p.exited).toBe(0)
    // The alternate screen is left after the last frame: the shell's screen comes back.
    expect(p.raw.slice(m)).toContain(ALT_OFF)
    expect(p.raw.lastIndexOf(ALT_OFF)).toBeGreaterThan(p.raw.lastIndexOf('ww top '))
  }, 120_000)

  it('Ctrl-C exits 130; a node that goes away leaves the screen with a message and exit 3', async () => {
    const a = await node({ listen: 'ws://127.0.0.1:0', host: 'alpha', meta: { role: 'db' }, ttl: 30_000 })
    const p1 = top(['--addr', a.addr!])
    await p1.waitUntil(() => /1 peer\b/.test(lastFrame(p1)), 'the one peer')
    await p1.type('\u0003')
    expect(await p1.exited).toBe(130)
    expect(p1.raw.lastIndexOf(ALT_OFF)).toBeGreaterThan(p1.raw.lastIndexOf(ALT_ON))

    const p2 = top(['--addr', a.addr!])
    await p2.waitUntil(() => /1 peer\b/.test(lastFrame(p2)), 'the one peer')
    const m = p2.mark
    await a.kill()
    expect(await p2.exited).toBe(3)
    const after = p2.raw.slice(p2.raw.lastIndexOf(ALT_OFF))
    expect(after.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\r/g, '')).toMatch(/the stream failed after 1 record.*ERR_/)
    expect(p2.raw.slice(m)).toContain(ALT_OFF)
  }, 120_000)
})
