import { mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configDir, ERR_CONFIG_INVALID, readConfig } from '../../src/client/config.js'
import { tempHome } from '../cli/helpers.js'

describe('config', () => {
  const dirs: Array<{ cleanup(): void }> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup()
  })
  function home(config?: string): string {
    const d = tempHome()
    dirs.push(d)
    if (config !== undefined) {
      mkdirSync(join(d.dir, 'ww'))
      writeFileSync(join(d.dir, 'ww', 'config.json'), config)
    }
    return d.dir
  }

  it('lives in $XDG_CONFIG_HOME/ww, else ~/.config/ww', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x' })).toBe('/x/ww')
    expect(configDir({})).toBe(join(homedir(), '.config', 'ww'))
  })

  it('is empty when the file is missing', async () => {
    expect(await readConfig({ XDG_CONFIG_HOME: home() })).toEqual({ plugins: [] })
  })

  it('resolves plugin paths against the config folder', async () => {
    const h = home(JSON.stringify({ plugins: ['./p.js', '/abs/q.js'] }))
    expect(await readConfig({ XDG_CONFIG_HOME: h })).toEqual({ plugins: [join(h, 'ww', 'p.js'), '/abs/q.js'] })
  })

  it('takes { path, options } entries, the options handed on as given', async () => {
    const h = home(JSON.stringify({ plugins: [{ path: './u.js', options: { socket: '/run/ww.sock' } }, { path: 'v.js' }] }))
    expect(await readConfig({ XDG_CONFIG_HOME: h })).toEqual({
      plugins: [{ path: join(h, 'ww', 'u.js'), options: { socket: '/run/ww.sock' } }, { path: join(h, 'ww', 'v.js') }],
    })
  })

  it.each([['not json', '{'], ['not an object', '[]'], ['plugins not an array', '{"plugins": "a.js"}'], ['an empty path', '{"plugins": [""]}'], ['an entry without a path', '{"plugins": [{"options": {}}]}'],
    ['options that are not an object', '{"plugins": [{"path": "a.js", "options": [1]}]}'], ['an unknown key', '{"plugins": [{"path": "a.js", "opts": {}}]}'],
    ['an entry that is a number', '{"plugins": [3]}']])(
    'refuses a file that is %s with ERR_CONFIG_INVALID',
    async (_what, text) => {
      await expect(readConfig({ XDG_CONFIG_HOME: home(text) })).rejects.toMatchObject({ code: ERR_CONFIG_INVALID })
    },
  )
})
