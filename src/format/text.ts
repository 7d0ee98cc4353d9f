/**
 * `--format text` (the default): an aligned table with the columns PEER, SERVER, HOST, META;
 * AGE and SEEN before META when the records carry the node's `age`/`seen` (ms).
 *
 * Streaming and alignment pull against each other: the widths of a table are only known at
 * its end, but output must appear as records arrive. The rule used here:
 * - the first rows (up to `TEXT_FIRST_BATCH`, or all of them when the result is smaller) are
 *   held back and decide the widths of PEER and HOST;
 * - every later row is written at once with those widths; a later value wider than its
 *   column is never truncated, it pushes the rest of that row to the right;
 * - HOST is at most `TEXT_HOST_MAX` wide (longer names overflow as above), SERVER is fixed
 *   (16 hex digits) and META, the last column, is free.
 * META prints `key=value` pairs sorted by key; a value that is empty or holds spaces or quotes is
 * double-quoted (the query language's quoting). An empty host prints as `-`. An empty result
 * prints nothing at all.
 */
import type { RoutingRecord } from '../record/record.js'
import type { FormatInit, FormatOutput, Formatter, FormatterFactory } from './types.js'

/** How many rows are held back to decide the column widths. */
export const TEXT_FIRST_BATCH = 64
/** Widest the HOST column gets from the first batch. */
export const TEXT_HOST_MAX = 40

const GAP = '  '

/** Renders a meta map as `k=v k2="v 2"`, keys sorted. */
export function formatMeta(meta: Record<string, string>): string {
  return Object.keys(meta)
    .sort()
    .map((k) => `${quoteIfNeeded(k)}=${quoteIfNeeded(meta[k] ?? '')}`)
    .join(' ')
}

function quoteIfNeeded(s: string): string {
  if (s !== '' && !/[\s"\\=*]/.test(s)) return s
  return '"' + s.replace(/["\\]/g, (c) => '\\' + c) + '"'
}

/** A duration in ms as the AGE and SEEN columns show it: `0s`, `42s`, `5m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86_400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

// `age` / `seen` (ms) when the node sent them (View.iter with times), else undefined.
function timeOf(r: RoutingRecord, k: 'age' | 'seen'): string {
  const v = (r as RoutingRecord & { age?: unknown; seen?: unknown })[k]
  return typeof v === 'number' ? formatAge(v) : '-'
}

/** Creates the text formatter. */
export const text: FormatterFactory = (out: FormatOutput, init: FormatInit = {}): Formatter => {
  let held: RoutingRecord[] | undefined = []
  let peerW = 4
  let hostW = 4
  const bold = init.color === true ? (s: string) => `\u001b[1m${s}\u001b[22m` : (s: string) => s

  // AGE and SEEN appear when the first rows carry them (a node asked for times).
  let times = false
  const line = (peer: string, server: string, host: string, meta: string, age = '', seen = ''): string =>
    (peer.padEnd(peerW) + GAP + server.padEnd(16) + GAP + host.padEnd(hostW) + GAP + (times ? age.padEnd(4) + GAP + seen.padEnd(4) + GAP : '') + meta).trimEnd() + '\n'

  const row = (r: RoutingRecord): string => line(r.peer, r.server, r.host === '' ? '-' : r.host, formatMeta(r.meta), timeOf(r, 'age'), timeOf(r, 'seen'))

  const flush = (): void => {
    if (held === undefined) return
    const rows = held
    held = undefined
    if (rows.length === 0) return
    times = rows.some((r) => timeOf(r, 'age') !== '-')
    for (const r of rows) {
      peerW = Math.max(peerW, r.peer.length)
      hostW = Math.min(TEXT_HOST_MAX, Math.max(hostW, r.host.length))
    }
    let s = bold(line('PEER', 'SERVER', 'HOST', 'META', 'AGE', 'SEEN').trimEnd()) + '\n'
    for (const r of rows) s += row(r)
    out.write(s)
  }

  return {
    begin() {},
    record(r) {
      if (held !== undefined) {
        held.push(r)
        if (held.length >= TEXT_FIRST_BATCH) flush()
        return
      }
      out.write(row(r))
    },
    end() {
      flush()
    },
  }
}
