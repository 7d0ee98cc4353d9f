/** Sample records shared by the formatter tests. */
import type { FormatInit } from '../../src/format/types.js'
import type { RoutingRecord } from '../../src/record/record.js'

/** A valid record with a predictable peer ID, server and meta. */
export function sample(i: number, host = `host-${i}`, meta: Record<string, string> = { region: 'us-east-1', role: i % 2 === 0 ? 'web' : 'db' }): RoutingRecord {
  return {
    peer: `12D3KooW${'ABCDEFGHJKLMNPQRSTUVWXYZ'[i % 24]!.repeat(44)}`,
    server: i.toString(16).padStart(16, '0'),
    seq: 1_700_000_000_000_000 + i,
    ttl: 10_000,
    host,
    meta,
  }
}

/** Runs a formatter over records into a string. */
export function render(
  factory: (out: { write(s: string): void }, init?: FormatInit) => {
    begin(): void
    record(r: RoutingRecord): void
    end(s: { count: number; elapsedMs: number; error?: Error }): void
  },
  records: RoutingRecord[],
  opts: { error?: Error; color?: boolean; init?: FormatInit } = {},
): { text: string; writes: string[] } {
  const writes: string[] = []
  const f = factory({ write: (s: string) => void writes.push(s) }, { color: opts.color, ...opts.init })
  f.begin()
  for (const r of records) f.record(r)
  f.end({ count: records.length, elapsedMs: 1, ...(opts.error !== undefined ? { error: opts.error } : {}) })
  return { text: writes.join(''), writes }
}
