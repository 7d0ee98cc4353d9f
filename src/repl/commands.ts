/**
 * The shell's meta-commands: `help`, `\format NAME`, `\connect URL`, `\timing`, `\x`,
 * `\o FILE`, `\i FILE`, `\q`.
 * Parsing is separate from running so both shells (terminal and piped) share it.
 */

/** Meta-commands, for completion and help. */
export const META_COMMANDS = ['\\format', '\\connect', '\\timing', '\\x', '\\o', '\\i', '\\q', '\\help'] as const

/** A parsed meta-command, or a query. */
export type ShellInput =
  | { kind: 'empty' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'timing'; on?: boolean }
  | { kind: 'format'; name?: string }
  | { kind: 'connect'; url?: string }
  /** `\x [on|off]`: expanded display, one field per line (text format). */
  | { kind: 'expanded'; on?: boolean }
  /** `\o [FILE]`: results to FILE (created or truncated), or back to the screen. */
  | { kind: 'output'; file?: string }
  /** `\i FILE`: run the statements in FILE. */
  | { kind: 'include'; file: string }
  | { kind: 'unknown'; command: string }
  | { kind: 'query'; text: string }
  /** `watch [QUERY]`: the matches, then every change, until Ctrl-C. */
  | { kind: 'watch'; text: string }

/** Classifies one line of shell input. */
export function parseInput(line: string): ShellInput {
  const s = line.trim()
  if (s === '') return { kind: 'empty' }
  if (/^(help|\\h|\\help|\\\?|\?)$/i.test(s)) return { kind: 'help' }
  if (/^(\\q|\\quit|quit|exit)$/i.test(s)) return { kind: 'quit' }
  const watch = /^watch(?:\s+|$)/i.exec(s)
  if (watch !== null) return { kind: 'watch', text: s.slice(watch[0].length) }
  if (!s.startsWith('\\')) return { kind: 'query', text: s }
  const [cmd = '', ...rest] = s.split(/\s+/)
  const arg = rest.join(' ')
  // File names keep their blanks as typed.
  const rawArg = s.slice(cmd.length).trim()
  switch (cmd.toLowerCase()) {
    case '\\timing':
      if (arg === '') return { kind: 'timing' }
      if (/^(on|off)$/i.test(arg)) return { kind: 'timing', on: arg.toLowerCase() === 'on' }
      return { kind: 'unknown', command: s }
    case '\\x':
      if (arg === '') return { kind: 'expanded' }
      if (/^(on|off)$/i.test(arg)) return { kind: 'expanded', on: arg.toLowerCase() === 'on' }
      return { kind: 'unknown', command: s }
    case '\\o':
    case '\\out':
      return arg === '' ? { kind: 'output' } : { kind: 'output', file: unquote(rawArg) }
    case '\\i':
    case '\\include':
      return { kind: 'include', file: unquote(rawArg) }
    case '\\format':
      return arg === '' ? { kind: 'format' } : { kind: 'format', name: arg }
    case '\\connect':
    case '\\c':
      return arg === '' ? { kind: 'connect' } : { kind: 'connect', url: arg }
    default:
      return { kind: 'unknown', command: cmd }
  }
}

// A file name may be quoted ('my results.txt') to keep its blanks.
function unquote(s: string): string {
  const m = /^'(.*)'$|^"(.*)"$/.exec(s)
  return m === null ? s : (m[1] ?? m[2] ?? '')
}

/** The help text of the shell. */
export function helpText(formats: readonly string[]): string {
  return [
    'Queries (see docs/language.md):',
    '  ls WHERE region=us-east-1        every match      lookup WHERE host=web-1   the first match',
    '  ls WHERE host=web* LIMIT 10       prefix, limit    ls FROM host=a TO host=m* REVERSE',
    '  watch WHERE role=db               the matches, then every change until Ctrl-C',
    '  ls WHERE role=db AND region!=us-east-1 AND zone IN (a, b*)     several conditions',
    '  count QUERY                      how many match   explain QUERY             how the node runs it',
    'Meta-commands:',
    `  \\format NAME     output format (${formats.join(', ')})`,
    '  \\connect [URL]   (re)connect, to URL or to the current node',
    '  \\timing [on|off] show how long each query took',
    '  \\x [on|off]      expanded display: one field per line for each record (text format)',
    '  \\o [FILE]        send results to FILE (created or truncated); \\o alone: back to the screen',
    '  \\i FILE          run the statements in FILE, one a line (blank lines and -- comments skipped)',
    '  help, \\q         this help; quit',
    'Keys: Tab completes, ↑/↓ history, Ctrl-R searches history (again: older; Enter runs, Esc/Ctrl-G',
    '  cancels), Ctrl-L clears the screen, Ctrl-C cancels a query (twice at an empty prompt: quit),',
    '  Ctrl-D quits, Ctrl-A/E home/end, Ctrl-W/Alt-Backspace delete word, Ctrl-U/K kill to start/end,',
    '  Alt-B/F or Ctrl-←/→ move by word. A pasted block runs line by line.',
  ].join('\n')
}
