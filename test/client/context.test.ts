/**
 * Settings resolution of the client commands: flags > environment (already merged into the
 * flags by the command line) > the config file's context > defaults; and a config file's
 * contexts read as hostile input.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createContext, ERR_TOKEN_FILE, ERR_UNKNOWN_CONTEXT, formatFor } from '../../src/client/context.js'
import { ERR_CONFIG_INVALID, MAX_CONFIG_BYTES, readConfig } from '../../src/client/config.js'
import { ERR_USAGE } from '../../src/client/errors.js'
import { tempHome } from '../cli/helpers.js'

const dirs: Array<{ cleanup(): void }> = []
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup()
})

function home(config: unknown, files: Record<string, string> = {}): { env: NodeJS.ProcessEnv; dir: string } {
  const d = tempHome()
  dirs.push(d)
  const dir = join(d.dir, 'ww')
  mkdirSync(dir)
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
  return { env: { XDG_CONFIG_HOME: d.dir }, dir }
}

const config = {
  current: 'prod',
  contexts: {
    prod: { addr: 'ws://prod-a:8420, ws://prod-b:8420', tokenFile: 'prod.token', format: 'ndjson', tlsCa: 'ca.pem' },
    stage: { addr: ['ws://stage:8420'], format: 'json' },
    bare: {},
  },
}

describe('settings resolution', () => {
  it('takes the current context when nothing is named', async () => {
    const { env, dir } = home(config, { 'prod.token': 'sekrit\nsecond line ignored\n', 'ca.pem': 'PEM' })
    const { options } = await createContext({}, env)
    expect(options).toMatchObject({ context: 'prod', addrs: ['ws://prod-a:8420', 'ws://prod-b:8420'], addr: 'ws://prod-a:8420,ws://prod-b:8420', format: 'ndjson', formatSource: 'context', token: 'sekrit', tlsCa: join(dir, 'ca.pem') })
  })

  it('a named context (flag or WW_CONTEXT) wins over current; a flag or env value wins over the context', async () => {
    const { env } = home(config, { 'prod.token': 'sekrit', 'ca.pem': 'PEM' })
    expect((await createContext({ context: 'stage' }, env)).options).toMatchObject({ context: 'stage', addrs: ['ws://stage:8420'], format: 'json' })
    const o = (await createContext({ context: 'prod', addr: ['ws://flag:1,ws://flag:2', 'ws://flag:3'], format: 'text', token: 'from-flag' }, env)).options
    expect(o).toMatchObject({ addrs: ['ws://flag:1', 'ws://flag:2', 'ws://flag:3'], format: 'text', formatSource: 'flag', token: 'from-flag' })
    // -o names a format too
    expect((await createContext({ context: 'stage', output: 'ndjson' }, env)).options.format).toBe('ndjson')
  })

  it('falls back to the defaults when the context leaves a setting out, and with no config at all', async () => {
    const { env } = home(config)
    expect((await createContext({ context: 'bare' }, env)).options).toMatchObject({ addrs: ['ws://127.0.0.1:8420'], format: 'text', formatSource: 'default' })
    expect((await createContext({ context: 'bare' }, env)).options.token).toBeUndefined()
    const none = tempHome()
    dirs.push(none)
    const o = (await createContext({}, { XDG_CONFIG_HOME: none.dir })).options
    expect(o).toMatchObject({ addrs: ['ws://127.0.0.1:8420'], format: 'text' })
    expect(o.context).toBeUndefined()
  })

  it('refuses an unknown context with ERR_UNKNOWN_CONTEXT, naming the known ones', async () => {
    const { env } = home(config)
    await expect(createContext({ context: 'prd' }, env)).rejects.toMatchObject({ code: ERR_UNKNOWN_CONTEXT, exitCode: 1, hint: expect.stringContaining('prod, stage, bare') })
    // an inherited property name is not a context
    await expect(createContext({ context: 'constructor' }, env)).rejects.toMatchObject({ code: ERR_UNKNOWN_CONTEXT })
  })

  it('reports a missing or empty token file with ERR_TOKEN_FILE', async () => {
    const { env } = home(config)
    await expect(createContext({}, env)).rejects.toMatchObject({ code: ERR_TOKEN_FILE, message: expect.stringContaining('prod.token') })
    const h = home(config, { 'prod.token': '\n' })
    await expect(createContext({}, h.env)).rejects.toMatchObject({ code: ERR_TOKEN_FILE })
  })

  it('-o wide is the text table; --format json with it, or with --columns or --no-headers, is a usage error', async () => {
    const { env } = home({})
    expect((await createContext({ output: 'wide' }, env)).options).toMatchObject({ format: 'text', wide: true })
    await expect(createContext({ output: 'wide', format: 'json' }, env)).rejects.toMatchObject({ code: ERR_USAGE })
    await expect(createContext({ format: 'ndjson', headers: false }, env)).rejects.toMatchObject({ code: ERR_USAGE })
    await expect(createContext({ format: 'json', columns: 'peer' }, env)).rejects.toMatchObject({ code: ERR_USAGE })
    expect((await createContext({ columns: 'peer, meta.region' }, env)).options.fields).toEqual(['peer', 'meta.region'])
    await expect(createContext({ columns: 'peer,nope' }, env)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_COLUMN' })
  })
})

describe('config file contexts are hostile input', () => {
  const bad: Array<[string, unknown]> = [
    ['contexts not an object', { contexts: [] }],
    ['an unknown top-level key (a misspelt "contexts")', { context: { a: { addr: 'ws://x' } } }],
    ['a context not an object', { contexts: { a: 'ws://x' } }],
    ['an unknown key in a context', { contexts: { a: { adress: 'ws://x' } } }],
    ['addr of the wrong type', { contexts: { a: { addr: 42 } } }],
    ['an empty addr list', { contexts: { a: { addr: ' , ' } } }],
    ['a non-string path', { contexts: { a: { tokenFile: {} } } }],
    ['a bad context name', { contexts: { 'a b': {} } }],
    ['current naming no context', { current: 'x', contexts: { a: {} } }],
    ['current not a string', { current: 1, contexts: { a: {} } }],
    ['current without contexts', { current: '__proto__' }],
  ]
  for (const [what, file] of bad) {
    it(`refuses ${what} with ERR_CONFIG_INVALID naming the file`, async () => {
      const { env, dir } = home(file)
      await expect(readConfig(env)).rejects.toMatchObject({ code: ERR_CONFIG_INVALID, message: expect.stringContaining(join(dir, 'config.json')) })
    })
  }

  it('refuses a file larger than the limit without reading it whole', async () => {
    const { env } = home(' '.repeat(MAX_CONFIG_BYTES + 1))
    await expect(readConfig(env)).rejects.toMatchObject({ code: ERR_CONFIG_INVALID, message: expect.stringContaining('larger than') })
  })

  it('refuses a config.json that cannot be read (a folder) with ERR_CONFIG_INVALID', async () => {
    const d = tempHome()
    dirs.push(d)
    mkdirSync(join(d.dir, 'ww', 'config.json'), { recursive: true })
    await expect(readConfig({ XDG_CONFIG_HOME: d.dir })).rejects.toMatchObject({ code: ERR_CONFIG_INVALID, message: expect.stringContaining('cannot read') })
  })
})

describe('formatFor: one rule for commands that print only some formats (info, ls --watch, sub)', () => {
  const watch = ['text', 'json', 'ndjson']
  it("keeps a format the command prints, falls back to text for a context's other one, and leaves a flag's for the command to refuse", () => {
    expect(formatFor({ format: 'ndjson', formatSource: 'context' }, watch)).toBe('ndjson')
    expect(formatFor({ format: 'csv', formatSource: 'context' }, watch)).toBe('text')
    expect(formatFor({ format: 'csv', formatSource: 'flag' }, watch)).toBe('csv')
    expect(formatFor({ format: 'csv' }, watch)).toBe('csv')
    expect(formatFor({ format: 'ndjson', formatSource: 'context' }, ['text', 'json'])).toBe('text')
  })
})
