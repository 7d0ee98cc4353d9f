/**
 * The wire form of a watch event (docs/protocol.md#watch): the MessagePack map
 * `{kind, record?, previous?, coalesced?, age?, seen?}`, records as in an `iter` stream. The node
 * writes events with `writeWatchEvent` (records through the record codec's writer, not the
 * generic encoder); `decodeWatchEvent` is the client's check of what arrives.
 */
import type { WatchEvent, WatchEventKind, WatchTimes } from '../../api.js'
import type { RoutingRecord } from '../../record/record.js'
import { WwError } from '../../errors.js'
import { type ByteSink, encodeItem, ERR_BAD_FRAME, putByte, putBytes } from './frames.js'
import { decodeRecord, writeRecord, writeUint } from './record-codec.js'
import { decodeTimes } from './times-codec.js'

const CHANGES = new Set<string>(['joined', 'updated', 'left', 'expired', 'unmatched'])

/** Checks one received watch event (throws ERR_BAD_FRAME). Keys a later node may add are ignored. */
export function decodeWatchEvent(v: unknown): WatchEvent {
  const e = v as Record<string, unknown> | null
  if (typeof e !== 'object' || e === null || typeof e.kind !== 'string') throw new WwError(ERR_BAD_FRAME, 'the node sent a watch event without a kind')
  if (e.kind === 'synced') return { kind: 'synced' }
  if (e.kind === 'record') return withTimes(e, { kind: 'record', record: decodeRecord(e.record) })
  if (!CHANGES.has(e.kind)) throw new WwError(ERR_BAD_FRAME, `the node sent a watch event of unknown kind '${e.kind.slice(0, 32)}'`)
  const n = e.coalesced ?? 1
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new WwError(ERR_BAD_FRAME, "the node sent a watch event whose 'coalesced' is not a whole number ≥ 1")
  const out: WatchEvent = { kind: e.kind as WatchEventKind, record: decodeRecord(e.record), coalesced: n }
  if (e.previous !== undefined && e.previous !== null) out.previous = decodeRecord(e.previous)
  return withTimes(e, out)
}

// `age` and `seen` (asked with `times`), by the rule records of `iter` follow too.
function withTimes(e: Record<string, unknown>, out: WatchEvent & WatchTimes): WatchEvent {
  decodeTimes(e, out, 'watch event')
  return out
}

// Keys and kinds as MessagePack strings, encoded once.
const K = {
  kind: encodeItem('kind'),
  record: encodeItem('record'),
  previous: encodeItem('previous'),
  coalesced: encodeItem('coalesced'),
  age: encodeItem('age'),
  seen: encodeItem('seen'),
}
const KIND_BYTES = new Map(['record', 'synced', ...CHANGES].map((k) => [k, encodeItem(k)]))
const KNOWN = new Set(Object.keys(K))



const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Appends the MessagePack bytes of one watch event to `out` (an ItemWriter): the same map the
 * generic encoder would write (keys whose value is undefined left out), with its records
 * written by the record codec. An event of another shape (a key this codec does not know, a
 * count that is not a whole number) is handed to the generic encoder, so nothing is lost.
 */
export function writeWatchEvent(e: WatchEvent, out: ByteSink): void {
  const x = e as unknown as Record<string, unknown>
  const kind = KIND_BYTES.get(x.kind as string)
  let n = 0
  let plain = kind !== undefined
  for (const k in x) {
    const v = x[k]
    if (v === undefined) continue
    n++
    if (!KNOWN.has(k) || ((k === 'coalesced' || k === 'age' || k === 'seen') && !isUint(v)) || ((k === 'record' || k === 'previous') && (typeof v !== 'object' || v === null))) plain = false
  }
  if (!plain) {
    putBytes(out, encodeItem(e))
    return
  }
  putByte(out, 0x80 | n) // at most 6 entries: a fixmap
  putBytes(out, K.kind)
  putBytes(out, kind!)
  for (const k in x) {
    const v = x[k]
    if (v === undefined || k === 'kind') continue
    putBytes(out, K[k as keyof typeof K])
    if (k === 'record' || k === 'previous') writeRecord(v as RoutingRecord, out)
    else writeUint(v as number, out)
  }
}
