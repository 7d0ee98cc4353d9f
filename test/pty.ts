/**
 * A program in a REAL pseudo-terminal, made by util-linux `script` (Debian's essential
 * bsdutils package): keystrokes in, the screen's output as plain text out, waits on what the
 * program draws (bounded), and a kill of its whole process group. The harness of every
 * terminal test (the shell's, `ww top`'s).
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { killGroup, spawnGroup, type GroupChild } from './procs.js'
import { ROOT, wwEnv } from './cli/helpers.js'

/** Escape sequences and carriage returns, removed from the screen's text. */
export const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b[()][0-9A-B]|\u001b[=>78]|\r/g

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

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
} as const

/** Throws unless `script` is there to make a pseudo-terminal. */
export function requireScript(): void {
  const r = spawnSync('script', ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error('these tests need util-linux `script` (Debian: bsdutils) to make a pseudo-terminal')
}

/** The environment of a ww under a pty: a terminal type, no CI (Ink draws no live area under CI), colours on. */
export function ptyEnv(home: string): NodeJS.ProcessEnv {
  const env = wwEnv(home, { TERM: 'xterm-256color' })
  for (const k of Object.keys(env)) if (k === 'CI' || k.startsWith('CI_') || k === 'CONTINUOUS_INTEGRATION') delete env[k]
  delete env.NO_COLOR
  return env
}

/** A program running in a pseudo-terminal of `cols`×`rows`, with its output kept as it comes. */
export class Pty {
  readonly group: GroupChild
  readonly child: ChildProcess
  /** Everything written to the terminal, escape sequences included. */
  raw = ''
  /** The exit code of the program (script -e passes it on). */
  readonly exited: Promise<number | null>
  #closed = false

  constructor(args: string[], env: NodeJS.ProcessEnv, size: { cols: number; rows: number } = { cols: 160, rows: 50 }) {
    const cmd = `stty cols ${size.cols} rows ${size.rows}; exec ${[process.execPath, ...args].map(quote).join(' ')}`
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

  /** The output after `from`, escape sequences removed. */
  text(from = 0): string {
    return this.raw.slice(from).replace(ANSI, '')
  }

  /**
   * Waits until `ok(text after from)` holds: checked on each chunk of output, failing at
   * once if the program exits first, or after `ms`.
   */
  waitUntil(ok: (text: string) => boolean, what: string, from = 0, ms = 60_000): Promise<void> {
    const check0 = (): boolean => ok(this.text(from))
    if (check0()) return Promise.resolve()
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
        if (check0()) done()
      }
      const closed = (code: number | null): void => {
        if (check0()) done()
        else done(new Error(`exited (${code}) while waiting for ${what}:\n${this.text(from).slice(-3000)}`))
      }
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; screen so far:\n${this.text(from).slice(-3000)}`)), ms)
      this.child.stdout!.on('data', check)
      this.child.stderr!.on('data', check)
      this.child.on('close', closed)
    })
  }

  /**
   * Waits until the plain output after `from` contains `re` (a string or a pattern), or until
   * `re()` holds when it is a function.
   */
  waitFor(re: RegExp | string | (() => boolean), what: string, from = 0, ms = 60_000): Promise<void> {
    return this.waitUntil((t) => (typeof re === 'function' ? re() : typeof re === 'string' ? t.includes(re) : re.test(t)), what, from, ms)
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
