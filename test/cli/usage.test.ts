/**
 * Bad flag values are usage errors: one line `ww: … (ERR_…)`, exit 1, no stack trace, and
 * nothing started (a node that would have printed its `peer` line did not come up).
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import { runWw, tempHome } from './helpers.js'
import { reap } from '../procs.js'
import { usageErrorText } from '../../src/cli/program.js'

vi.setConfig({ testTimeout: 60_000 })

const home = tempHome()
afterAll(async () => {
  await reap()
  home.cleanup()
})

const cases: Array<[string[], string]> = [
  [['start', '--p2p', 'notamultiaddr'], 'ERR_BAD_MULTIADDR'],
  [['start', '--p2p', '/ip4/1.2.3'], 'ERR_BAD_MULTIADDR'],
  [['start', '--bootstrap', '/ip4/127.0.0.1/tcp/1'], 'ERR_BAD_MULTIADDR'],
  [['start', '--ttl', 'abc'], 'ERR_BAD_DURATION'],
  [['start', '--min-peers', 'x'], 'ERR_BAD_MIN_PEERS'],
  [['start', '--max-peers', '0'], 'ERR_USAGE'],
  [['start', '--max-connections', '1.5'], 'ERR_USAGE'],
  [['start', '--metrics-listen', 'nope:port'], 'ERR_BAD_METRICS_LISTEN'],
  [['start', '--listen', 'foo'], 'ERR_INVALID_URL'],
  [['start', '--allow-origin', 'https://ops.example.com/'], 'ERR_BAD_ORIGIN'],
  [['start', '--log-level', 'loud'], 'ERR_BAD_LOG_OPTION'],
  [['dev', '--nodes', 'x'], 'ERR_USAGE'],
  [['ls', '--bogus'], 'ERR_USAGE'],
  [['ls', '--addr', 'notaurl'], 'ERR_INVALID_URL'],
  [['ls', '--format', 'yaml'], 'ERR_USAGE'],
  [['keygen'], 'ERR_USAGE'],
]

describe('bad flag values', () => {
  for (const [args, code] of cases) {
    it(`ww ${args.join(' ')} → ${code}`, async () => {
      const r = await runWw(args, { home: home.dir })
      expect(r.code).toBe(1)
      const lines = r.stderr.split('\n').filter(Boolean)
      expect(lines[0]).toMatch(new RegExp(`^ww: .+ \\(${code}\\)$`))
      // at most the line and one hint; never a stack
      expect(lines.length).toBeLessThanOrEqual(2)
      if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: /)
      expect(r.stderr).not.toMatch(/^\s+at /m)
      expect(r.stdout).not.toMatch(/^peer\s/m)
    })
  }

  it('rewrites commander\'s messages into the common shape', () => {
    expect(usageErrorText("error: unknown option '--x'\n")).toBe("ww: unknown option '--x' (ERR_USAGE)\n")
    expect(usageErrorText('something else\n')).toBe('something else\n')
  })
})
