/**
 * The plugin starter (plugins/template/) as a third party gets it: `ww` packed with
 * `npm pack` (the package's real `files`, `exports` and build), the template copied out of
 * the repository with `ww` installed from that tarball, and the template's own `npm test`
 * run with its own vitest: the transport conformance suite through `ww/transport/conformance`
 * and its formatter tests.
 *
 * Installing: the tarball is unpacked into the copy's node_modules/ww, as npm would put it;
 * ww's dependencies and the template's vitest are links to this repository's node_modules
 * (the versions of its lock file). A real `npm install` would fetch them from the registry,
 * which a test must not depend on.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { killGroup, spawnGroup } from '../procs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'ww-template-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** Runs a command to its end in its own process group, killed after `ms`. */
function run(cmd: string, args: string[], cwd: string, ms: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  const g = spawnGroup(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  g.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  g.child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const timer = setTimeout(() => void killGroup(g), ms)
  return g.exited.then((code) => {
    clearTimeout(timer)
    return { code, out }
  })
}

describe('plugin template', () => {
  it('installs from a packed ww and passes its own npm test (conformance suite included)', { timeout: 240_000 }, async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string }
    // npm pack runs `prepare` (the incremental build: at once when dist/ is current).
    const packed = await run('npm', ['pack', '--pack-destination', tmp], ROOT, 180_000)
    expect(packed.code, packed.out).toBe(0)
    const tarball = join(tmp, `${pkg.name}-${pkg.version}.tgz`)
    expect(existsSync(tarball)).toBe(true)

    const app = join(tmp, 'template')
    cpSync(join(ROOT, 'plugins/template'), app, { recursive: true, filter: (src) => !src.includes('node_modules') })
    const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
    expect(Object.keys(manifest.devDependencies).sort()).toEqual(['vitest', 'ww'])
    manifest.devDependencies.ww = `file:${tarball}`
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2))

    const modules = join(app, 'node_modules')
    mkdirSync(join(modules, 'ww'), { recursive: true })
    execFileSync('tar', ['-xzf', tarball, '-C', join(modules, 'ww'), '--strip-components=1'])
    const ours = realpathSync(join(ROOT, 'node_modules'))
    for (const name of readdirSync(ours)) {
      if (name === 'ww' || name === '.package-lock.json') continue
      symlinkSync(join(ours, name), join(modules, name))
    }
    // The installed ww is the packed one: its entry points come from its own dist/.
    expect(existsSync(join(modules, 'ww/dist/transport/conformance.js'))).toBe(true)
    expect(existsSync(join(modules, 'ww/src'))).toBe(false)

    // The template's own test script, on this Node (22), outside this vitest's state.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, NO_COLOR: '1' }
    for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'NODE_OPTIONS') delete env[k]
    const tested = await run('npm', ['test'], app, 180_000, env)
    expect(tested.code, tested.out).toBe(0)
    // Every test of the suite ran and passed, by the plugin's own runner (verbose reporter).
    expect(tested.out).toMatch(/✓ .*transport conformance: unix > abort with a backlog \(by the sender\)/)
    expect(tested.out).toMatch(/✓ .*transport conformance: unix > gives a fresh address for every listen\(\)/)
    expect(tested.out).toMatch(/✓ .*tsv format > writes a header/)
    const [, passed, total] = /Tests\s+(\d+) passed \((\d+)\)/.exec(tested.out) ?? []
    expect(Number(passed)).toBeGreaterThanOrEqual(21)
    expect(passed).toBe(total)
  })
})
