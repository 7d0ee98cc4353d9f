/**
 * The csv plugin: RFC 4180 quoting, header and streaming rules, and loading it through the
 * plugin loader into the format registry.
 */
import { describe, expect, it } from 'vitest'
import { loadPlugins } from '../src/client/plugins.js'
import { FormatRegistry } from '../src/format/index.js'
import type { RoutingRecord } from '../src/record/record.js'
import plugin, { csvField, csvFormatter } from './csv.js'

const rec = (i: number, host: string, meta: Record<string, string>): RoutingRecord => ({
  peer: `12D3KooWpeer${i}`,
  server: '00000000000000' + String(i).padStart(2, '0'),
  seq: 1000 + i,
  ttl: 10000,
  host,
  meta,
})

function run(records: RoutingRecord[], headerRows?: number): string {
  let s = ''
  const f = csvFormatter(headerRows === undefined ? {} : { headerRows })({ write: (c: string) => void (s += c) })
  f.begin()
  for (const r of records) f.record(r)
  f.end({ count: records.length, elapsedMs: 1 })
  return s
}

describe('csv plugin', () => {
  it('quotes per RFC 4180', () => {
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('two\nlines')).toBe('"two\nlines"')
    expect(csvField('cr\rhere')).toBe('"cr\rhere"')
    expect(csvField(42)).toBe('42')
  })

  it('writes a header from the first records, CRLF lines, meta columns sorted', () => {
    const out = run([rec(1, 'web-1', { role: 'web', region: 'us-east-1' }), rec(2, 'db,1', { region: 'eu "west"' })])
    expect(out).toBe(
      'peer,server,seq,ttl,host,meta.region,meta.role,meta\r\n' +
        '12D3KooWpeer1,0000000000000001,1001,10000,web-1,us-east-1,web,\r\n' +
        '12D3KooWpeer2,0000000000000002,1002,10000,"db,1","eu ""west""",,\r\n',
    )
  })

  it('keeps keys first seen after the header in the last column', () => {
    const out = run([rec(1, 'a', { x: '1' }), rec(2, 'b', { x: '2', late: 'v' })], 1)
    expect(out.split('\r\n')).toEqual(['peer,server,seq,ttl,host,meta.x,meta', '12D3KooWpeer1,0000000000000001,1001,10000,a,1,', '12D3KooWpeer2,0000000000000002,1002,10000,b,2,late=v', ''])
  })

  it('writes only the header for an empty result', () => {
    expect(run([])).toBe('peer,server,seq,ttl,host,meta\r\n')
  })

  it('registers its format through the plugin loader', async () => {
    const formats = FormatRegistry.withBuiltins()
    await loadPlugins([new URL('./csv.js', import.meta.url).pathname], { formats })
    expect(formats.names()).toContain('csv')
    expect(plugin.name).toBe('csv')
  })
})
