/**
 * A program under a REAL pseudo-terminal, made by util-linux `script` (in Debian's essential
 * bsdutils package), driven by keystrokes and read back as plain text: the harness of the
 * shell's terminal tests.
 */
import type { ChildProcess } from 'node:child_process'
import { ROOT, wwEnv } from '../cli/helpers.js'
import { killGroup, spawnGroup, type GroupChild } from '../procs.js'

/** Escape sequences and carriage returns, removed from the screen output. */
export const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[()][0-9A-B]|\u001b[=>78]|\r/g
/** Keys as a terminal sends them. */
export const KEY = {
  enter: '\r',
  up: '\u001b[A',
  tab: '\t',
  esc: '\u001b',
  ctrlC: '\u0003',
  ctrlD: '\u0004',
  ctrlG: '\u0007',
  ctrlL: '\u000c',
  ctrlR: '\u0012',
  ctrlU: '\u0015',
  /** Bracketed paste (xterm's mode 2004): the terminal wraps pasted text in these. */
  pasteStart: '\u001b[200~',
  pasteEnd: '\u001b[201~',
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** A program running in a pseudo-terminal, with its screen output as plain text. */
export class Pty {
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
  waitFor(re: RegExp | string | (() => boolean), what: string, from = 0, ms = 60_000): Promise<void> {
    const ok = (): boolean => (typeof re === 'function' ? re() : typeof re === 'string' ? this.text(from).includes(re) : re.test(this.text(from)))
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

/** Environment of a `ww` under the pty: private config, a colour terminal, not CI. */
export function ptyEnv(home: string): NodeJS.ProcessEnv {
  const env = wwEnv(home, { TERM: 'xterm-256color' })
  // Ink draws no live area under CI=…: these tests are about the live area.
  for (const k of Object.keys(env)) if (k === 'CI' || k.startsWith('CI_') || k === 'CONTINUOUS_INTEGRATION') delete env[k]
  delete env.NO_COLOR
  return env
}

