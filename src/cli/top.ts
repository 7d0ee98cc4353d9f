/**
 * `ww top [QUERY]`: a full-screen view of the peers matching QUERY, updated in place as they
 * change (the screen is src/repl/top.tsx). It runs one watch with `heartbeats` and `times`
 * (docs/protocol.md#watch): every heartbeat refreshes a peer's SEEN, and the node merges what
 * this screen doesn't read in time, so a slow terminal costs the node no memory beyond the
 * matching peers.
 *
 * The screen is drawn in the terminal's alternate buffer, which is left on every way out, so
 * the shell's screen comes back as it was. `q` exits 0, Ctrl-C (or SIGINT) 130, SIGTERM 143.
 * A node that hands out the null View exits 4 before the screen is taken (as `ww ls` does).
 * A lost connection leaves the screen, says so and exits 3; with `--reconnect` the screen
 * stays, says "reconnecting", dials again (backing off, at most 5 s apart) and resyncs.
 */
import type { Session } from '../api.js'
import type { Statement } from '../lang/index.js'
import type { CliContext } from '../client/context.js'
import { CliError, EXIT, ERR_USAGE, notAuthorized, streamFailed } from '../client/errors.js'
import { closeQuietly, connectOrExit } from '../client/query.js'
import { BACKOFF_MAX, BACKOFF_MIN, EXIT_INTERRUPTED, liveStatement, sleep } from './watch.js'

/** Options of `ww top`. */
export interface TopCommandOptions {
  /** Dial again after a lost connection and resync instead of exiting 3. @default false */
  reconnect?: boolean
}

/** Exit code after SIGTERM (128 + 15). */
const EXIT_TERMINATED = 143
const ALT_SCREEN_ON = '\u001b[?1049h'
const ALT_SCREEN_OFF = '\u001b[?1049l'
const SHOW_CURSOR = '\u001b[?25h'

/** The `top` action; returns the exit code. */
export async function topCommand(words: readonly string[], ctx: CliContext, options: TopCommandOptions = {}): Promise<number> {
  const live = liveStatement(words, { notLs: 'ww top shows an ls query, not lookup', limit: 'ww top takes no LIMIT', limitHint: 'drop LIMIT; the screen shows as many rows as fit' })
  if (typeof live === 'number') return live
  const { text, statement } = live
  if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) {
    throw new CliError(ERR_USAGE, 'ww top draws a full screen and needs a terminal', { hint: 'to follow changes in a pipe: ww ls QUERY --watch --format ndjson' })
  }
  const exit = new Exit()
  const onSigint = (): void => exit.quit(EXIT_INTERRUPTED)
  const onSigterm = (): void => exit.quit(EXIT_TERMINATED)
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)
  // The handlers go on every way out: a failed first dial, a null View, the screen's end.
  try {
    return await screen({ text, statement, ctx, reconnect: options.reconnect === true, exit })
  } finally {
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigterm)
  }
}

// How the screen ends: the first quit (q, Ctrl-C, a signal) sets the exit code and aborts.
class Exit {
  readonly #stop = new AbortController()
  #code: number = EXIT.ok

  /** Aborted by the first `quit`. */
  get signal(): AbortSignal {
    return this.#stop.signal
  }

  /** The code of the first `quit`; 0 before any. */
  get code(): number {
    return this.#code
  }

  /** Ends the screen with `code`; later calls change nothing. */
  quit(code: number): void {
    if (this.#stop.signal.aborted) return
    this.#code = code
    this.#stop.abort()
  }
}

// What `screen` runs.
interface ScreenInit {
  /** The query as typed, for the title. */
  text: string
  /** The parsed query the watch runs. */
  statement: Statement
  ctx: CliContext
  /** Dial again after a lost connection instead of exiting 3. */
  reconnect: boolean
  exit: Exit
}

// The connection and the screen, once the signal handlers are in; returns the exit code.
async function screen({ text, statement, ctx, reconnect, exit }: ScreenInit): Promise<number> {
  const stop = exit.signal
  // Connect before taking the screen: a node that can't be reached is an ordinary error (exit 2).
  let session: Session | undefined = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: stop })
  if (session.view.isNull) {
    await closeQuietly(session)
    throw notAuthorized(ctx.options.addr)
  }
  const [{ render }, React, { TopApp, TopModel }] = await Promise.all([import('ink'), import('react'), import('../repl/top.js')])
  const model = new TopModel()
  let status: string | undefined
  const title = `ww top ${text === '' ? '(all peers)' : text} @ ${ctx.options.addr}`
  process.stdout.write(ALT_SCREEN_ON)
  const app = render(React.createElement(TopApp, { model, title, status: () => status, onQuit: (c: number) => exit.quit(c) }), { exitOnCtrlC: false, patchConsole: false })
  let failure: Error | undefined
  try {
    let backoff = BACKOFF_MIN
    for (;;) {
      if (session === undefined) {
        try {
          session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: stop })
          status = undefined
          model.touch()
        } catch (err) {
          if (stop.aborted) break
          status = `cannot connect (${(err as Error).message.slice(0, 80)}); retrying`
          model.touch()
          await sleep(backoff, stop)
          backoff = Math.min(BACKOFF_MAX, backoff * 2)
          continue
        }
      }
      const cursor = session.view.watch(statement, { heartbeats: true, times: true, signal: stop })
      for (;;) {
        const e = await cursor.next()
        if (e === undefined) break
        if (e.kind === 'synced') backoff = BACKOFF_MIN
        model.apply(e, Date.now())
      }
      const err = stop.aborted ? undefined : cursor.err()
      await closeQuietly(session)
      session = undefined
      if (stop.aborted) break
      if (err === undefined) {
        // Only a null View ends by itself (synced, then end): a node reached again after a
        // reconnect that now wants a token. Nothing more will come; say so and wait for q.
        status = 'not authorized: the node now requires a token (WW_TOKEN or --token)'
        model.touch()
        await new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }))
        break
      }
      if (!reconnect) {
        failure = streamFailed(model.peers.size, err)
        break
      }
      status = `connection lost (${(err as { code?: string }).code ?? err.message}); reconnecting`
      model.restart()
      model.touch()
      await sleep(backoff, stop)
      backoff = Math.min(BACKOFF_MAX, backoff * 2)
    }
  } finally {
    app.unmount()
    await app.waitUntilExit().catch(() => {})
    process.stdout.write(ALT_SCREEN_OFF + SHOW_CURSOR)
    if (session !== undefined) await closeQuietly(session)
  }
  // Thrown after the screen is back, so the message stays visible (exit 3).
  if (failure !== undefined) throw failure
  return exit.code
}
