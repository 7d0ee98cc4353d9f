/**
 * The piped shell (no TTY) against a real protocol server and table over the memory
 * transport: output per line, comments, meta-commands, the exit code of the first failing
 * line, --stop-on-error, quitting, and a stream that fails mid-way (exit 3).
 */
import { Readable, Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { FormatRegistry } from '../../src/format/index.js'
import { ShellCore } from '../../src/repl/core.js'
import { runPiped } from '../../src/repl/piped.js'
import { fakeRecord, localNode, type LocalNode } from './fixture.js'

function collector(onWrite?: (n: number) => void): Writable & { text: () => string } {
  let s = ''
  let n = 0
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      s += chunk.toString()
      onWrite?.(++n)
      cb()
    },
  }) as Writable & { text: () => string }
  w.text = () => s
  return w
}

describe('piped shell', () => {
  let node: LocalNode | undefined
  afterEach(async () => {
    await node?.close()
    node = undefined
  })

  async function run(lines: string[], opts: { records?: number; stopOnError?: boolean; onWrite?: (n: number) => void } = {}) {
    node = await localNode(Array.from({ length: opts.records ?? 4 }, (_, i) => fakeRecord(i)))
    const core = new ShellCore({ addr: node.url, format: 'ndjson', formats: FormatRegistry.withBuiltins(), transports: node.transports })
    const stdout = collector(opts.onWrite)
    const stderr = collector()
    const code = await runPiped(core, { input: Readable.from([lines.join('\n') + '\n']), stdout, stderr, stopOnError: opts.stopOnError })
    const records = stdout
      .text()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { host: string })
    return { code, out: stdout.text(), err: stderr.text(), hosts: records.map((r) => r.host) }
  }

  it('runs each line, skipping blanks and comments, and handles meta-commands', async () => {
    const r = await run(['# comment', '-- also a comment', '', 'ls LIMIT 2', '\\timing on', 'lookup WHERE role=db', '\\format text', 'ls LIMIT 1'])
    expect(r.code).toBe(0)
    expect(r.hosts).toEqual([fakeRecord(0).host, fakeRecord(1).host, fakeRecord(1).host])
    expect(r.err).toContain('timing is on')
    expect(r.out).not.toContain('timing is on')
    expect(r.out).toMatch(/PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META/)
    expect(r.err).toMatch(/\(1 record, [0-9.]+ ms\)/)
  })

  it('count QUERY prints the number of matches and explain QUERY the plan; several conditions run', async () => {
    const r = await run(['count ls', 'COUNT WHERE region!=us-east-1', 'explain WHERE region=eu* AND host!=*', 'count WHERE region IN (eu-west-1, ap-south-1) LIMIT 1', 'count WHERE'], { records: 9 })
    const lines = r.out.split('\n')
    const all = Array.from({ length: 9 }, (_, i) => fakeRecord(i))
    expect(lines[0]).toBe('9')
    expect(lines[1]).toBe(String(all.filter((x) => x.meta.region !== 'us-east-1').length))
    expect(r.out).toMatch(/plan\s+(ordered|materialized)/)
    expect(r.out).toMatch(/rows\s+estimated \d+, visited \d+, returned \d+/)
    expect(r.out).toContain('\n1\n')
    expect(r.code).toBe(1) // the last line is malformed: a caret, exit 1
    expect(r.err).toContain('^')
  })

  it('goes on after a failing line and exits with the first failure’s code', async () => {
    const r = await run(['ls WHERE', '\\format yaml', 'ls LIMIT 1'])
    expect(r.code).toBe(1)
    expect(r.hosts).toEqual([fakeRecord(0).host])
    expect(r.err).toContain('^')
    expect(r.err).toContain('unknown format "yaml"')
  })

  it('stops at the first failing line with stopOnError, and at \\q', async () => {
    const a = await run(['ls LIMIT 1', 'ls WHERE', 'ls LIMIT 2'], { stopOnError: true })
    expect(a.code).toBe(1)
    expect(a.hosts).toHaveLength(1)
    await node!.close()
    node = undefined
    const b = await run(['ls LIMIT 1', '\\q', 'ls LIMIT 2'])
    expect(b.code).toBe(0)
    expect(b.hosts).toHaveLength(1)
  })

  it('exits 3 when the stream fails after it began', async () => {
    let closing: Promise<void> | undefined
    const r = await run(['ls'], {
      records: 50_000,
      // The node goes away once output has started.
      onWrite: () => {
        closing ??= node!.server.close()
      },
    })
    await closing
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/the stream failed after \d+ records/)
    expect(r.hosts.length).toBeGreaterThan(0)
    expect(r.hosts.length).toBeLessThan(50_000)
  })
})
