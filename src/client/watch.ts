/**
 * Printing a live query (`ww ls --watch`, the shell's `watch`): the events of `View.watch`
 * (docs/table.md#watch) as text or as one JSON object per event.
 *
 * - `text`: the initial matches as a table with an EVENT column left empty (widths decided
 *   by them, as `ww ls` does), then one line per change, `EVENT` first (`joined`,
 *   `updated`, `left`, `expired`, `unmatched`, `gone`; `×N` when it stands for N merged
 *   changes), like `kubectl get -w`.
 * - `json` / `ndjson`: one object per line: `{"event":"record",…record}` for each initial
 *   match, `{"event":"synced"}`, then `{"event":"joined",…record, "previous"?:{…},
 *   "coalesced"?:N}` (coalesced only when above 1).
 *
 * `gone` is the command line's own event, printed only after `--reconnect`: a peer that was
 * listed before the connection broke and is missing after it, cause unknown.
 */
import type { View, WatchEvent } from '../api.js'
import { formatMeta } from '../format/text.js'
import { recordObject } from '../format/ndjson.js'
import type { FormatInit, FormatOutput } from '../format/types.js'
import type { Statement } from '../lang/ast.js'
import type { RoutingRecord } from '../record/record.js'
import type { QuerySink } from './query.js'

/** An event as printed: a watch event, or `gone` (a peer lost across a reconnect). */
export type PrintedEvent = WatchEvent | { kind: 'gone'; record: RoutingRecord }

/** Prints watch events. */
export interface WatchPrinter {
  event(e: PrintedEvent): void
}

const GAP = '  '
const EVENT_W = 9 // "unmatched"
const HOST_MAX = 40

/** The text printer: a table of the initial matches, then one line per change. */
export function textWatchPrinter(out: FormatOutput, init: FormatInit = {}): WatchPrinter {
  let held: RoutingRecord[] | undefined = []
  let peerW = 4
  let hostW = 4
  let eventW = EVENT_W
  const bold = init.color === true ? (s: string) => `\u001b[1m${s}\u001b[22m` : (s: string) => s
  const line = (ev: string, r: { peer: string; server: string; host: string; meta: string }): string =>
    (ev.padEnd(eventW) + GAP + r.peer.padEnd(peerW) + GAP + r.server.padEnd(16) + GAP + r.host.padEnd(hostW) + GAP + r.meta).trimEnd() + '\n'
  const cells = (r: RoutingRecord): { peer: string; server: string; host: string; meta: string } => ({
    peer: r.peer,
    server: r.server,
    host: r.host === '' ? '-' : r.host,
    meta: formatMeta(r.meta),
  })
  return {
    event(e) {
      if (e.kind === 'record') {
        held?.push(e.record)
        return
      }
      if (held !== undefined) {
        // synced (or a change before it, which can't happen): the initial table, aligned.
        for (const r of held) {
          peerW = Math.max(peerW, r.peer.length)
          hostW = Math.min(HOST_MAX, Math.max(hostW, r.host.length))
        }
        if (e.kind !== 'synced') peerW = Math.max(peerW, e.record.peer.length)
        eventW = EVENT_W + 4 // room for ×NNN
        let s = bold(line('EVENT', { peer: 'PEER', server: 'SERVER', host: 'HOST', meta: 'META' }).trimEnd()) + '\n'
        for (const r of held) s += line('', cells(r))
        held = undefined
        out.write(s)
      }
      if (e.kind === 'synced') return
      const n = e.kind !== 'gone' && e.coalesced > 1 ? `×${e.coalesced}` : ''
      out.write(line(e.kind + n, cells(e.record)))
    },
  }
}

/** The JSON printer: one object per event and line (for `json` and `ndjson`). */
export function jsonWatchPrinter(out: FormatOutput): WatchPrinter {
  return {
    event(e) {
      if (e.kind === 'synced') {
        out.write('{"event":"synced"}\n')
        return
      }
      const o: Record<string, unknown> = { event: e.kind, ...recordObject(e.record) }
      if (e.kind !== 'record' && e.kind !== 'gone') {
        if (e.previous !== undefined) o.previous = recordObject(e.previous)
        if (e.coalesced > 1) o.coalesced = e.coalesced
      }
      out.write(JSON.stringify(o) + '\n')
    },
  }
}

/** The printer of a format name, or undefined for a format that can't print events. */
export function watchPrinter(format: string, out: FormatOutput, init?: FormatInit): WatchPrinter | undefined {
  if (format === 'text') return textWatchPrinter(out, init)
  if (format === 'json' || format === 'ndjson') return jsonWatchPrinter(out)
  return undefined
}

/** How one watch ended. */
export interface WatchRun {
  /** True once `synced` arrived. */
  synced: boolean
  /** The stream's error, unless `signal` stopped it. */
  error?: Error
}

/**
 * Runs `view.watch(statement)` into `printer` until `signal` fires, the stream fails, or
 * (a null View) it ends after `synced`,
 * waiting whenever `out` is full (the node merges what it can't send meanwhile).
 *
 * `known`, when given, is the match set printed so far (peer → record) and is kept current;
 * with `resync` the initial matches are compared with it instead of printed: only what
 * changed while away is printed (`joined`, `updated`, and `gone` for peers now missing).
 */
export async function runWatch(
  view: View,
  statement: Statement,
  printer: WatchPrinter,
  out: QuerySink,
  signal: AbortSignal,
  known: Map<string, RoutingRecord> = new Map(),
  resync = false,
): Promise<WatchRun> {
  const cursor = view.watch(statement, { signal })
  const seen = new Set<string>()
  let synced = false
  for (;;) {
    const e = await cursor.next()
    if (e === undefined) break
    if (e.kind === 'record') {
      if (resync) {
        seen.add(e.record.peer)
        const had = known.get(e.record.peer)
        known.set(e.record.peer, e.record)
        if (had === undefined) printer.event({ kind: 'joined', record: e.record, coalesced: 1 })
        else if (had.server !== e.record.server || had.host !== e.record.host || formatMeta(had.meta) !== formatMeta(e.record.meta)) {
          printer.event({ kind: 'updated', record: e.record, previous: had, coalesced: 1 })
        }
      } else {
        known.set(e.record.peer, e.record)
        printer.event(e)
      }
    } else if (e.kind === 'synced') {
      synced = true
      if (resync) {
        for (const [p, r] of known) {
          if (seen.has(p)) continue
          known.delete(p)
          printer.event({ kind: 'gone', record: r })
        }
      } else {
        printer.event(e)
      }
    } else {
      if (e.kind === 'joined' || e.kind === 'updated') known.set(e.record.peer, e.record)
      else known.delete(e.record.peer)
      printer.event(e)
    }
    if (out.needsDrain) await out.drain()
  }
  // A clean end comes only from a null View (synced, then end); a lost node is an error.
  const error = signal.aborted ? undefined : cursor.err()
  return error === undefined ? { synced } : { synced, error }
}
