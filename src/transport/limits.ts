/**
 * The bounds every built-in transport shares, with their defaults. A transport's `…Init`
 * extends ConnectionLimits, so the same knobs mean the same thing on every scheme.
 */

/** Per-connection bounds and timeouts. */
export interface ConnectionLimits {
  /**
   * Outgoing bytes queued (not yet handed to the OS, or in memory not yet accepted by the
   * peer) at or past which `send()` returns false.
   * @default 1048576 (1 MiB)
   */
  highWaterMark?: number
  /**
   * Received frames queued for the reader at which the transport stops reading.
   * @default 64
   */
  readBufferFrames?: number
  /**
   * Received bytes queued for the reader at which the transport stops reading.
   * @default 4194304 (4 MiB)
   */
  readBufferBytes?: number
  /**
   * Largest frame accepted, both ways: `send()` throws ERR_FRAME_TOO_LARGE above it, and a
   * larger incoming frame closes the connection with ERR_FRAME_TOO_LARGE.
   * @default 4194304 (4 MiB)
   */
  maxPayload?: number
  /**
   * Milliseconds a graceful `close()` waits for the peer before the connection is dropped
   * (the peer may not be reading, so the close cannot be delivered).
   * @default 30000
   */
  closeTimeout?: number
}

/** ConnectionLimits with every default filled in. */
export type ResolvedLimits = Required<ConnectionLimits>

/** Default high-water mark of the outgoing buffer: 1 MiB. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20
/** Default read-buffer pause threshold in frames. */
export const DEFAULT_READ_BUFFER_FRAMES = 64
/** Default read-buffer pause threshold in bytes: 4 MiB. */
export const DEFAULT_READ_BUFFER_BYTES = 4 << 20
/** Default largest frame: 4 MiB. */
export const DEFAULT_MAX_PAYLOAD = 4 << 20
/** Default graceful-close timeout: 30 s. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000

/** Fills in defaults and checks the numbers are usable. */
export function resolveLimits(init: ConnectionLimits = {}): ResolvedLimits {
  const limits: ResolvedLimits = {
    highWaterMark: init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    readBufferFrames: init.readBufferFrames ?? DEFAULT_READ_BUFFER_FRAMES,
    readBufferBytes: init.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES,
    maxPayload: init.maxPayload ?? DEFAULT_MAX_PAYLOAD,
    closeTimeout: init.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
  }
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < (k === 'readBufferBytes' ? 0 : 1)) {
      throw new RangeError(`transport option ${k} must be a positive integer, got ${String(v)}`)
    }
  }
  return limits
}

/**
 * The read queue's hard bound: the pause threshold, plus one maximal frame (a transport may
 * be mid-frame when it pauses), plus 1 MiB for frames the transport had already read from the
 * OS when it paused. Reaching it resets the connection with ERR_READ_BUFFER_FULL.
 */
export function hardReadBound(limits: ResolvedLimits): number {
  return limits.readBufferBytes + limits.maxPayload + (1 << 20)
}
