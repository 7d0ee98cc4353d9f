/**
 * The command line's stdout: coalesces small writes into chunks, honours the stream's
 * backpressure, and treats a closed pipe (`ww ls | head -1`: EPIPE) as the reader saying
 * "enough" — it aborts `closed` so the query is cancelled, and the command exits 0 quietly.
 */
import type { Writable } from 'node:stream'
import type { FormatOutput } from '../format/types.js'

/** Chunk size past which buffered output is written at once. @default 65536 */
const CHUNK = 64 * 1024

/** A buffered, EPIPE-aware writer over a Node stream. */
export class Output implements FormatOutput {
  readonly #stream: Writable
  readonly #closed = new AbortController()
  #buf: string[] = []
  #bufLen = 0
  #scheduled = false

  constructor(stream: Writable = process.stdout) {
    this.#stream = stream
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE: the reader went away. Any other write error ends output the same way; there is
      // nobody left to tell but stderr, and the exit code stays that of the query.
      if (err.code !== 'EPIPE') process.stderr.write(`ww: cannot write output: ${err.message}\n`)
      this.#buf = []
      this.#bufLen = 0
      this.#closed.abort(err)
    })
  }

  /** Aborted once the output is gone (EPIPE or another write error). */
  get closed(): AbortSignal {
    return this.#closed.signal
  }

  /** Buffers `chunk`; it reaches the stream at the next flush (a full chunk, or the next turn). */
  write(chunk: string): boolean {
    if (this.#closed.signal.aborted) return false
    this.#buf.push(chunk)
    this.#bufLen += chunk.length
    if (this.#bufLen >= CHUNK) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      // Everything written while records of one batch are consumed goes out together.
      setImmediate(() => {
        this.#scheduled = false
        this.flush()
      })
    }
    return !this.#stream.writableNeedDrain
  }

  /** Writes what is buffered now. */
  flush(): void {
    if (this.#bufLen === 0 || this.#closed.signal.aborted) return
    const s = this.#buf.join('')
    this.#buf = []
    this.#bufLen = 0
    if (this.#stream.destroyed || !this.#stream.writable) {
      // Gone without an error event (destroyed by its owner): the same as a closed pipe.
      this.#closed.abort(Object.assign(new Error('output closed'), { code: 'EPIPE' }))
      return
    }
    this.#stream.write(s)
  }

  /** True while the stream is past its high-water mark. */
  get needsDrain(): boolean {
    return this.#stream.writableNeedDrain
  }

  /** Resolves when the stream drained, or at once if it is not full or the output closed. */
  async drain(): Promise<void> {
    this.flush()
    if (!this.#stream.writableNeedDrain || this.#closed.signal.aborted) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done)
        this.#closed.signal.removeEventListener('abort', done)
        resolve()
      }
      this.#stream.on('drain', done)
      this.#closed.signal.addEventListener('abort', done)
    })
  }

  /** Flushes and waits until the stream has handed everything to the OS. */
  async end(): Promise<void> {
    this.flush()
    await this.drain()
  }
}
