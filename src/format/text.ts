/**
 * `--format text` (the default): an aligned table. Its columns come from a small column
 * model (`TEXT_COLUMNS`, `textColumn`):
 * - by default PEER, SERVER, HOST, META; AGE and SEEN before META when the records carry the
 *   node's `age`/`seen` (ms);
 * - `wide` (`-o wide`) adds SEQ and TTL after HOST and ADDRS (the record's dialable
 *   multiaddrs, comma-separated) at the end;
 * - `fields` (`--columns peer,host,meta.region`) names the columns and their order; `meta.KEY`
 *   is one meta value (header `KEY` upper-cased, or `META.KEY` when that is a built-in name).
 *   An unknown name is ERR_UNKNOWN_COLUMN;
 * - `headers: false` (`--no-headers`) leaves the header line out.
 *
 * Streaming and alignment pull against each other: the widths of a table are only known at
 * its end, but output must appear as records arrive. The rule used here:
 * - the first rows (up to `TEXT_FIRST_BATCH`, or all of them when the result is smaller) are
 *   held back and decide the width of every column but the last; HOST is at most
 *   `TEXT_HOST_MAX` wide, META and ADDRS at most `TEXT_WIDE_MAX` when not last;
 * - every later row is written at once with those widths; a later value wider than its
 *   column is never truncated, it pushes the rest of that row to the right;
 * - the last column is not padded.
 * META prints `key=value` pairs sorted by key; a value that is empty or holds spaces or quotes is
 * double-quoted (the query language's quoting), and an empty map prints nothing. Any other
 * empty or absent value prints as `-`. An
 * empty result prints nothing at all. With `color`, the header is bold and `-` is dim
 * (node:util styleText; whether to colour is the caller's decision, see FormatInit.color).
 */
import { styleText } from 'node:util'
import { WwError } from '../errors.js'
import type { RoutingRecord } from '../record/record.js'
import type { FormatInit, FormatOutput, Formatter, FormatterFactory } from './types.js'

/** How many rows are held back to decide the column widths. */
export const TEXT_FIRST_BATCH = 64
/** Widest the HOST column gets from the first batch. */
export const TEXT_HOST_MAX = 40
/** Widest META or ADDRS gets from the first batch when another column follows it. */
export const TEXT_WIDE_MAX = 80

/** A column name in `--columns` that is neither a built-in column nor `meta.KEY`. */
export const ERR_UNKNOWN_COLUMN = 'ERR_UNKNOWN_COLUMN'

const GAP = '  '
const ABSENT = '-'

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

/** A TTL in ms as the TTL column shows it: `500ms` below a second, else as `formatAge`. */
export function formatTtl(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatAge(ms)
}

// `age` / `seen` (ms) when the node sent them (View.iter with times), else undefined.
function timeOf(r: RoutingRecord, k: 'age' | 'seen'): string {
  const v = (r as RoutingRecord & { age?: unknown; seen?: unknown })[k]
  return typeof v === 'number' ? formatAge(v) : ABSENT
}

/** One column of the text table. */
export interface TextColumn {
  /** Its name in `--columns`: `peer`, `meta.region`. */
  readonly name: string
  /** The header line's label. */
  readonly header: string
  /** The cell of one record; `-` when the record has no such value. */
  cell(r: RoutingRecord): string
  /** Widest the first batch may make it when it is not the last column. @default unbounded */
  readonly max?: number
}

const BUILTIN: Record<string, Omit<TextColumn, 'name'>> = {
  peer: { header: 'PEER', cell: (r) => r.peer },
  server: { header: 'SERVER', cell: (r) => r.server },
  host: { header: 'HOST', cell: (r) => (r.host === '' ? ABSENT : r.host), max: TEXT_HOST_MAX },
  seq: { header: 'SEQ', cell: (r) => String(r.seq) },
  ttl: { header: 'TTL', cell: (r) => formatTtl(r.ttl) },
  age: { header: 'AGE', cell: (r) => timeOf(r, 'age') },
  seen: { header: 'SEEN', cell: (r) => timeOf(r, 'seen') },
  meta: { header: 'META', cell: (r) => formatMeta(r.meta), max: TEXT_WIDE_MAX },
  addrs: { header: 'ADDRS', cell: (r) => (r.addrs !== undefined && r.addrs.length > 0 ? r.addrs.join(',') : ABSENT), max: TEXT_WIDE_MAX },
}

/** The built-in column names `--columns` takes, besides `meta.KEY`. */
export const TEXT_COLUMNS: readonly string[] = Object.keys(BUILTIN)

/** The column called `name` (`host`, `meta.region`); throws ERR_UNKNOWN_COLUMN for any other name. */
export function textColumn(name: string): TextColumn {
  const b = Object.hasOwn(BUILTIN, name) ? BUILTIN[name] : undefined
  if (b !== undefined) return { name, ...b }
  if (name.startsWith('meta.') && name.length > 'meta.'.length) {
    const key = name.slice('meta.'.length)
    const bare = key.toUpperCase()
    const header = Object.values(BUILTIN).some((c) => c.header === bare) ? name.toUpperCase() : bare
    return { name, header, cell: (r) => (Object.hasOwn(r.meta, key) ? r.meta[key]! || '""' : ABSENT), max: TEXT_WIDE_MAX }
  }
  throw new WwError(ERR_UNKNOWN_COLUMN, `unknown column ${JSON.stringify(name)} (known: ${TEXT_COLUMNS.join(', ')}, meta.KEY)`)
}

/**
 * The column names of a `--columns` value: comma-separated, blanks around names ignored, at
 * least one. Throws ERR_UNKNOWN_COLUMN naming the first bad one.
 */
export function parseColumns(spec: string): string[] {
  const names = spec.split(',').map((s) => s.trim())
  if (names.length === 0 || names.some((n) => n === '')) {
    throw new WwError(ERR_UNKNOWN_COLUMN, `--columns takes comma-separated column names, got ${JSON.stringify(spec)} (known: ${TEXT_COLUMNS.join(', ')}, meta.KEY)`)
  }
  for (const n of names) textColumn(n)
  return names
}

/** The columns a table shows: `fields` when given, else the default or wide set (AGE/SEEN only when `times`). */
export function textColumns(init: Pick<FormatInit, 'fields' | 'wide'>, times: boolean): TextColumn[] {
  if (init.fields !== undefined && init.fields.length > 0) return init.fields.map(textColumn)
  const names = ['peer', 'server', 'host', ...(init.wide === true ? ['seq', 'ttl'] : []), ...(times ? ['age', 'seen'] : []), 'meta', ...(init.wide === true ? ['addrs'] : [])]
  return names.map(textColumn)
}

/** Creates the text formatter. */
export const text: FormatterFactory = (out: FormatOutput, init: FormatInit = {}): Formatter => {
  // Checked now, not at the first record: a bad --columns fails before anything is printed.
  if (init.fields !== undefined) init.fields.forEach(textColumn)
  let held: RoutingRecord[] | undefined = []
  let cols: TextColumn[] = []
  let widths: number[] = []
  const color = init.color === true
  const bold = color ? (s: string) => styleText('bold', s, { validateStream: false }) : (s: string) => s
  const dim = color ? (s: string) => (s === ABSENT ? styleText('dim', s, { validateStream: false }) : s) : (s: string) => s

  // Pads by the visible text, so a styled `-` lines up like a plain one.
  const line = (cells: string[], style: (s: string) => string): string => {
    let s = ''
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i]!
      const last = i === cells.length - 1
      s += style(c) + (last ? '' : ' '.repeat(Math.max(0, widths[i]! - c.length)) + GAP)
    }
    return s.trimEnd() + '\n'
  }
  const row = (r: RoutingRecord): string => line(cols.map((c) => c.cell(r)), dim)

  const flush = (): void => {
    if (held === undefined) return
    const rows = held
    held = undefined
    if (rows.length === 0) return
    cols = textColumns(init, rows.some((r) => timeOf(r, 'age') !== ABSENT))
    widths = cols.map((c) => c.header.length)
    const cells = rows.map((r) => cols.map((c) => c.cell(r)))
    for (const cs of cells) {
      cs.forEach((v, i) => {
        widths[i] = Math.max(widths[i]!, Math.min(cols[i]!.max ?? Infinity, v.length))
      })
    }
    let s = init.headers === false ? '' : bold(line(cols.map((c) => c.header), (h) => h).trimEnd()) + '\n'
    for (const cs of cells) s += line(cs, dim)
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
