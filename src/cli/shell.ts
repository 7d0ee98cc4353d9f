/**
 * `ww shell`: the interactive shell, or with stdin not a terminal, one query per line.
 * The shell's code (and Ink/React) is imported here, on demand.
 */
import type { CliContext } from '../client/context.js'

/** Options of `ww shell`. */
export interface ShellCommandOptions {
  /** Piped mode: stop at the first failing line. @default false */
  stopOnError?: boolean
}

/** The `shell` action; returns the exit code. */
export async function shellCommand(ctx: CliContext, opts: ShellCommandOptions = {}): Promise<number> {
  const { runShell } = await import('../repl/index.js')
  return runShell(ctx, { stopOnError: opts.stopOnError })
}
