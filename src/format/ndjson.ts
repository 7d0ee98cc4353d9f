/**
 * `--format ndjson`: one JSON object per line, fields in the order of docs/cli.md:
 * `{"peer","server","seq","ttl","host","meta"}`, then `"addrs"` when the record has addresses. Nothing else is written, not even for an
 * empty result, so `wc -l` counts records.
 */
import type { RoutingRecord } from '../record/record.js'
import type { FormatOutput, Formatter, FormatterFactory } from './types.js'

/** The record as a plain object with the fields in their documented order (`addrs` last, when it has any). */
export function recordObject(r: RoutingRecord): RoutingRecord {
  const o: RoutingRecord = { peer: r.peer, server: r.server, seq: r.seq, ttl: r.ttl, host: r.host, meta: r.meta }
  if (r.addrs !== undefined) o.addrs = r.addrs
  return o
}

/** Creates the ndjson formatter. */
export const ndjson: FormatterFactory = (out: FormatOutput): Formatter => ({
  begin() {},
  record(r) {
    out.write(JSON.stringify(recordObject(r)) + '\n')
  },
  end() {},
})
