/**
 * Exit codes (docs/cli.md) and the one top-level error handler of the command line.
 *
 * User mistakes and environment failures (a WwError: bad query, unknown format, node not
 * reachable, broken plugin) print one clear line, a hint when there is one, and no stack.
 * Anything else is a bug in ww: it prints the stack and asks for a report.
 */
import { WwError } from '../errors.js'

/** Process exit codes of the command line. */
export const EXIT = {
  /** Success; an empty result is a success. */
  ok: 0,
  /** Usage error, query error, broken plugin or config (and bugs). */
  usage: 1,
  /** The node could not be reached (connect or handshake failed). */
  connect: 2,
  /** The stream failed after it began (connection lost, node error mid-stream). */
  stream: 3,
  /** Not authorized: the node requires a token this client lacks (it handed out the null View or PubSub). */
  unauthorized: 4,
} as const

/** The node requires a token this client did not present (or presented wrong): exit code 4. */
export const ERR_NOT_AUTHORIZED = 'ERR_NOT_AUTHORIZED'

/** The one-line warning shown when a node hands this client the null View. */
export function notAuthorizedText(addr: string): string {
  return `the node at ${addr} requires a token: set WW_TOKEN (or --token) to the node's token`
}

/** The error (exit code 4) of a command that got the null View or PubSub. */
export function notAuthorized(addr: string, what = notAuthorizedText(addr)): CliError {
  return new CliError(ERR_NOT_AUTHORIZED, what, { exitCode: EXIT.unauthorized })
}

/** A bad command line (unknown flag value, missing argument). */
export const ERR_USAGE = 'ERR_USAGE'
/** The node at --addr could not be reached; the cause carries the transport's error. */
export const ERR_CANNOT_CONNECT = 'ERR_CANNOT_CONNECT'
/** A query stream failed after it began; the cause carries the stream's error. */
export const ERR_STREAM_FAILED = 'ERR_STREAM_FAILED'

/** An error meant for the user, with the exit code it maps to and an optional hint. */
export class CliError extends WwError {
  /** Process exit code for this failure. */
  readonly exitCode: number
  /** One line suggesting what to try. */
  readonly hint: string | undefined

  constructor(code: string, message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause })
    this.name = 'CliError'
    this.exitCode = options.exitCode ?? EXIT.usage
    this.hint = options.hint
  }
}

/** The code of the innermost WwError in `err`'s cause chain, for messages. */
export function rootCode(err: unknown): string | undefined {
  let code: string | undefined
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const c = (e as { code?: unknown }).code
    if (typeof c === 'string' && c.startsWith('ERR_')) code = c
    e = (e as { cause?: unknown }).cause
  }
  return code
}

/** The message of the innermost cause of `err` (at most 8 deep). */
export function rootMessage(err: unknown): string {
  const chain: string[] = [err instanceof Error ? err.message : String(err)]
  for (let e: unknown = (err as { cause?: unknown })?.cause, depth = 0; e instanceof Error && depth < 8; depth++) {
    chain.push(e.message)
    e = e.cause
  }
  // the deepest cause that says something
  return chain.filter((m) => m.length > 0).at(-1) ?? chain[0]!
}

/** Wraps a failure to connect to `addr` (exit 2), keeping its cause and code. */
export function cannotConnect(addr: string, err: unknown): CliError {
  // One line: the innermost cause says what happened (`connect ECONNREFUSED …`); the layers
  // above it only repeat it with their own prefix. The code is the outermost one (the
  // transport's ERR_CONNECT_FAILED), the one docs/errors.md tells the user about.
  const msg = rootMessage(err)
  const own = (err as { code?: unknown })?.code
  const code = typeof own === 'string' && own.startsWith('ERR_') ? own : rootCode(err)
  return new CliError(ERR_CANNOT_CONNECT, `cannot connect to ${addr}: ${msg}${code !== undefined ? ` (${code})` : ''}`, {
    exitCode: EXIT.connect,
    hint: 'is a node running there? start one with `ww start` or `ww dev`, or pass --addr / WW_ADDR',
    cause: err,
  })
}

/**
 * The failure to reach any of several nodes (exit 2), in one line naming each URL and why:
 * `cannot connect to any of 2 nodes: ws://a: connect ECONNREFUSED … (ERR_CONNECT_FAILED); ws://b: …`.
 * With one URL it is `cannotConnect`'s message.
 */
export function cannotConnectAny(failures: ReadonlyArray<{ addr: string; err: unknown }>): CliError {
  if (failures.length === 1) return cannotConnect(failures[0]!.addr, failures[0]!.err)
  const parts = failures.map(({ addr, err }) => {
    const own = (err as { code?: unknown })?.code
    const code = typeof own === 'string' && own.startsWith('ERR_') ? own : rootCode(err)
    return `${addr}: ${rootMessage(err)}${code !== undefined ? ` (${code})` : ''}`
  })
  return new CliError(ERR_CANNOT_CONNECT, `cannot connect to any of ${failures.length} nodes: ${parts.join('; ')}`, {
    exitCode: EXIT.connect,
    hint: 'are the nodes running? check --addr / WW_ADDR or the context\'s addr',
    cause: failures.at(-1)!.err,
  })
}

/** Wraps a stream failure after `count` records (exit 3). */
export function streamFailed(count: number, err: unknown): CliError {
  const msg = (err as Error)?.message ?? String(err)
  const code = rootCode(err)
  return new CliError(ERR_STREAM_FAILED, `the stream failed after ${count} record${count === 1 ? '' : 's'}: ${msg}${code !== undefined ? ` (${code})` : ''}`, {
    exitCode: EXIT.stream,
    cause: err,
  })
}

/** Something that looks like the language's QueryError (src/lang): a column to point at. */
export function isQueryError(err: unknown): err is WwError & { column: number; expected?: string[]; hint?: string } {
  return err instanceof Error && codeOf(err)?.startsWith('ERR_QUERY_') === true && typeof (err as { column?: unknown }).column === 'number'
}

/** The `code` of an error object, when it is a string. */
export function codeOf(err: unknown): string | undefined {
  const c = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof c === 'string' ? c : undefined
}

/**
 * Turns any error into the text for stderr and the exit code. `render` draws a query
 * error's caret (the language's renderCaret) when the failing query text is known.
 */
export function describeError(err: unknown, render?: (err: WwError & { column: number }) => string): { text: string; exitCode: number } {
  if (isQueryError(err)) {
    const body = render !== undefined ? render(err) : `${err.message}${err.hint !== undefined ? `\nhint: ${err.hint}` : ''}`
    return { text: `${body}\n`, exitCode: EXIT.usage }
  }
  if (err instanceof CliError) {
    // Every error shows a stable code. A CliError wrapping a coded cause (cannot connect,
    // stream failed, a transport's URL error) already names the cause's code in its message.
    const tagged = rootCode(err.cause) !== undefined ? err.message : `${err.message} (${err.code})`
    return { text: `ww: ${tagged}\n${err.hint !== undefined ? `hint: ${err.hint}\n` : ''}`, exitCode: err.exitCode }
  }
  if (err instanceof WwError || (err instanceof Error && codeOf(err)?.startsWith('ERR_') === true)) {
    const e = err as WwError & { hint?: unknown }
    const hint = typeof e.hint === 'string' ? `hint: ${e.hint}\n` : ''
    return { text: `ww: ${e.message} (${e.code})\n${hint}`, exitCode: EXIT.usage }
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err)
  return {
    text: `ww: unexpected error — this is a bug in ww, please report it with the output below\n${stack}\n`,
    exitCode: EXIT.usage,
  }
}
