/**
 * The shell in a REAL terminal: `ww dev` and `ww shell` run under a pseudo-terminal made by
 * util-linux `script` (in Debian's essential bsdutils package, so present wherever the CI
 * image is Debian-based), driven by keystrokes: a query shows its rows, Tab completes a meta
 * key and a value, ↑ recalls history (also from the previous run), Ctrl-C cancels a long
 * query, Ctrl-D leaves. This is where raw mode, Ctrl-C and the real Ink renderer are covered.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type Node } from '../../src/node/node.js'
import { fillTable, ROOT, tempHome, wwArgv, wwEnv } from '../cli/helpers.js'
import { killGroup, spawnGroup, type GroupChild } from '../procs.js'

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[()][0-9A-B]|\u001b[=>78]|\r/g
const KEY = { enter: '\r', up: '\u001b[A', tab: '\t', ctrlC: '\u0003', ctrlD: '\u0004' }

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** A program running in a pseudo-terminal, with its screen output as plain text. */
class Pty {
  readonly group: GroupChild
  readonly child: ChildProcess
  raw = ''
  readonly exited: Promise<number | null>
  #closed = false

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    const cmd = `stty cols 160 rows 50; exec ${[process.execPath, ...args].map(quote).join(' ')}`
    // `script` runs the program in a session of its own (the pty's): killGroup finds it
    // through /proc and kills it too.
    this.group = spawnGroup('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, env })
    this.child = this.group.child
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.raw += d))
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.raw += d))
    this.exited = new Promise((r) =>
      this.child.on('close', (code) => {
        this.#closed = true
        r(code)
      }),
    )
  }

  /** The output so far, escape sequences removed. */
  text(from = 0): string {
    return this.raw.slice(from).replace(ANSI, '')
  }

  /**
   * Waits until the plain output after `from` matches: checked on each chunk of output the
   * program writes, failing at once if it exits first, or after `ms`.
   */
  waitFor(re: RegExp | string, what: string, from = 0, ms = 60_000): Promise<void> {
    const ok = (): boolean => (typeof re === 'string' ? this.text(from).includes(re) : re.test(this.text(from)))
    if (ok()) return Promise.resolve()
    if (this.#closed) return Promise.reject(new Error(`exited (${this.child.exitCode}) before ${what}:\n${this.text(from).slice(-3000)}`))
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        this.child.stdout!.off('data', check)
        this.child.stderr!.off('data', check)
        this.child.off('close', closed)
        if (err === undefined) resolve()
        else reject(err)
      }
      // Listeners added after the constructor's: `raw` already holds the chunk when they run.
      const check = (): void => {
        if (ok()) done()
      }
      const closed = (code: number | null): void => {
        if (ok()) done()
        else done(new Error(`exited (${code}) while waiting for ${what}:\n${this.text(from).slice(-3000)}`))
      }
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; screen so far:\n${this.text(from).slice(-3000)}`)), ms)
      this.child.stdout!.on('data', check)
      this.child.stderr!.on('data', check)
      this.child.on('close', closed)
    })
  }

  /** Types keys one write at a time, the way a person does. */
  async type(...keys: string[]): Promise<void> {
    for (const k of keys) {
      this.child.stdin!.write(k)
      await new Promise((r) => setTimeout(r, 40))
    }
  }

  /** The output position now (to look only at what comes next). */
  get mark(): number {
    return this.raw.length
  }

  /** Kills `script`, the program under it and whatever it started, and waits for them to go. */
  kill(): Promise<void> {
    return killGroup(this.group)
  }
}

function ptyEnv(home: string): NodeJS.ProcessEnv {
  const env = wwEnv(home, { TERM: 'xterm-256color' })
  // Ink draws no live area under CI=…: these tests are about the live area.
  for (const k of Object.keys(env)) if (k === 'CI' || k.startsWith('CI_') || k === 'CONTINUOUS_INTEGRATION') delete env[k]
  delete env.NO_COLOR
  return env
}

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
