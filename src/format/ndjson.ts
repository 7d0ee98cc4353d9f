/**
 * `--format ndjson`: one JSON object per line, fields in the order of docs/cli.md:
 * `{"peer","server","seq","ttl","host","meta"}`. Nothing else is written, not even for an
 * empty result, so `wc -l` counts records.
 */
import type { RoutingRecord } from '../record/record.js'
import type { FormatOutput, Formatter, FormatterFactory } from './types.js'

/** The record as a plain object with the fields in their documented order. */
export function recordObject(r: RoutingRecord): RoutingRecord {
  return { peer: r.peer, server: r.server, seq: r.seq, ttl: r.ttl, host: r.host, meta: r.meta }
}

/** Creates the ndjson formatter. */
export const ndjson: FormatterFactory = (out: FormatOutput): Formatter => ({
  begin() {},
  record(r) {
    out.write(JSON.stringify(recordObject(r)) + '\n')
  },
  end() {},
})
