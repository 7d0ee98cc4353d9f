import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { START_SEMI_SPACE_MB, startReexecArgv } from '../../src/cli/start-action.js'
import { reap } from '../procs.js'
import { ROOT, startWw, tempHome, wwEnv } from './helpers.js'

afterEach(() => reap())

const bin = join(ROOT, 'src/cli/main.ts')
const view = (over: Partial<Parameters<typeof startReexecArgv>[0]> = {}): Parameters<typeof startReexecArgv>[0] => ({
  execPath: '/usr/bin/node',
  execArgv: ['--import', 'tsx'],
  argv: ['/usr/bin/node', bin, 'start', '--ttl', '5s'],
  env: {},
  ...over,
})

describe('ww start: a small young generation', () => {
  it('re-executes the ww bin with --max-semi-space-size, keeping node flags and arguments in order', () => {
    expect(startReexecArgv(view())).toEqual(['/usr/bin/node', `--max-semi-space-size=${START_SEMI_SPACE_MB}`, '--import', 'tsx', bin, 'start', '--ttl', '5s'])
  })

  it("leaves an operator's own semi-space size alone, and any process that is not the ww bin", () => {
    expect(startReexecArgv(view({ execArgv: ['--max-semi-space-size=16'] }))).toBeUndefined()
    expect(startReexecArgv(view({ env: { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=8' } }))).toBeUndefined()
    // V8 reads `_` as `-` in a flag's name: the operator's flag in that spelling counts too.
    expect(startReexecArgv(view({ env: { NODE_OPTIONS: '--max_semi_space_size=8' } }))).toBeUndefined()
    expect(startReexecArgv(view({ execArgv: ['--max-semi_space-size=4'] }))).toBeUndefined()
    expect(startReexecArgv(view({ argv: ['/usr/bin/node', join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run'] }))).toBeUndefined()
    expect(startReexecArgv(view({ argv: ['/usr/bin/node'] }))).toBeUndefined()
  })

  it('a ww start process runs under the flag, with the PID it was spawned with', async () => {
    const home = tempHome()
    try {
      // The test run gives its children the flag in NODE_OPTIONS (vitest.config.ts), which
      // would skip the re-execution this test is about.
      const env = wwEnv(home.dir)
      delete env.NODE_OPTIONS
      const node = await startWw(['--listen', 'ws://127.0.0.1:0', '--identity', join(home.dir, 'id.key'), '--quiet'], home.dir, 60_000, env)
      const cmdline = readFileSync(`/proc/${node.child.pid}/cmdline`, 'utf8').split('\0')
      expect(cmdline).toContain(`--max-semi-space-size=${START_SEMI_SPACE_MB}`)
      expect(cmdline).toContain('start')
      expect(await node.stop()).toBe(0)
    } finally {
      home.cleanup()
    }
  }, 90_000)
})
