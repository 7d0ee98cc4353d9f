/**
 * The shell's comforts, each in a REAL terminal (util-linux `script`, see pty.ts) against a
 * real node: Ctrl-R history search, a multi-line paste run line by line, Ctrl-L, `\o`, `\i`,
 * `\x`, the wording of the banner and of the status line while dialling; and the piped
 * shell as a separate process whose stdout holds only results.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { startNode, type Node } from '../../src/node/node.js'
import { fillTable, ROOT, tempHome, wwArgv, wwEnv } from '../cli/helpers.js'
import { killGroup, spawnGroup } from '../procs.js'
import { ANSI, KEY, Pty, ptyEnv } from '../pty.js'

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
  async function shell(args: string[] = ['--addr', node.addr!], dir = home.dir): Promise<Pty> {
    const p = new Pty(wwArgv(['shell', ...args]), ptyEnv(dir))
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

  it('runs a bracketed multi-line paste line by line, in order, leaving the unfinished last line on the prompt', async () => {
    const p = await shell()
    const m = p.mark
    await p.type(KEY.pasteStart + 'ls WHERE host=alpha\rls WHERE host=bulk-3\r\rls WHERE host=bulk-1' + KEY.pasteEnd)
    await p.waitFor(/ww> ls WHERE host=bulk-3[\s\S]*\(1 record\)[\s\S]*ww> ls WHERE host=bulk-1\s*$/, 'both results and the last line on the prompt', m)
    const t = p.text(m)
    const at = (s: string, from = 0): number => t.indexOf(s, from)
    const a = at('ww> ls WHERE host=alpha')
    const b = at('ww> ls WHERE host=bulk-3', a)
    expect(a).toBeGreaterThanOrEqual(0)
    // alpha's row and count come before the second line is echoed: one statement at a time.
    expect(at('(1 record)', a)).toBeLessThan(b)
    expect(t.slice(a, b)).toMatch(/\salpha\s/)
    expect(t.slice(b)).toMatch(/\sbulk-3\s/)
    expect(t).not.toContain('ERR_QUERY') // no syntax error from lines joined into one query
    // The last line was not run: Enter runs it now.
    const m2 = p.mark
    await p.type(KEY.enter)
    await p.waitFor(/\sbulk-1\s[\s\S]*\(1 record\)[\s\S]*ww>\s*$/, 'the last pasted line, run by Enter', m2)

    // Ctrl-C stops the running line (a watch runs until then) and drops the rest of the paste.
    const m3 = p.mark
    await p.type(KEY.pasteStart + 'watch WHERE host=alpha\rlookup WHERE host=bulk-2\r' + KEY.pasteEnd)
    await p.waitFor(/\salpha\s/, 'the watch running', m3)
    await p.type(KEY.ctrlC)
    await p.waitFor('cancelled (the lines after it are not run)', 'the cancel', m3)
    await p.waitFor(/watch stopped[\s\S]*ww>/, 'the prompt', m3)
    const m4 = p.mark
    await p.type('lookup WHERE host=bulk-0', KEY.enter)
    await p.waitFor(/\sbulk-0\s[\s\S]*\(1 record\)/, 'the next typed line', m4)
    expect(p.text(m3)).not.toContain('host=bulk-2')
  }, 120_000)

  it('without bracketed paste, line breaks inside one chunk of input end lines that run one by one', async () => {
    const p = await shell()
    const m = p.mark
    await p.type('ls WHERE host=bulk-4\rls WHERE host=bulk-5\rls WHERE host=bulk-6\r')
    await p.waitFor(/ww> ls WHERE host=bulk-6[\s\S]*\(1 record\)[\s\S]*ww>\s*$/, 'the third result', m)
    const t = p.text(m)
    for (const h of ['bulk-4', 'bulk-5', 'bulk-6']) expect(t).toMatch(new RegExp(`ww> ls WHERE host=${h}[\\s\\S]*\\s${h}\\s[\\s\\S]*\\(1 record\\)`))
    expect(t).not.toContain('ERR_QUERY')
  }, 120_000)

  it('Ctrl-R searches history backwards: typing narrows, Ctrl-R goes older, Enter runs, Ctrl-G and Esc cancel', async () => {
    // A history of its own: exactly the three lines below.
    const own = tempHome()
    onTestFinished(() => own.cleanup())
    const p = await shell(['--addr', node.addr!], own.dir)
    for (const q of ['ls WHERE host=bulk-2', 'lookup WHERE host=alpha', 'ls WHERE host=bulk-7']) {
      const m = p.mark
      await p.type(q, KEY.enter)
      await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, q, m)
    }
    let m = p.mark
    await p.type(KEY.ctrlR, 'bu')
    await p.waitFor("(reverse-i-search)`bu': ls WHERE host=bulk-7", 'the newest match', m)
    m = p.mark
    await p.type('lk-2')
    await p.waitFor("(reverse-i-search)`bulk-2': ls WHERE host=bulk-2", 'the narrowed match', m)
    await p.type('\u007f', '\u007f') // Backspace twice: back to `bulk`, the newest match again
    await p.waitFor("(reverse-i-search)`bulk': ls WHERE host=bulk-7", 'the wider match', m)
    m = p.mark
    await p.type(KEY.ctrlR)
    await p.waitFor("(reverse-i-search)`bulk': ls WHERE host=bulk-2", 'the older match', m)
    m = p.mark
    await p.type(KEY.ctrlR)
    await p.waitFor("(failed reverse-i-search)`bulk': ls WHERE host=bulk-2", 'no older match', m)
    m = p.mark
    await p.type(KEY.enter)
    await p.waitFor(/ww> ls WHERE host=bulk-2\s[\s\S]*\sbulk-2\s[\s\S]*\(1 record\)[\s\S]*ww>\s*$/, 'the match, run', m)

    // Ctrl-G gives back the line as it was before the search.
    await p.type('ls WHERE host=b')
    m = p.mark
    await p.type(KEY.ctrlR, 'alpha')
    await p.waitFor("`alpha': lookup WHERE host=alpha", 'the alpha match', m)
    m = p.mark
    await p.type(KEY.ctrlG)
    await p.waitFor(/ww> ls WHERE host=b\s*$/, 'the line before the search', m)
    // Esc too (Ink passes a lone Esc on after a short wait).
    await p.type(KEY.ctrlR, 'lookup')
    await p.waitFor("`lookup': lookup WHERE host=alpha", 'the lookup match', m)
    m = p.mark
    await p.type(KEY.esc)
    await p.waitFor(/ww> ls WHERE host=b\s*$/, 'the line before the search, after Esc', m)
  }, 120_000)

  it('Ctrl-L clears the screen and keeps the line being typed', async () => {
    const p = await shell()
    let m = p.mark
    await p.type('ls WHERE host=bulk-9', KEY.enter)
    await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, 'a result on the screen', m)
    await p.type('ls WHERE host=alp')
    await p.waitFor(/ww> ls WHERE host=alp\s*$/, 'the typed line', m)
    m = p.mark
    await p.type(KEY.ctrlL)
    await p.waitFor(() => {
      const raw = p.raw.slice(m)
      const clear = raw.lastIndexOf('\u001b[2J')
      return clear >= 0 && /ww> ls WHERE host=alp\s*$/.test(raw.slice(clear).replace(ANSI, ''))
    }, 'the screen erased, then the prompt with the line kept')
    // The line is still being edited: finish it and run it.
    m = p.mark
    await p.type('ha', KEY.enter)
    await p.waitFor(/ww> ls WHERE host=alpha\s[\s\S]*\(1 record\)/, 'the kept line, completed and run', m)
  }, 120_000)

  it('\\o FILE sends results to a file (truncated first), \\o alone back to the screen; bad files say why and the shell goes on', async () => {
    const dir = join(home.dir, 'out')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, 'results.txt')
    writeFileSync(file, 'old content that must go\n'.repeat(100))
    const p = await shell()

    let m = p.mark
    await p.type(`\\o ${dir}`, KEY.enter)
    await p.waitFor(`cannot write to ${dir}: is a directory (ERR_OUTPUT_FILE)`, 'the directory refused', m)
    m = p.mark
    await p.type(`\\o ${join(dir, 'no/such/dir/x.txt')}`, KEY.enter)
    await p.waitFor('no such file or directory (ERR_OUTPUT_FILE)', 'the missing folder refused', m)

    // A device that is always full: the write error is reported and results come back to the screen.
    m = p.mark
    await p.type('\\o /dev/full', KEY.enter)
    await p.waitFor('results go to /dev/full', 'the redirect', m)
    m = p.mark
    await p.type('ls', KEY.enter)
    await p.waitFor('cannot write to /dev/full: no space left on the device (ERR_OUTPUT_FILE); results go to the screen again', 'the write error', m)
    await p.waitFor(/ww>\s*$/, 'the prompt', m)

    m = p.mark
    await p.type(`\\o ${file}`, KEY.enter)
    await p.waitFor(`results go to ${file}`, 'the redirect', m)
    m = p.mark
    await p.type('ls WHERE host=bulk-1*', KEY.enter)
    await p.waitFor(/\(3 records\)[\s\S]*ww>\s*$/, 'the count on the screen', m)
    expect(p.text(m)).not.toMatch(/\sbulk-10\s/) // the rows went to the file
    const m2 = p.mark
    await p.type('\\o', KEY.enter)
    await p.waitFor(`results go to the screen again (${file} closed)`, 'the redirect ended', m2)
    const saved = readFileSync(file, 'utf8')
    expect(saved).not.toContain('old content')
    expect(saved).toMatch(/^PEER\s+SERVER\s+HOST/)
    for (const h of ['bulk-1', 'bulk-10', 'bulk-11']) expect(saved).toMatch(new RegExp(`\\s${h}\\s`))
    m = p.mark
    await p.type('ls WHERE host=bulk-11', KEY.enter)
    await p.waitFor(/\sbulk-11\s[\s\S]*\(1 record\)/, 'results on the screen again', m)
  }, 120_000)

  it('\\i FILE runs a file of statements, reports a bad line by number and goes on; missing, too large and nested files are refused', async () => {
    const dir = join(home.dir, 'scripts')
    mkdirSync(dir, { recursive: true })
    const good = join(dir, 'q.ww')
    writeFileSync(good, ['-- the first two hosts', '', 'lookup WHERE host=alpha', 'ls WHERE', '# another comment', `\\i ${good}`, 'lookup WHERE host=bulk-8'].join('\n') + '\n')
    const big = join(dir, 'big.ww')
    writeFileSync(big, '-- padding\n'.repeat(Math.ceil((1024 * 1024 + 1) / 11)))
    const p = await shell()

    let m = p.mark
    await p.type(`\\i ${good}`, KEY.enter)
    await p.waitFor(`${good}: 4 of 4 statements run, 2 failed`, 'the summary', m)
    const t = p.text(m)
    expect(t).toMatch(new RegExp(`${good}:3> lookup WHERE host=alpha[\\s\\S]*\\salpha\\s`))
    expect(t).toContain(`${good}:4: `) // the bad line, by number, with the caret
    expect(t).toContain('^')
    expect(t).toContain(`${good}:6: \\i inside a file is not run`)
    expect(t).toMatch(new RegExp(`${good}:7> lookup WHERE host=bulk-8[\\s\\S]*\\sbulk-8\\s`))

    m = p.mark
    await p.type(`\\i ${join(dir, 'missing.ww')}`, KEY.enter)
    await p.waitFor(`cannot run ${join(dir, 'missing.ww')}: no such file or directory (ERR_INPUT_FILE)`, 'the missing file', m)
    m = p.mark
    await p.type(`\\i ${big}`, KEY.enter)
    await p.waitFor(`cannot run ${big}: larger than 1048576 bytes (ERR_INPUT_TOO_LARGE)`, 'the file over the cap', m)
    m = p.mark
    await p.type(`\\i ${dir}`, KEY.enter)
    await p.waitFor(`cannot run ${dir}: is a directory (ERR_INPUT_FILE)`, 'a directory', m)
    m = p.mark
    await p.type('lookup WHERE host=bulk-0', KEY.enter)
    await p.waitFor(/\sbulk-0\s[\s\S]*\(1 record\)/, 'the shell still running', m)
  }, 120_000)

  it('\\x shows each record as one field per line, and toggles back to the table', async () => {
    const p = await shell()
    let m = p.mark
    await p.type('\\x', KEY.enter)
    await p.waitFor('expanded display is on', 'the toggle', m)
    m = p.mark
    await p.type('ls WHERE host=bulk-3', KEY.enter)
    await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, 'the result', m)
    const t = p.text(m)
    expect(t).toMatch(/-\[ RECORD 1 \]-+/)
    expect(t).toMatch(/^peer\s+\| 12D3KooW/m)
    expect(t).toMatch(/^host\s+\| bulk-3$/m)
    expect(t).toMatch(/^meta\.bulk \| yes$/m)
    expect(t).toMatch(/^meta\.n\s+\| 3$/m)
    expect(t).not.toMatch(/PEER\s+SERVER/)
    m = p.mark
    await p.type('\\x', KEY.enter)
    await p.waitFor('expanded display is off', 'the toggle back', m)
    m = p.mark
    await p.type('ls WHERE host=bulk-3', KEY.enter)
    await p.waitFor(/\(1 record\)[\s\S]*ww>\s*$/, 'the result', m)
    expect(p.text(m)).toMatch(/PEER\s+SERVER\s+HOST/)
  }, 120_000)

  it('piped: stdout holds only results; meta-command answers, help and timing go to stderr', async () => {
    const script = join(home.dir, 'piped.ww')
    writeFileSync(script, ['-- a file run from the piped shell', 'ls WHERE', 'lookup WHERE host=bulk-5'].join('\n'))
    const g = spawnGroup(process.execPath, wwArgv(['shell', '--addr', node.addr!]), { cwd: ROOT, env: wwEnv(home.dir) })
    let out = ''
    let err = ''
    g.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    g.child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    g.child.stdin!.end(['\\format ndjson', '\\timing on', 'help', '\\x', 'ls WHERE host=bulk-1*', 'count ls', '\\format', `\\i ${script}`, 'lookup WHERE host=alpha'].join('\n') + '\n')
    const timer = setTimeout(() => void killGroup(g), 60_000)
    const code = await g.exited
    clearTimeout(timer)
    expect(code, err).toBe(1) // the file's line 2 is malformed
    const lines = out.split('\n').filter((l) => l !== '')
    // ls: bulk-1, bulk-10, bulk-11 as ndjson; count: the whole table; lookup: alpha.
    const records = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { host: string })
    expect(records.map((r) => r.host).sort()).toEqual(['alpha', 'bulk-1', 'bulk-10', 'bulk-11', 'bulk-5'])
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual(['13'])
    expect(err).toContain('format is ndjson')
    expect(err).toContain('timing is on')
    expect(err).toContain('Meta-commands')
    expect(err).toContain('expanded display is on')
    // help lists the new commands and keys
    for (const c of ['\\x [on|off]', '\\o [FILE]', '\\i FILE', 'Ctrl-R', 'Ctrl-L']) expect(err).toContain(c)
    expect(err).toContain(`${script}:2: `)
    expect(err).toMatch(/\(3 records, [0-9.]+ ms\)/)
    expect(err).toMatch(/\(1 record, [0-9.]+ ms\)/)
  }, 90_000)
})
