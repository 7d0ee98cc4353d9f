/**
 * `ww ls` streaming against a real in-process node with a large table: the whole result
 * arrives, a node killed mid-stream gives exit 3, and a closed pipe (`| head -1`) ends
 * quietly with exit 0. Also the query text rule (`queryText`).
 */
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { queryText } from '../../src/client/query.js'
import { startNode, type Node } from '../../src/node/node.js'
import { fillTable, ROOT, tempHome, wwArgv, wwEnv } from './helpers.js'
import { reap, spawnGroup } from '../procs.js'

const N = 100_000
const home = tempHome()
let node: Node

/** The command line that runs `ww args`, quoted for bash. */
function shellWw(args: string[]): string {
  return [process.execPath, ...wwArgv(args)].map((a) => `'${a}'`).join(' ')
}

/** Runs a bash pipeline in the repo with the test's private config home; its whole output. */
async function bash(cmd: string): Promise<{ out: string; err: string }> {
  const { child, exited } = spawnGroup('bash', ['-c', cmd], { cwd: ROOT, env: wwEnv(home.dir) })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  await exited
  return { out, err }
}

beforeAll(async () => {
  node = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home.dir, 'node.key'), host: 'big', meta: { role: 'big' } })
  fillTable(node.table, N)
}, 60_000)

afterEach(reap)

afterAll(async () => {
  await node?.kill()
  home.cleanup()
})

describe('queryText', () => {
  it('joins the words; lookup is implied for ww lookup', () => {
    expect(queryText('ls', ['WHERE', 'region=us-east-1', 'LIMIT', '3'])).toBe('WHERE region=us-east-1 LIMIT 3')
    expect(queryText('lookup', ['WHERE', 'host=a'])).toBe('lookup WHERE host=a')
    expect(queryText('lookup', [])).toBe('lookup')
    expect(queryText('lookup', ['LOOKUP', 'WHERE', 'host=a'])).toBe('LOOKUP WHERE host=a')
  })
})

describe('ww ls --count and ww explain', () => {
  it('print the node\'s count and plan; several conditions work from the command line', async () => {
    const q = ['WHERE', 'host!=big', 'AND', 'n', 'IN', '(1,', '2*)']
    const want = node.table.count(q.join(' '))
    expect(want).toBeGreaterThan(0)
    const c = await bash(`${shellWw(['ls', '--count', '--addr', node.addr!, ...q])}; echo "exit=$?"`)
    expect(c.out).toBe(`${want}\nexit=0\n`)
    const e = await bash(`${shellWw(['explain', '--addr', node.addr!, ...q])}; echo "exit=$?"`)
    expect(e.out).toMatch(/^query +ls WHERE host!=big AND n IN \(1, 2\*\)\nplan +(ordered|materialized)/)
    expect(e.out).toContain(`returned ${want}`)
    expect(e.out).toContain('exit=0')
    const j = await bash(shellWw(['explain', '--format', 'json', '--addr', node.addr!, 'WHERE', 'role=big']))
    expect(JSON.parse(j.out)).toMatchObject({ plan: 'range', index: 'meta.role', actualRows: node.table.count('WHERE role=big') })
  }, 60_000)
})

describe('ww ls on a large table', () => {
  it('streams every record', async () => {
    const { child, exited } = spawnGroup(process.execPath, wwArgv(['ls', '--addr', node.addr!, '--format', 'ndjson']), { cwd: ROOT, env: wwEnv(home.dir) })
    let lines = 0
    let tail = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (tail + d).split('\n')
      tail = parts.pop()!
      lines += parts.length
    })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const code = await exited
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(lines).toBe(N + 1)
  }, 60_000)

  it('ends quietly with exit 0 when the reader closes the pipe (| head -1)', async () => {
    const { out, err } = await bash(`${shellWw(['ls', '--addr', node.addr!, '--format', 'ndjson'])} | head -1; echo "rc=\${PIPESTATUS[0]}"`)
    const lines = out.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(JSON.parse(lines[0]!)).toHaveProperty('peer')
    expect(lines[1]).toBe('rc=0')
    expect(err).toBe('')
  }, 60_000)
})

describe('a closed pipe on other output', () => {
  it('`ww --help | head -c 1` ends quietly with exit 0, not an EPIPE crash', async () => {
    // The help text is larger than a pipe takes in one write once the reader is gone.
    const { out, err } = await bash(`for i in 1 2 3; do ${shellWw(['--help'])} | head -c 1 >/dev/null; echo "rc=\${PIPESTATUS[0]}"; done`)
    expect(out.trim().split('\n')).toEqual(['rc=0', 'rc=0', 'rc=0'])
    expect(err).not.toMatch(/EPIPE|Unhandled/)
  }, 60_000)
})

describe('exit code 3', () => {
  it('is given when the node dies mid-stream', async () => {
    // A node of its own, killed while the client is in the middle of its result.
    const victim = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home.dir, 'victim.key'), host: 'victim' })
    try {
      fillTable(victim.table, N)
      const { child, exited: closed } = spawnGroup(process.execPath, wwArgv(['ls', '--addr', victim.addr!, '--format', 'ndjson']), { cwd: ROOT, env: wwEnv(home.dir) })
      let got = 0
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      child.stdout!.on('data', (d: Buffer) => {
        got += d.length
      })
      await vi.waitFor(() => expect(got > 0, 'the first records').toBe(true), { timeout: 15_000 })
      // Stop reading: the client blocks on its full pipe, with most of the result still to come.
      child.stdout!.pause()
      await victim.kill()
      child.stdout!.resume()
      const code = await closed
      expect(code).toBe(3)
      expect(stderr).toMatch(/the stream failed after \d+ records/)
      expect(stderr).toContain('ERR_')
      expect(stderr).not.toMatch(/\n\s+at /)
    } finally {
      await victim.kill()
    }
  }, 60_000)
})
