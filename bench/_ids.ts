/**
 * Peer IDs for benchmarks: distinct, valid base58btc text of realistic length, made from a
 * counter so a run is repeatable. (A leading underscore keeps bench/run.ts from running it.)
 */

/** The base58btc alphabet of peer IDs. */
export const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** How {@link benchPeer} spells a counter. */
export interface BenchPeerShape {
  /** Base-58 digits of the counter. @default 10 */
  digits?: number
  /** Text between `12D3KooW` and the digits. @default '' */
  pad?: string
  /** Text after the digits. @default 'Xy7qZ' */
  tail?: string
}

/** The `i`-th peer ID: `12D3KooW`, the pad, `i` in base 58, the tail. */
export function benchPeer(i: number, shape: BenchPeerShape = {}): string {
  let s = ''
  let n = i
  for (let k = 0; k < (shape.digits ?? 10); k++) {
    s = B58[n % 58] + s
    n = Math.floor(n / 58)
  }
  return `12D3KooW${shape.pad ?? ''}${s}${shape.tail ?? 'Xy7qZ'}`
}
