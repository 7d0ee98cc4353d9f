/**
 * The shell's front door: with stdin a terminal, the Ink shell (app.tsx); otherwise the piped
 * shell (piped.ts), which needs no TTY. Ink and React are imported only here, and this module
 * is imported only by `ww shell` and `ww dev`.
 */
import { join } from 'node:path'
import type { Session } from '../api.js'
import { configDir } from '../client/config.js'
import type { CliContext } from '../client/context.js'
import { formatInit } from '../client/query.js'
import { ShellCore } from './core.js'
import { runPiped } from './piped.js'

/** Options of `runShell`. */
export interface RunShellInit {
  /** A session to start with (ww dev); otherwise the shell dials `--addr`. */
  session?: Session
  /** Piped mode: stop at the first failing line. @default false */
  stopOnError?: boolean
  /** Lines of history kept. @default 1000 */
  historySize?: number
  /** Shown before the first prompt (ww dev's cluster summary). */
  banner?: string
}

/** The interactive shell's first line: where it is connected, or that it is not. */
export function bannerText(addr: string, peer: string | undefined): string {
  return peer !== undefined
    ? `connected to ${addr} (node ${peer}). Type help for help.\n`
    : `not connected to ${addr}; the next query dials it again, or \\connect URL to go elsewhere. Type help for help.\n`
}

/** Runs the shell until the user leaves; returns the exit code. */
export async function runShell(ctx: CliContext, init: RunShellInit = {}): Promise<number> {
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true
  const core = new ShellCore({
    addr: ctx.options.addr,
    token: ctx.options.token,
    format: ctx.options.format,
    formats: ctx.formats,
    transports: ctx.transports,
    session: init.session,
    formatInit: formatInit(process.stdout),
  })
  if (!interactive) {
    if (init.banner !== undefined) process.stderr.write(init.banner + '\n')
    return runPiped(core, { stopOnError: init.stopOnError })
  }

  const [{ render }, React, { ShellApp }, { History }, { Completer }] = await Promise.all([
    import('ink'),
    import('react'),
    import('./app.js'),
    import('./history.js'),
    import('./complete.js'),
  ])
  const history = new History({ file: join(configDir(), 'history'), max: init.historySize ?? 1000 })
  await history.load()
  if (core.session === undefined) {
    try {
      await core.connect()
    } catch (err) {
      // The shell still opens: the user can fix the address with \connect.
      process.stderr.write(`${(err as Error).message}\n`)
    }
  }
  if (init.banner !== undefined) process.stdout.write(init.banner + '\n')
  process.stdout.write(bannerText(core.addr, core.session?.peer))
  if (core.authWarning !== undefined) process.stderr.write(`ww: warning: ${core.authWarning}\n`)
  const completer = new Completer(core.session?.view)
  // Bracketed paste: the terminal marks pasted text, so a pasted block runs line by line
  // even where its lines arrive in separate reads. Turned off again however the shell ends.
  const pasteOff = (): void => {
    process.stdout.write('\u001b[?2004l')
  }
  process.stdout.write('\u001b[?2004h')
  process.once('exit', pasteOff)
  const app = render(
    React.createElement(ShellApp, { core, history, completer }),
    { exitOnCtrlC: false, patchConsole: false },
  )
  try {
    await app.waitUntilExit()
  } finally {
    pasteOff()
    process.off('exit', pasteOff)
  }
  await core.close()
  // An interactive session's mistakes were shown on screen and fixed there: leaving is a success.
  return 0
}
