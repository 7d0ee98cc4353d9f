/**
 * `ww dev`: the sample cluster itself (in process) and the command without a TTY (piped
 * shell attached to the first node).
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { otherTerminals, portFree, sampleNode, startDevCluster } from '../../src/cli/dev.js'
import { runWw, tempHome } from './helpers.js'

describe('ww dev', () => {
  it('gives every node a sample host and meta', () => {
    expect(sampleNode(0)).toEqual({ host: 'web-1', meta: { region: 'us-east-1', role: 'web', az: 'us-east-1a', env: 'dev' } })
    const hosts = Array.from({ length: 8 }, (_, i) => sampleNode(i).host)
    expect(new Set(hosts).size).toBe(8)
  })

  it('starts N real nodes that all see each other, and stops them', async () => {
    const c = await startDevCluster({ nodes: 4, listen: 'ws://127.0.0.1:0' })
    try {
      expect(c.converged).toBe(true)
      expect(c.nodes).toHaveLength(4)
      for (const n of c.nodes) expect(n.table.size).toBe(4)
      expect(c.addr).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/)
      const hosts = [...c.nodes[0]!.table.snapshot().scan({ op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false })].map((r) => r.host).sort()
      expect(hosts).toEqual(['cache-3', 'db-2', 'queue-4', 'web-1'])
    } finally {
      await c.stop()
    }
    expect(await portFree(Number(new URL(c.addr).port))).toBe(true)
  }, 60_000)

  it('without a TTY, runs the piped shell against the first node and exits', async () => {
    const home = tempHome()
    try {
      const r = await runWw(['dev', '--nodes', '3', '--format', 'ndjson'], { home: home.dir, input: 'ls\nls WHERE role=db\n', timeoutMs: 60_000 })
      expect(r.code).toBe(0)
      const hosts = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { host: string }).host)
      expect(hosts.sort()).toEqual(['cache-3', 'db-2', 'db-2', 'web-1'])
      expect(r.stderr).toContain('3 nodes up')
    } finally {
      home.cleanup()
    }
  }, 90_000)

  it('on a plugin transport, the banner’s command for other terminals names the plugin it needs', async () => {
    const tcp = fileURLToPath(new URL('../../plugins/tcp.js', import.meta.url))
    const home = tempHome()
    try {
      const r = await runWw(['dev', '--nodes', '1', '--listen', 'tcp://127.0.0.1:0', '--plugin', tcp], { home: home.dir, input: '', timeoutMs: 60_000 })
      expect(r.code).toBe(0)
      const line = r.stderr.split('\n').find((l) => l.startsWith('other terminals: '))
      expect(line).toMatch(new RegExp(`^other terminals: ww ls --addr tcp://127\\.0\\.0\\.1:\\d+ --plugin ${tcp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))
    } finally {
      home.cleanup()
    }
  }, 90_000)

  it('names only the plugins serving the address’s scheme, quoting paths for the shell', () => {
    const tcp = { path: '/p/tcp plugin.js', transports: [{ schemes: ['tcp'] }] }
    const csv = { path: '/p/csv.js', transports: [] }
    expect(otherTerminals('ws://127.0.0.1:8420', [tcp, csv])).toBe('ww ls --addr ws://127.0.0.1:8420')
    expect(otherTerminals('tcp://127.0.0.1:9', [tcp, csv])).toBe("ww ls --addr tcp://127.0.0.1:9 --plugin '/p/tcp plugin.js'")
  })
})
