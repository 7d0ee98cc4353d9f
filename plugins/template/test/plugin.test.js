// The plugin's own tests, run by its own vitest (`npm test`): the transport conformance suite
// that ww exports, plus the formatter.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { transportConformance } from 'ww/transport/conformance'
import plugin, { tsvFormatter, unixTransport } from '../index.js'

// Every test gets a fresh folder; a URL ending in `/` makes a fresh socket per listen().
transportConformance('unix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-unix-'))
  return {
    transport: unixTransport(),
    listenUrl: `unix://${dir}/`,
    teardown: async () => rmSync(dir, { recursive: true, force: true }),
  }
})

describe('tsv format', () => {
  /**
   * @param {import('ww/plugin').RoutingRecord[]} records
   * @param {import('ww/plugin').FormatInit} [init]
   */
  function run(records, init) {
    let text = ''
    const f = tsvFormatter({ write: (s) => void (text += s) }, init)
    f.begin()
    for (const r of records) f.record(r)
    f.end({ count: records.length, elapsedMs: 1 })
    return text
  }
  /** @param {string} host @param {Record<string, string>} meta @returns {import('ww/plugin').RoutingRecord} */
  const rec = (host, meta) => ({ peer: '12D3KooWexample', server: 'abc', seq: 1, ttl: 10_000, host, meta })

  it('writes a header, then one escaped line per record', () => {
    expect(run([rec('web-1', { role: 'web', az: 'a' }), rec('odd\thost', {})])).toBe(
      'peer\thost\tmeta\n12D3KooWexample\tweb-1\trole=web,az=a\n12D3KooWexample\todd\\thost\t\n',
    )
  })

  it('leaves the header out with --no-headers', () => {
    expect(run([], { headers: false })).toBe('')
  })

  it('is what the default export registers, beside the unix transport', () => {
    expect(plugin.formatters.tsv).toBe(tsvFormatter)
    expect(plugin.transports.unix).toBe(unixTransport)
    expect(unixTransport().schemes).toEqual(['unix'])
  })
})
