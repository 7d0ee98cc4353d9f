/**
 * MessagePack array headers read by hand, where a reader takes the items one at a time and
 * must not decode the whole array first: the items array of a `batch` frame (the client reads
 * the records straight from the bytes) and the body of a sync stream (the node checks one
 * heartbeat at a time). Each caller keeps its own checks of what the count may be.
 */

/** An array header: how many items follow and the byte where the first one starts. */
export interface ArrayHead {
  count: number
  at: number
}

/**
 * The MessagePack array header (fixarray, array 16 or array 32) at byte `pos` of `bytes`,
 * reading nothing at or past `end`: its count and where its items start; `'short'` when the
 * bytes end inside the header (or before it), undefined when the byte at `pos` starts no array.
 * The count is as written: the caller checks it against the bytes left and its own limits.
 */
export function readArrayHead(bytes: Uint8Array, pos = 0, end = bytes.length): ArrayHead | 'short' | undefined {
  if (pos >= end) return 'short'
  const h = bytes[pos]!
  if (h >= 0x90 && h <= 0x9f) return { count: h & 0x0f, at: pos + 1 }
  if (h === 0xdc) return pos + 3 > end ? 'short' : { count: (bytes[pos + 1]! << 8) | bytes[pos + 2]!, at: pos + 3 }
  if (h === 0xdd) {
    if (pos + 5 > end) return 'short'
    return { count: bytes[pos + 1]! * 0x100_0000 + ((bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!), at: pos + 5 }
  }
  return undefined
}
