/**
 * The shell without its screen: the connection (and reconnecting), the current format, the
 * timing switch, and running one line of input. The terminal shell (app.tsx) and the piped
 * shell (piped.ts) both drive it; it reports through return values and a change listener,
 * never by printing itself.
 */
import type { Session } from '../api.js'
import { CliError, cannotConnect, EXIT, notAuthorizedText, streamFailed } from '../client/errors.js'
import { connectOrExit, formatPlan, splitVerb, streamQuery, closeQuietly, type QuerySink } from '../client/query.js'
import type { FormatRegistry } from '../format/index.js'
import type { FormatInit } from '../format/types.js'
import { renderCaret, tryParseQuery } from '../lang/index.js'
import type { TransportRegistry } from '../transport/registry.js'
import { helpText, parseInput } from './commands.js'
import { runWatch, watchPrinter } from '../client/watch.js'
import { expanded } from './expanded.js'
import { openOutput, outputFailed, readScript, type FileSink, type ScriptLine } from './script.js'

/** How the shell connects; the same fields as the command line's common flags. */
export interface ShellCoreInit {
  addr: string
  token?: string
  format: string
  formats: FormatRegistry
  transports: TransportRegistry
  /** Already open session to use first (ww dev); reconnects dial `addr`. */
  session?: Session
  /** Options for the formatters (terminal width, colour). @default {} */
  formatInit?: FormatInit
}

/** What running one line did. */
export interface LineResult {
  /** 0 for success; else the command line's exit code for this kind of failure. */
  exitCode: number
  /** Text for the user (help, a meta-command's answer). */
  info?: string
  /** Text describing a failure (caret and hint for a query error). */
  error?: string
  /** For a query: records printed and time taken. */
  count?: number
  elapsedMs?: number
  /** The line asked to leave the shell. */
  quit?: boolean
  /** `\i FILE`: the statements to run next, in order (the shell runs and reports each). */
  script?: { file: string; lines: ScriptLine[] }
}

/** Options of `ShellCore.run`. */
export interface RunOptions {
  /** The line comes from a `\i` file: another `\i` is refused (no nesting, no loops). @default false */
  fromScript?: boolean
}

/** The shell's state and actions. */
export class ShellCore {
  addr: string
  format: string
  timing = false
  /** Expanded display (`\x`): one field per line, for the text format. */
  expanded = false
  readonly formats: FormatRegistry
  #token: string | undefined
  #transports: TransportRegistry
  #session: Session | undefined
  #lost: Error | undefined
  #running: AbortController | undefined
  #count = 0
  #started = 0
  #connecting: string | undefined
  #listeners = new Set<() => void>()
  #formatInit: FormatInit
  #file: FileSink | undefined

  constructor(init: ShellCoreInit) {
    this.addr = init.addr
    this.format = init.format
    this.formats = init.formats
    this.#token = init.token
    this.#transports = init.transports
    this.#formatInit = init.formatInit ?? {}
    if (init.session !== undefined) this.#adopt(init.session)
  }

  /** The open session, if any. */
  get session(): Session | undefined {
    return this.#session
  }

  /** A one-line warning when the node handed this client the null View (it requires a token). */
  get authWarning(): string | undefined {
    return this.#session?.view.isNull === true ? notAuthorizedText(this.addr) : undefined
  }

  /** Why the connection was lost, until the next successful connect. */
  get lost(): Error | undefined {
    return this.#lost
  }

  /**
   * What is running: records printed so far by the running query and when it started
   * (performance.now()); `connecting` is the URL while a dial is under way (no count yet).
   */
  get progress(): { running: boolean; count: number; startedAt: number; connecting?: string } {
    const p = { running: this.#running !== undefined, count: this.#count, startedAt: this.#started }
    return this.#connecting === undefined ? p : { ...p, connecting: this.#connecting }
  }

  /** Calls `f` whenever the connection state changes; returns the unsubscribe. */
  onChange(f: () => void): () => void {
    this.#listeners.add(f)
    return () => this.#listeners.delete(f)
  }

  #emit(): void {
    for (const f of this.#listeners) f()
  }

  #adopt(session: Session): void {
    this.#session = session
    this.#lost = undefined
    session.closed.then(
      (err) => this.#onClosed(session, err),
      (err: unknown) => this.#onClosed(session, err instanceof Error ? err : new Error(String(err))),
    )
    this.#emit()
  }

  #onClosed(session: Session, err: Error | undefined): void {
    if (this.#session !== session) return
    this.#session = undefined
    if (err !== undefined) this.#lost = err
    this.#emit()
  }

  /** Connects to `url` (default: the current address), closing the previous session. */
  async connect(url: string = this.addr, signal?: AbortSignal): Promise<void> {
    const previous = this.#session
    const session = await connectOrExit(url, { token: this.#token, transports: this.#transports, signal })
    this.addr = url
    this.#session = undefined
    if (previous !== undefined) await closeQuietly(previous)
    this.#adopt(session)
  }

  /** Cancels the running query, if any (Ctrl-C): its cursor is cancelled and the node stops. */
  cancel(): boolean {
    if (this.#running === undefined) return false
    this.#running.abort()
    return true
  }

  // A file is no terminal: no colours, no terminal width.
  get #outputInit(): FormatInit {
    if (this.#file === undefined) return this.#formatInit
    const { color: _color, columns: _columns, ...rest } = this.#formatInit
    return rest
  }

  /** The file results go to (`\o FILE`), if any. */
  get outputFile(): string | undefined {
    return this.#file?.path
  }

  // Ends the `\o` file, if any: everything written reaches the OS before it closes.
  async #closeFile(): Promise<void> {
    const f = this.#file
    this.#file = undefined
    if (f === undefined) return
    f.onError = undefined
    await f.close()
  }

  /** Closes the session (and the `\o` file). */
  async close(): Promise<void> {
    this.cancel()
    await this.#closeFile().catch(() => {})
    const s = this.#session
    this.#session = undefined
    if (s !== undefined) await closeQuietly(s)
  }

  /**
   * Runs one line: a meta-command or a query whose output goes to `sink` (or to the `\o`
   * file). A `\i FILE` line returns the file's statements in `script` for the caller to run
   * one by one with `{ fromScript: true }`, reporting each as it reports a typed line.
   */
  async run(line: string, sink: QuerySink, opts: RunOptions = {}): Promise<LineResult> {
    const file = this.#file
    const r = await this.#run(line, file ?? sink, opts)
    if (file !== undefined && file === this.#file) {
      // Results in a file reach it before the shell says the query is done.
      await file.flushed()
      if (file.error !== undefined) {
        const msg = outputFailed(file.path, file.error)
        await this.#closeFile().catch(() => {})
        return { ...r, exitCode: r.exitCode === EXIT.ok ? EXIT.usage : r.exitCode, error: r.error === undefined ? msg : `${r.error}\n${msg}` }
      }
    }
    return r
  }

  async #run(line: string, sink: QuerySink, opts: RunOptions): Promise<LineResult> {
    const input = parseInput(line)
    switch (input.kind) {
      case 'empty':
        if (this.#session === undefined && this.#lost !== undefined) return this.#reconnect(this.addr)
        return { exitCode: EXIT.ok }
      case 'help':
        return { exitCode: EXIT.ok, info: helpText(this.formats.names()) }
      case 'quit':
        return { exitCode: EXIT.ok, quit: true }
      case 'timing':
        this.timing = input.on ?? !this.timing
        return { exitCode: EXIT.ok, info: `timing is ${this.timing ? 'on' : 'off'}` }
      case 'format':
        if (input.name === undefined) return { exitCode: EXIT.ok, info: `format is ${this.format} (available: ${this.formats.names().join(', ')})` }
        if (!this.formats.has(input.name)) {
          return { exitCode: EXIT.usage, error: `unknown format "${input.name}" (available: ${this.formats.names().join(', ')})` }
        }
        this.format = input.name
        return { exitCode: EXIT.ok, info: `format is ${this.format}` }
      case 'connect':
        return this.#reconnect(input.url ?? this.addr)
      case 'expanded':
        this.expanded = input.on ?? !this.expanded
        return { exitCode: EXIT.ok, info: `expanded display is ${this.expanded ? 'on' : 'off'}${this.expanded && this.format !== 'text' ? ` (it applies to the text format; format is ${this.format})` : ''}` }
      case 'output':
        return this.#output(input.file)
      case 'include': {
        if (opts.fromScript === true) return { exitCode: EXIT.usage, error: '\\i inside a file is not run: files do not include files (ERR_INCLUDE_NESTED)' }
        try {
          return { exitCode: EXIT.ok, script: { file: input.file, lines: await readScript(input.file) } }
        } catch (err) {
          const e = err instanceof CliError ? err : new CliError('ERR_INPUT_FILE', String(err))
          return { exitCode: e.exitCode, error: e.message }
        }
      }
      case 'unknown':
        return { exitCode: EXIT.usage, error: `unknown command ${input.command} (type help)` }
      case 'query':
        return this.#query(input.text, sink)
      case 'watch':
        return this.#watch(input.text, sink)
    }
  }

  // `\o FILE`: the new file is opened before the old one is closed, so a mistake keeps the old.
  async #output(path: string | undefined): Promise<LineResult> {
    if (path === undefined) {
      const was = this.#file?.path
      try {
        await this.#closeFile()
      } catch (err) {
        return { exitCode: EXIT.usage, error: outputFailed(was ?? '?', err) }
      }
      return { exitCode: EXIT.ok, info: was === undefined ? 'results go to the screen' : `results go to the screen again (${was} closed)` }
    }
    let file
    try {
      file = await openOutput(path)
    } catch (err) {
      return { exitCode: (err as CliError).exitCode ?? EXIT.usage, error: (err as Error).message }
    }
    await this.#closeFile().catch(() => {})
    // Nowhere to put the results: the running query stops (the error is reported after it).
    file.onError = () => this.cancel()
    this.#file = file
    return { exitCode: EXIT.ok, info: `results go to ${path}` }
  }

  async #reconnect(url: string): Promise<LineResult> {
    // Dialing can take until the connect timeout: Ctrl-C (cancel()) stops it like a query.
    const ac = new AbortController()
    const outer = this.#running
    if (outer === undefined) {
      this.#running = ac
      this.#count = 0
      this.#started = performance.now()
    }
    this.#connecting = url
    try {
      await this.connect(url, (outer ?? ac).signal)
      const warning = this.authWarning
      return { exitCode: EXIT.ok, info: `connected to ${url} (node ${this.#session?.peer ?? '?'})${warning !== undefined ? `\nwarning: ${warning}` : ''}` }
    } catch (err) {
      const e = err instanceof CliError ? err : cannotConnect(url, err)
      return { exitCode: e.exitCode, error: e.message }
    } finally {
      this.#connecting = undefined
      if (outer === undefined) this.#running = undefined
    }
  }

  // `watch QUERY`: runs until cancel() (Ctrl-C) or the connection is lost.
  async #watch(text: string, sink: QuerySink): Promise<LineResult> {
    const parsed = tryParseQuery(text)
    if (!parsed.ok) return { exitCode: EXIT.usage, error: renderCaret(text, parsed.error) }
    if (parsed.statement.op !== 'ls' || parsed.statement.constraints.some((c) => c.kind === 'limit')) {
      return { exitCode: EXIT.usage, error: 'watch takes an ls query without LIMIT: a live match set has no first n (ERR_WATCH_LIMIT)' }
    }
    const inner = watchPrinter(this.format, sink, this.#outputInit)
    if (inner === undefined) return { exitCode: EXIT.usage, error: `watch prints text, json or ndjson, not "${this.format}" (\\format text)` }
    if (this.#session === undefined) {
      const r = await this.#reconnect(this.addr)
      if (r.exitCode !== EXIT.ok) return r
    }
    const session = this.#session!
    const ac = new AbortController()
    this.#running = ac
    this.#count = 0
    this.#started = performance.now()
    const printer = {
      event: (e: Parameters<typeof inner.event>[0]) => {
        if (e.kind !== 'synced') this.#count++
        inner.event(e)
      },
    }
    try {
      const run = await runWatch(session.view, parsed.statement, printer, sink, ac.signal)
      const elapsedMs = performance.now() - this.#started
      if (run.error !== undefined) return { exitCode: EXIT.stream, error: streamFailed(this.#count, run.error).message, count: this.#count, elapsedMs }
      return { exitCode: EXIT.ok, count: this.#count, elapsedMs, ...(ac.signal.aborted ? { info: 'watch stopped' } : {}) }
    } finally {
      this.#running = undefined
    }
  }

  async #query(line: string, sink: QuerySink): Promise<LineResult> {
    // `count QUERY` / `explain QUERY`: the same query, answered by the node with a number or a plan.
    const { verb, query: text } = splitVerb(line)
    const parsed = tryParseQuery(text)
    if (!parsed.ok) return { exitCode: EXIT.usage, error: renderCaret(text, parsed.error) }
    if (this.#session === undefined) {
      // Never connected, or the connection was lost: dial again before running the query.
      const r = await this.#reconnect(this.addr)
      if (r.exitCode !== EXIT.ok) return r
    }
    const session = this.#session!
    const factory = this.expanded && this.format === 'text' ? expanded : this.formats.get(this.format)
    const ac = new AbortController()
    this.#running = ac
    this.#count = 0
    this.#started = performance.now()
    try {
      if (verb !== undefined) {
        try {
          if (verb === 'count') sink.write(`${await session.view.count(parsed.statement, { signal: ac.signal })}\n`)
          else sink.write(formatPlan(await session.view.explain(parsed.statement, { signal: ac.signal })))
          return { exitCode: EXIT.ok, elapsedMs: performance.now() - this.#started }
        } catch (err) {
          if (ac.signal.aborted) return { exitCode: EXIT.ok, info: 'cancelled' }
          return { exitCode: EXIT.stream, error: `${verb} failed: ${(err as Error).message}` }
        }
      }
      const result = await streamQuery(session.view, parsed.statement, factory(sink, this.#outputInit), sink, ac.signal, (n) => {
        this.#count = n
      })
      if (result.error !== undefined) {
        return { exitCode: EXIT.stream, error: streamFailed(result.count, result.error).message, count: result.count, elapsedMs: result.elapsedMs }
      }
      return { exitCode: EXIT.ok, count: result.count, elapsedMs: result.elapsedMs, ...(result.cancelled ? { info: 'cancelled' } : {}) }
    } finally {
      this.#running = undefined
    }
  }
}
