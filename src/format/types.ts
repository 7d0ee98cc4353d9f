/**
 * The formatter contract. A formatter turns a stream of records into text on an output
 * stream as they arrive: `begin()` once, `record(r)` per record, `end(summary)` once. It
 * writes synchronously through `out.write`; the caller owns backpressure (it watches the
 * stream's `writableNeedDrain` between records) and the closed-pipe case. Built-in formats are
 * `text`, `json` and `ndjson`; a plugin adds more by name (src/plugin.ts).
 */
import type { RoutingRecord } from '../record/record.js'

/** Where a formatter writes: `process.stdout`, a file stream, or a string collector in tests. */
export interface FormatOutput {
  /** Writes a chunk; the return value (false: past the high-water mark) is the caller's concern. */
  write(chunk: string): boolean | void
}

/** How a query ended, handed to `Formatter.end`. */
export interface QuerySummary {
  /** Records written. */
  count: number
  /** Milliseconds from the query's start to its end. */
  elapsedMs: number
  /** Set when the stream failed after it began: the output is incomplete. */
  error?: Error
}

/** Options every formatter factory receives. */
export interface FormatInit {
  /** Terminal width, when the output is a terminal (the text table may use it). @default undefined */
  columns?: number
  /**
   * Whether to style the output with ANSI codes. The command line decides (src/client/query.ts
   * formatInit): a terminal with colours, unless NO_COLOR; FORCE_COLOR forces it either way.
   * @default false
   */
  color?: boolean
  /**
   * The columns to show, by name (`--columns peer,host,meta.region`; the text format's names
   * are in its TEXT_COLUMNS, plus `meta.KEY`). A format may ignore it. @default undefined (the format's own)
   */
  fields?: readonly string[]
  /** `-o wide`: show more columns (text: SEQ, TTL, ADDRS). @default false */
  wide?: boolean
  /** `--no-headers`: leave out the header line. @default true */
  headers?: boolean
  /**
   * The `options` object the config file gives the plugin that provides this format
   * (docs/plugins.md#options); never set for built-in formats. @default undefined
   */
  options?: Readonly<Record<string, unknown>>
}

/** One query's output. Methods are called in order: begin, record*, end. */
export interface Formatter {
  /** Called before the first record (also for an empty result). */
  begin(): void
  /** Called once per record, in stream order. */
  record(r: RoutingRecord): void
  /** Called once after the last record, or after the stream failed (then `summary.error` is set). */
  end(summary: QuerySummary): void
}

/** Makes a formatter writing to `out`. Plugins export these by name. */
export type FormatterFactory = (out: FormatOutput, init?: FormatInit) => Formatter
