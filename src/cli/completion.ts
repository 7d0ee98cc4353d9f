/**
 * `ww completion bash|zsh|fish`: a completion script for the shell, printed on stdout.
 * The scripts are generated from the command line's own definition (commands, their flags
 * and the values some flags take), so a new flag completes without editing them. They run no
 * `ww` process while completing: every word they offer is in the script.
 *
 *   bash: source <(ww completion bash)            (or write it to ~/.local/share/bash-completion/completions/ww)
 *   zsh:  source <(ww completion zsh)             (bash's script through zsh's bashcompinit)
 *   fish: ww completion fish > ~/.config/fish/completions/ww.fish
 */

/** One command as the scripts see it. */
export interface CompletionCommand {
  /** `ls`, `start`. */
  name: string
  /** One line of help, shown by fish. */
  description: string
  /** Its flags: long (`--addr`) and short (`-o`) forms, each with whether it takes a value. */
  options: Array<{ long?: string; short?: string; takesValue: boolean; description: string }>
}

/** The shells `ww completion` writes scripts for. */
export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const

/** Values some flags take, offered after the flag. */
const FLAG_VALUES: Record<string, string> = {
  '--format': 'text json ndjson',
  '--output': 'wide text json ndjson',
  '--columns': 'peer server host seq ttl age seen meta addrs',
  '--log-level': 'debug info warn error',
  '--log-format': 'text json',
}

/** Flags whose value is a file path: the shell's own file completion. */
const FILE_FLAGS = ['--plugin', '--identity', '--swarm-key', '--allow-peers', '--token-file', '--tls-ca', '--tls-cert', '--tls-key', '--tls-client-ca']

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

/** The bash script (also the core of zsh's). */
export function bashScript(commands: readonly CompletionCommand[]): string {
  const words = (c: CompletionCommand): string =>
    c.options
      .flatMap((o) => [o.long, o.short])
      .filter((x): x is string => x !== undefined)
      .join(' ')
  const valueFlags = (all: string[]): string => all.join('|')
  const withValue = [...new Set(commands.flatMap((c) => c.options.filter((o) => o.takesValue).flatMap((o) => [o.long, o.short]).filter((x): x is string => x !== undefined)))]
  const shortToLong = new Map(commands.flatMap((c) => c.options.filter((o) => o.short !== undefined && o.long !== undefined).map((o) => [o.short!, o.long!] as const)))
  const valueCases = Object.entries(FLAG_VALUES)
    .map(([flag, values]) => {
      const shorts = [...shortToLong].filter(([, l]) => l === flag).map(([s]) => s)
      return `    ${[flag, ...shorts].join('|')}) COMPREPLY=( $(compgen -W ${q(values)} -- "$cur") ); return ;;`
    })
    .join('\n')
  return `# ww completion for bash. Load it with:  source <(ww completion bash)
_ww() {
  local cur prev cmd i w skip
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  skip=0
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$w" in
      ${valueFlags(withValue)}) skip=1 ;;
      -*) ;;
      *) cmd="$w"; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=( $(compgen -W ${q([...commands.map((c) => c.name), '--help', '--version'].join(' '))} -- "$cur") )
    return
  fi
  case "$prev" in
${valueCases}
    ${FILE_FLAGS.join('|')}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  if [[ "$cmd" == completion ]]; then
    COMPREPLY=( $(compgen -W ${q(COMPLETION_SHELLS.join(' '))} -- "$cur") )
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${commands.map((c) => `      ${c.name}) COMPREPLY=( $(compgen -W ${q(`${words(c)} --help`)} -- "$cur") ) ;;`).join('\n')}
    esac
  fi
}
complete -o default -F _ww ww
`
}

/** The zsh script: bash's, through zsh's bash-completion emulation. */
export function zshScript(commands: readonly CompletionCommand[]): string {
  return `# ww completion for zsh. Load it with:  source <(ww completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(commands).split('\n').slice(1).join('\n')}`
}

/** The fish script: one `complete` line per command and flag. */
export function fishScript(commands: readonly CompletionCommand[]): string {
  const lines = ['# ww completion for fish:  ww completion fish > ~/.config/fish/completions/ww.fish', 'complete -c ww -f']
  const names = commands.map((c) => c.name).join(' ')
  for (const c of commands) lines.push(`complete -c ww -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d ${q(c.description)}`)
  lines.push(`complete -c ww -n "__fish_seen_subcommand_from completion" -a ${q(COMPLETION_SHELLS.join(' '))}`)
  for (const c of commands) {
    for (const o of c.options) {
      let line = `complete -c ww -n "__fish_seen_subcommand_from ${c.name}"`
      if (o.long !== undefined) line += ` -l ${o.long.slice(2)}`
      if (o.short !== undefined) line += ` -s ${o.short.slice(1)}`
      if (o.takesValue) {
        const values = o.long !== undefined ? FLAG_VALUES[o.long] : undefined
        line += values !== undefined ? ` -x -a ${q(values)}` : o.long !== undefined && FILE_FLAGS.includes(o.long) ? ' -r -F' : ' -x'
      }
      lines.push(`${line} -d ${q(o.description)}`)
    }
  }
  return `${lines.join('\n')}\n`
}
