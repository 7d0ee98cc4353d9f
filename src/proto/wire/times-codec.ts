/**
 * The client's check of `age` and `seen`, the optional keys a node adds to a record of an
 * `iter` stream and to a watch event when asked with `times: true` (docs/protocol.md,
 * "Age and last-seen"). One rule for both: absent or nil means "not known"; anything else must
 * be a whole number of ms from 0 to 2^53 − 1, or the frame is bad (ERR_BAD_FRAME).
 */
import type { WatchTimes } from '../../api.js'
import { WwError } from '../../errors.js'
import { ERR_BAD_FRAME } from './frames.js'

const KEYS = ['age', 'seen'] as const

/**
 * Checks `from`'s `age` and `seen` and sets the valid ones on `to`; a nil one is left off
 * `to` (deleted, when `to` is `from`). `what` names the carrier in the error ("record",
 * "watch event"). Throws WwError ERR_BAD_FRAME.
 */
export function decodeTimes(from: Record<string, unknown>, to: WatchTimes, what: string): void {
  for (const k of KEYS) {
    const x = from[k]
    if (x === undefined) continue
    if (x === null) {
      delete to[k]
      continue
    }
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new WwError(ERR_BAD_FRAME, `the node sent a ${what} whose '${k}' is not a whole number of ms`)
    to[k] = x
  }
}
