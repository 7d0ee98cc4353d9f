/**
 * The shell's expanded display (`\x`, as psql's): each record as a block of `field | value`
 * lines under a `-[ RECORD n ]-` header, for records too wide for one table row. Fields in
 * the order of the text table — peer, server, host, seq, ttl, age and seen (when the node
 * sent them), addrs — then one line per meta key (`meta.KEY`), keys sorted. Streams like the
 * other formats: each record is written as it arrives; the field column is as wide as the
 * widest name of that record.
 */
import type { RoutingRecord } from '../record/record.js'
import { formatAge } from '../format/text.js'
import type { FormatInit, FormatOutput, Formatter, FormatterFactory } from '../format/types.js'

/** The `field`/`value` pairs of one record, in display order. */
export function expandedFields(r: RoutingRecord): Array<[string, string]> {
  const t = r as RoutingRecord & { age?: unknown; seen?: unknown }
  const out: Array<[string, string]> = [
    ['peer', r.peer],
    ['server', r.server],
    ['host', r.host === '' ? '-' : r.host],
    ['seq', String(r.seq)],
    ['ttl', String(r.ttl)],
  ]
  if (typeof t.age === 'number') out.push(['age', formatAge(t.age)])
  if (typeof t.seen === 'number') out.push(['seen', formatAge(t.seen)])
  if (r.addrs !== undefined && r.addrs.length > 0) out.push(['addrs', r.addrs.join(' ')])
  for (const k of Object.keys(r.meta).sort()) out.push([`meta.${k}`, r.meta[k] ?? ''])
  return out
}

// Control characters in a value would move the cursor or recolour the terminal.
const visible = (s: string): string => s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

/** Creates the expanded formatter. */
export const expanded: FormatterFactory = (out: FormatOutput, init: FormatInit = {}): Formatter => {
  let n = 0
  const bold = init.color === true ? (s: string) => `\u001b[1m${s}\u001b[22m` : (s: string) => s
  return {
    begin() {},
    record(r) {
      n++
      const fields = expandedFields(r)
      const w = Math.max(...fields.map(([k]) => k.length))
      let s = bold(`-[ RECORD ${n} ]${'-'.repeat(Math.max(3, w - 8))}`) + '\n'
      for (const [k, v] of fields) s += `${k.padEnd(w)} | ${visible(v)}\n`
      out.write(s)
    },
    end() {},
  }
}
