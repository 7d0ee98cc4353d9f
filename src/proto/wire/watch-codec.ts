/**
 * The wire form of a watch event (docs/protocol.md#watch): the MessagePack map
 * `{kind, record?, previous?, coalesced?, age?, seen?}`, records as in an `iter` stream. The node sends
 * the event objects as they are; this is the client's check of what arrives.
 */
import type { WatchEvent, WatchEventKind, WatchTimes } from '../../api.js'
import { WwError } from '../../errors.js'
import { ERR_BAD_FRAME } from './frames.js'
import { decodeRecord } from './record-codec.js'
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
