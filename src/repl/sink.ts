/**
 * Output of the terminal shell. Records can arrive far faster than a terminal redraws, so
 * text is collected and handed to Ink's `write` (which prints above the live prompt area)
 * at most every `intervalMs`. The buffer is bounded: past `maxPending` characters the query
 * loop waits for the next flush (`needsDrain`/`drain`), which in turn throttles the node through
 * the stream's flow control. Nothing is kept after it is printed: the terminal's own
 * scrollback holds the history, so a million-row result costs the shell no memory.
 */
import type { QuerySink } from '../client/query.js'

/** Options of `BatchSink`. */
export interface BatchSinkInit {
  /** Longest time text waits before it is printed, ms. @default 50 */
  intervalMs?: number
  /** Characters buffered before the producer must wait. @default 262144 */
  maxPending?: number
}

/** Batches writes to a print function. */
export class BatchSink implements QuerySink {
  readonly #print: (s: string) => void
  readonly #interval: number
  readonly #max: number
  #buf: string[] = []
  #len = 0
  #timer: NodeJS.Timeout | undefined
  #waiters: Array<() => void> = []

  constructor(print: (s: string) => void, init: BatchSinkInit = {}) {
    this.#print = print
    this.#interval = init.intervalMs ?? 50
    this.#max = init.maxPending ?? 256 * 1024
  }

  write(chunk: string): boolean {
    this.#buf.push(chunk)
    this.#len += chunk.length
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.flush(), this.#interval)
    return this.#len < this.#max
  }

  get needsDrain(): boolean {
    return this.#len >= this.#max
  }

  /** Resolves after the next flush (at once when nothing is pending). */
  drain(): Promise<void> {
    if (this.#len === 0) return Promise.resolve()
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.flush(), this.#interval)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /**
   * Prints every complete line pending now. A partial last line waits for its end (or for
   * `end()`): the live area is drawn right after what is printed, so printed text must end
   * with a line break.
   */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#len > 0) {
      const s = this.#buf.join('')
      const cut = s.lastIndexOf('\n') + 1
      const rest = s.slice(cut)
      this.#buf = rest === '' ? [] : [rest]
      this.#len = rest.length
      if (cut > 0) this.#print(s.slice(0, cut))
    }
    const w = this.#waiters
    this.#waiters = []
    for (const f of w) f()
  }

  /** Prints everything, ending a partial last line. */
  end(): void {
    if (this.#len > 0 && !this.#buf.join('').endsWith('\n')) this.write('\n')
    this.flush()
  }
}
