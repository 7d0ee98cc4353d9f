/**
 * The bounded read buffer every built-in transport puts between the network and the reader.
 *
 * It is pure flow control (no sockets), so it is tested on its own. The transport pushes
 * each arriving frame; the queue asks the transport to stop reading (`onPause`) once it holds
 * `maxFrames` frames or `maxBytes` bytes, and to read again (`onResume`) once the reader has
 * brought it down to half of both. Pausing is how backpressure reaches the sender: a paused
 * socket stops reading, the kernel buffers fill, and the sender's writes stop completing.
 *
 * A transport cannot always stop on the spot (ws, for one, still delivers the frames of a
 * chunk it already read), so the queue accepts frames past the pause thresholds up to a hard
 * bound, `hardMaxBytes`, counted as payload bytes plus FRAME_OVERHEAD per frame (so a flood
 * of empty frames is bounded too). Past it, `push` refuses the frame and the transport resets
 * the connection with ERR_READ_BUFFER_FULL: the written overflow policy is "reset", never
 * "grow".
 *
 * It is the shared {@link BoundedQueue} (src/queue.ts) with that policy: `'refuse'` past
 * `hardMaxBytes`, pause at `maxFrames`/`maxBytes`, resume at half of both.
 */
import { BoundedQueue } from '../queue.js'

/** Bytes charged per queued frame on top of its payload, for the hard bound. */
export const FRAME_OVERHEAD = 32

/** Limits and callbacks of a FrameQueue. */
export interface FrameQueueInit {
  /** Pause reading at this many queued frames (≥ 1); resume at half. */
  maxFrames: number
  /** Pause reading at this many queued payload bytes (≥ 0); resume at half. */
  maxBytes: number
  /**
   * Refuse frames past this many accounted bytes (payload + FRAME_OVERHEAD per frame);
   * at least `maxBytes`. `hardReadBound(limits)` gives the one the built-ins use.
   */
  hardMaxBytes: number
  /** Called when the transport should stop reading from the network. @default undefined */
  onPause?: () => void
  /** Called when the transport may read again. @default undefined */
  onResume?: () => void
}

/**
 * A FIFO of received frames with pause/resume thresholds and a hard bound; an async iterator.
 *
 * The transport calls `push(frame)` for each frame it reads (false: past the hard bound,
 * reset the connection), `end(err?)` when the peer is done (queued frames are still read) and
 * `fail(err?)` when the connection is gone at once (queued frames are dropped); the reader
 * calls `next()` (or `poll()`, see {@link BoundedQueue}).
 */
export class FrameQueue extends BoundedQueue<Uint8Array> {
  constructor(init: FrameQueueInit) {
    if (!(init.maxFrames >= 1) || !(init.maxBytes >= 0) || !(init.hardMaxBytes >= init.maxBytes)) {
      throw new RangeError('FrameQueue: need maxFrames >= 1, maxBytes >= 0, hardMaxBytes >= maxBytes')
    }
    super({
      sizeOf: (f) => f.byteLength,
      maxSize: init.hardMaxBytes,
      itemOverhead: FRAME_OVERHEAD,
      overflow: 'refuse',
      pauseAt: { items: init.maxFrames, size: init.maxBytes },
      ...(init.onPause === undefined ? {} : { onPause: init.onPause }),
      ...(init.onResume === undefined ? {} : { onResume: init.onResume }),
    })
  }

  /** Payload bytes waiting for the reader (`size`). */
  get bytes(): number {
    return this.size
  }
}
