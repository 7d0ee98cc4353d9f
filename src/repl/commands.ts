/**
 * The shell's meta-commands: `help`, `\format NAME`, `\connect URL`, `\timing`, `\q`.
 * Parsing is separate from running so both shells (terminal and piped) share it.
 */

/** Meta-commands, for completion and help. */
export const META_COMMANDS = ['\\format', '\\connect', '\\timing', '\\q', '\\help'] as const

/** A parsed meta-command, or a query. */
export type ShellInput =
  | { kind: 'empty' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'timing'; on?: boolean }
  | { kind: 'format'; name?: string }
  | { kind: 'connect'; url?: string }
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
  switch (cmd.toLowerCase()) {
    case '\\timing':
      if (arg === '') return { kind: 'timing' }
      if (/^(on|off)$/i.test(arg)) return { kind: 'timing', on: arg.toLowerCase() === 'on' }
      return { kind: 'unknown', command: s }
    case '\\format':
      return arg === '' ? { kind: 'format' } : { kind: 'format', name: arg }
    case '\\connect':
    case '\\c':
      return arg === '' ? { kind: 'connect' } : { kind: 'connect', url: arg }
    default:
      return { kind: 'unknown', command: cmd }
  }
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
    '  help, \\q         this help; quit',
    'Keys: Tab completes, ↑/↓ history, Ctrl-C cancels a query (twice at an empty prompt: quit),',
    '  Ctrl-D quits, Ctrl-A/E home/end, Ctrl-W/Alt-Backspace delete word, Ctrl-U/K kill to start/end,',
    '  Alt-B/F or Ctrl-←/→ move by word.',
  ].join('\n')
}
