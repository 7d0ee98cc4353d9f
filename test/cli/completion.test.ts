/**
 * `ww completion bash|zsh|fish`: the printed script is loaded into a real bash, which then
 * completes `ww l` to `ls` and `lookup`, flags after a command and the values of a flag.
 * zsh and fish scripts are loaded into those shells when the machine has them.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runWw, tempHome } from './helpers.js'
import { reap } from '../procs.js'

vi.setConfig({ testTimeout: 60_000 })

const home = tempHome()
const scripts: Record<string, string> = {}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

beforeAll(async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runWw(['completion', shell], { home: home.dir })
    expect(r.code, r.stderr).toBe(0)
    scripts[shell] = join(home.dir, `ww.${shell}`)
    writeFileSync(scripts[shell], r.stdout)
  }
}, 120_000)

afterAll(async () => {
  await reap()
  home.cleanup()
})

/** What the bash completion function offers for the words typed (the last one being completed). */
function bashComplete(words: string[]): string[] {
  const script = `source ${JSON.stringify(scripts.bash)}
complete -p ww >/dev/null || exit 9
fn=$(complete -p ww | sed -E 's/.*-F ([^ ]+).*/\\1/')
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
COMP_LINE="${words.join(' ')}"
COMP_POINT=\${#COMP_LINE}
"$fn" ww "${words.at(-1)}" "${words.at(-2) ?? ''}"
printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['--norc', '--noprofile', '-c', script], { cwd: home.dir, encoding: 'utf8' }).split('\n').filter(Boolean).sort()
}

describe('ww completion bash', () => {
  it('registers a completion for ww and completes `ww l` to ls and lookup', () => {
    expect(bashComplete(['ww', 'l'])).toEqual(['lookup', 'ls'])
  })

  it('completes commands, flags of the command, and values of a flag', () => {
    expect(bashComplete(['ww', 'comp'])).toEqual(['completion'])
    expect(bashComplete(['ww', 'ls', '--for'])).toEqual(['--format'])
    expect(bashComplete(['ww', 'ls', '--no-h'])).toEqual(['--no-headers'])
    expect(bashComplete(['ww', 'start', '--metrics'])).toEqual(['--metrics-listen'])
    // a flag's value is not taken for the command
    expect(bashComplete(['ww', '--help', 'l'])).toEqual(['lookup', 'ls'])
    expect(bashComplete(['ww', 'ls', '--addr', 'ws://x', '--format', ''])).toEqual(['json', 'ndjson', 'text'])
    expect(bashComplete(['ww', 'ls', '-o', 'w'])).toEqual(['wide'])
    expect(bashComplete(['ww', 'completion', ''])).toEqual(['bash', 'fish', 'zsh'])
  })

  it('refuses another shell with a usage error and its code', async () => {
    const r = await runWw(['completion', 'tcsh'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr.split('\n')[0]).toBe('ww: no completion for shell "tcsh" (ERR_USAGE)')
  })
})

describe('ww completion zsh', () => {
  it.skipIf(!which('zsh'))('loads in zsh and completes `ww l` (skipped: zsh is not installed here)', () => {
    const out = execFileSync('zsh', ['-f', '-c', `source ${JSON.stringify(scripts.zsh)}; COMP_WORDS=(ww l); COMP_CWORD=1; _ww; print -l $COMPREPLY`], { encoding: 'utf8' })
    expect(out.split('\n').filter(Boolean).sort()).toEqual(['lookup', 'ls'])
  })
})

describe('ww completion fish', () => {
  it.skipIf(!which('fish'))('loads in fish and completes `ww l` (skipped: fish is not installed here)', () => {
    const out = execFileSync('fish', ['--no-config', '-c', `source ${JSON.stringify(scripts.fish)}; complete -C 'ww l'`], { encoding: 'utf8' })
    expect(out.split('\n').map((l) => l.split('\t')[0]).filter(Boolean).sort()).toEqual(['lookup', 'ls'])
  })
})
