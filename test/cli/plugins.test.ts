import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ERR_PLUGIN_FAILED, ERR_PLUGIN_INVALID, ERR_PLUGIN_LOAD, loadPlugin, loadPlugins } from '../../src/client/plugins.js'
import { hasCode } from '../../src/errors.js'
import { FormatRegistry } from '../../src/format/index.js'
import { TransportRegistry } from '../../src/transport/registry.js'
import { tempHome } from './helpers.js'

describe('plugin loader', () => {
  const dirs: Array<{ cleanup(): void }> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup()
  })
  function plugin(source: string): string {
    const d = tempHome()
    dirs.push(d)
    const file = join(d.dir, 'p.mjs')
    writeFileSync(file, source)
    return file
  }
  async function failure(path: string): Promise<{ code: string | undefined; message: string }> {
    try {
      await loadPlugin(path)
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message }
    }
    throw new Error('expected the plugin to be refused')
  }

  it('loads formatters and transports (array and object forms)', async () => {
    const transport = "{ schemes: ['x'], connect() {}, listen() {} }"
    const a = await loadPlugin(plugin(`export default { name: 'a', formatters: { f: () => ({}) }, transports: [() => (${transport})] }`))
    expect(a.name).toBe('a')
    expect(Object.keys(a.formatters)).toEqual(['f'])
    expect(a.transports[0]!.schemes).toEqual(['x'])
    const b = await loadPlugin(plugin(`export default { name: 'b', transports: { x: () => (${transport}) } }`))
    expect(b.transports).toHaveLength(1)
  })

  it('names the plugin when it cannot be imported or throws while loading', async () => {
    const missing = await failure('/nonexistent/plugin.js')
    expect(missing.code).toBe(ERR_PLUGIN_LOAD)
    expect(missing.message).toContain('/nonexistent/plugin.js')
    const path = plugin("throw new Error('boom at load')")
    const thrown = await failure(path)
    expect(thrown.code).toBe(ERR_PLUGIN_LOAD)
    expect(thrown.message).toContain(path)
    expect(thrown.message).toContain('boom at load')
    const syntax = await failure(plugin('export default {'))
    expect(syntax.code).toBe(ERR_PLUGIN_LOAD)
  })

  it.each([
    ['no default export', 'export const x = 1'],
    ['a default that is not an object', 'export default 42'],
    ['no name', 'export default { formatters: {} }'],
    ['formatters not an object', "export default { name: 'p', formatters: [] }"],
    ['a formatter that is not a function', "export default { name: 'p', formatters: { f: 1 } }"],
    ['a format name that is not a word', "export default { name: 'p', formatters: { 'a b': () => ({}) } }"],
    ['a format name with a dot', "export default { name: 'p', formatters: { 'yaml.v2': () => ({}) } }"],
    ['a format name starting with a digit', "export default { name: 'p', formatters: { '1yaml': () => ({}) } }"],
    ['a format name with capitals (Text beside text)', "export default { name: 'p', formatters: { Text: () => ({}) } }"],
    ['transports of the wrong type', "export default { name: 'p', transports: 'tcp' }"],
    ['a transport that is not a factory', "export default { name: 'p', transports: [1] }"],
    ['a factory that throws', "export default { name: 'p', transports: [() => { throw new Error('no') }] }"],
    ['a factory returning no transport', "export default { name: 'p', transports: [() => ({})] }"],
    ['a scheme key the transport does not handle', "export default { name: 'p', transports: { y: () => ({ schemes: ['x'], connect() {}, listen() {} }) } }"],
  ])('refuses %s with ERR_PLUGIN_INVALID naming the plugin', async (_what, source) => {
    const path = plugin(source)
    const f = await failure(path)
    expect(f.code).toBe(ERR_PLUGIN_INVALID)
    expect(f.message).toContain(path)
  })

  it('registers into the registries and reports a clash as the plugin’s fault', async () => {
    const formats = FormatRegistry.withBuiltins()
    const transports = new TransportRegistry()
    const ok = plugin("export default { name: 'ok', formatters: { yaml: () => ({}) }, transports: [() => ({ schemes: ['zz'], connect() {}, listen() {} })] }")
    await loadPlugins([ok], { formats, transports })
    expect(formats.has('yaml')).toBe(true)
    expect(transports.get('zz')).toBeDefined()
    const clash = plugin("export default { name: 'clash', formatters: { json: () => ({}) } }")
    let err: unknown
    try {
      await loadPlugins([clash], { formats, transports })
    } catch (e) {
      err = e
    }
    expect(hasCode(err, ERR_PLUGIN_INVALID)).toBe(true)
    expect((err as Error).message).toContain(clash)
  })

  it('hands the config options to every transport factory and, as init.options, to formatter factories', async () => {
    const path = plugin(`export const seen = []
export default { name: 'o',
  transports: [(init) => { seen.push(init); return { schemes: ['oo'], connect() {}, listen() {} } }],
  formatters: { o: (out, init) => ({ begin() { out.write(JSON.stringify(init)) }, record() {}, end() {} }) } }`)
    const p = await loadPlugin(path, process.cwd(), { depth: 3 })
    const mod = (await import(path)) as { seen: unknown[] }
    expect(mod.seen).toEqual([{ depth: 3 }])
    let written = ''
    p.formatters.o!({ write: (c) => void (written += c) }, { color: false }).begin()
    expect(JSON.parse(written)).toEqual({ color: false, options: { depth: 3 } })
  })

  it('loads one file listed twice once, with the options of the entry that has them', async () => {
    const path = plugin(`export const seen = []
export default { name: 'twice', formatters: { twice: () => ({ begin() {}, record() {}, end() {} }) },
  transports: [(init) => { seen.push(init); return { schemes: ['tw'], connect() {}, listen() {} } }] }`)
    const formats = FormatRegistry.withBuiltins()
    const transports = new TransportRegistry()
    const loaded = await loadPlugins([{ path, options: { a: 1 } }, path, `${path}/../p.mjs`], { formats, transports })
    expect(loaded).toHaveLength(1)
    expect(((await import(path)) as { seen: unknown[] }).seen).toEqual([{ a: 1 }])
    let err: unknown
    try {
      await loadPlugins([{ path, options: { a: 1 } }, { path, options: { a: 2 } }], { formats: FormatRegistry.withBuiltins() })
    } catch (e) {
      err = e
    }
    expect(hasCode(err, ERR_PLUGIN_INVALID)).toBe(true)
  })

  it('reports a formatter that misbehaves while running as the plugin’s, naming it and its file', async () => {
    const path = plugin(`export default { name: 'bad', formatters: {
  throws: () => { throw new Error('factory broke') },
  none: () => undefined,
  late: () => ({ begin() {}, record() {}, end() { throw new Error('end broke') } }) } }`)
    const p = await loadPlugin(path)
    const out = { write: () => true }
    const caught = (f: () => void): { code?: string; message: string } => {
      try {
        f()
      } catch (err) {
        return err as { code?: string; message: string }
      }
      throw new Error('expected a throw')
    }
    const a = caught(() => p.formatters.throws!(out))
    expect(a.code).toBe(ERR_PLUGIN_INVALID)
    expect(a.message).toContain('factory broke')
    const b = caught(() => p.formatters.none!(out))
    expect(b.code).toBe(ERR_PLUGIN_INVALID)
    expect(b.message).toContain('returned undefined')
    const f = p.formatters.late!(out)
    f.begin()
    const c = caught(() => f.end({ count: 0, elapsedMs: 1 }))
    expect(c.code).toBe(ERR_PLUGIN_FAILED)
    for (const e of [a, b, c]) {
      expect(e.message).toContain('"bad"')
      expect(e.message).toContain(path)
    }
  })
})
