/**
 * The shell in a REAL terminal: `ww dev` and `ww shell` run under a pseudo-terminal made by
 * util-linux `script` (in Debian's essential bsdutils package, so present wherever the CI
 * image is Debian-based), driven by keystrokes: a query shows its rows, Tab completes a meta
 * key and a value, ↑ recalls history (also from the previous run), Ctrl-C cancels a long
 * query, Ctrl-D leaves. This is where raw mode, Ctrl-C and the real Ink renderer are covered.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type Node } from '../../src/node/node.js'
import { fillTable, tempHome, wwArgv } from '../cli/helpers.js'
import { KEY, Pty, ptyEnv } from '../pty.js'

describe('shell in a real terminal', () => {
  const home = tempHome()
  const ptys: Pty[] = []
  let big: Node | undefined

  beforeAll(() => {
    const r = spawnSync('script', ['--version'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error('these tests need util-linux `script` (Debian: bsdutils) to make a pseudo-terminal')
  })

  afterAll(async () => {
    await Promise.all(ptys.map((p) => p.kill()))
    await big?.kill()
    home.cleanup()
  })

  it('drives ww dev: rows, Tab completion of a meta key and value, history, Ctrl-D', async () => {
    const p = new Pty(wwArgv(['dev', '--nodes', '3', '--listen', 'ws://127.0.0.1:0']), ptyEnv(home.dir))
    ptys.push(p)
    await p.waitFor('Type help', 'the shell to attach', 0, 60_000)
    await p.waitFor('ww>', 'the prompt')

    let m = p.mark
    await p.type('ls', KEY.enter)
    await p.waitFor(/\(3 records\)[\s\S]*ww>\s*$/, 'the result and the empty prompt', m)
    expect(p.text(m)).toMatch(/PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META/)
    for (const host of ['web-1', 'db-2', 'cache-3']) expect(p.text(m)).toContain(host)

    m = p.mark
    await p.type('ls WHERE reg', KEY.tab)
    await p.waitFor('ls WHERE region=', 'the completed meta key', m)
    await p.type('us', KEY.tab)
    await p.waitFor('ls WHERE region=us-east-1', 'the completed value', m)
    m = p.mark
    await p.type(KEY.enter)
    // The empty prompt, not just "ww>": on a busy machine Ink may redraw the line as typed
    // after the result (React had not rendered the running state yet), and ↑ recalling that
    // same line would then draw nothing new.
    await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, 'the filtered result and the empty prompt', m)
    expect(p.text(m)).toMatch(/web-1\s+\d+[smhd]\s+\d+[smhd]\s+az=us-east-1a env=dev region=us-east-1 role=web/)

    m = p.mark
    await p.type(KEY.up)
    await p.waitFor('ww> ls WHERE region=us-east-1', 'the recalled line', m)
    await p.type('\u0015') // Ctrl-U: clear the line again

    await p.type(KEY.ctrlD)
    expect(await p.exited).toBe(0)
  }, 120_000)

  it('cancels a long query with Ctrl-C, and remembers the history of the previous run', async () => {
    big = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home.dir, 'big.key'), host: 'big' })
    fillTable(big.table, 100_000)
    const p = new Pty(wwArgv(['shell', '--addr', big.addr!]), ptyEnv(home.dir))
    ptys.push(p)
    await p.waitFor('Type help', 'the shell', 0, 60_000)

    // History kept from the ww dev run above ($XDG_CONFIG_HOME/ww/history).
    let m = p.mark
    await p.type(KEY.up)
    await p.waitFor('ww> ls WHERE region=us-east-1', 'history from the previous run', m)
    await p.type('\u0015')

    m = p.mark
    await p.type('ls', KEY.enter)
    await p.waitFor(/[1-9][0-9]* records · /, 'the live count', m)
    await p.type(KEY.ctrlC)
    await p.waitFor('cancelled', 'the cancel', m)
    await p.waitFor(/\((\d+) records\)/, 'the count of what was shown', m)
    const n = Number(/\((\d+) records\)/.exec(p.text(m))![1])
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThan(100_001)

    // The shell is usable again at once.
    m = p.mark
    await p.type('ls WHERE host=big', KEY.enter)
    await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, 'a query after the cancel, and the empty prompt', m)

    await p.type(KEY.ctrlC)
    await p.waitFor('press Ctrl-C again', 'the first Ctrl-C at an empty prompt')
    await p.type(KEY.ctrlC)
    expect(await p.exited).toBe(0)
  }, 120_000)
})
