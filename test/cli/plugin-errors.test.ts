/**
 * A misbehaving plugin, run through the real command line: its failure is reported as the
 * plugin's (its name, its file, what it did wrong, a stable code, exit 1, no stack and no
 * "bug in ww"); a plugin transport's URL error exits like a built-in's; one plugin file given
 * twice (config file and --plugin) loads once; config options reach the plugin's factories.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { runWw, startWw, tempHome, type StartedNode } from './helpers.js'
import { reap } from '../procs.js'

vi.setConfig({ testTimeout: 90_000 })

const home = tempHome()
let node: StartedNode | undefined
let addr = ''

beforeAll(async () => {
  node = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(home.dir, 'a.key'), '--host', 'web-1', '--quiet'], home.dir)
  addr = node.listen
}, 90_000)

afterAll(async () => {
  await node?.stop()
  await reap()
  home.cleanup()
}, 30_000)

function pluginFile(name: string, source: string): string {
  const file = join(home.dir, name)
  writeFileSync(file, source)
  return file
}

function expectPluginsFault(r: { code: number | null; stderr: string }, file: string, code: string, what: string): void {
  expect(r.code).toBe(1)
  expect(r.stderr).toContain(file)
  expect(r.stderr).toContain(code)
  expect(r.stderr).toContain(what)
  expect(r.stderr).not.toContain('bug in ww')
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

describe('plugin failures are the plugin’s', () => {
  it('a formatter that throws while writing a record', async () => {
    const file = pluginFile('throws.mjs', `export default { name: 'thrower', formatters: { boom: () => ({ begin() {}, record() { throw new Error('cannot print this') }, end() {} }) } }\n`)
    const r = await runWw(['ls', '--addr', addr, '--plugin', file, '--format', 'boom'], { home: home.dir })
    expectPluginsFault(r, file, 'ERR_PLUGIN_FAILED', 'cannot print this')
    expect(r.stderr).toContain('"thrower"')
    expect(r.stderr).toContain('record()')
  })

  it('a formatter factory that returns no formatter', async () => {
    const file = pluginFile('nonobject.mjs', "export default { name: 'broken', formatters: { nope: () => 42 } }\n")
    const r = await runWw(['ls', '--addr', addr, '--plugin', file, '--format', 'nope'], { home: home.dir })
    expectPluginsFault(r, file, 'ERR_PLUGIN_INVALID', 'returned 42')
    expect(r.stderr).toContain('"broken"')
  })

  it('a plugin transport’s malformed URL exits 1 with ERR_INVALID_URL, as a built-in’s does', async () => {
    const r = await runWw(['ls', '--addr', 'tcp://127.0.0.1', '--plugin', 'plugins/tcp.js'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ERR_INVALID_URL')
    expect(r.stderr).not.toContain('is a node running there')
  })

  it('an unknown --format names its code', async () => {
    const r = await runWw(['ls', '--addr', addr, '--format', 'yaml'], { home: home.dir })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('unknown format "yaml" (ERR_USAGE)')
  })

  it('one file in config.json (with options) and in --plugin loads once, and the options reach the formatter', async () => {
    const cfgHome = tempHome()
    try {
      const file = pluginFile('opts.mjs', [
        "export default { name: 'opts', formatters: { opts: (out, init) => ({",
        '  begin() { out.write(`prefix=${init?.options?.prefix}\\n`) },',
        '  record(r) { out.write(`${init?.options?.prefix}${r.host}\\n`) },',
        '  end() {},',
        '}) } }',
      ].join('\n'))
      mkdirSync(join(cfgHome.dir, 'ww'))
      writeFileSync(join(cfgHome.dir, 'ww', 'config.json'), JSON.stringify({ plugins: [{ path: file, options: { prefix: '>> ' } }] }))
      const r = await runWw(['ls', '--addr', addr, '--plugin', file, '--format', 'opts'], { home: cfgHome.dir })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toBe('prefix=>> \n>> web-1\n')
    } finally {
      cfgHome.cleanup()
    }
  })
})

