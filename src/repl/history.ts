/**
 * The shell's history: bounded (oldest entries dropped past `max`), consecutive duplicates
 * and blank lines not recorded, kept between runs in `$XDG_CONFIG_HOME/ww/history` (one entry
 * a line). Navigation with ↑/↓ keeps the line being typed as a draft to come back to.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { readFileBounded } from '../file.js'

/**
 * Largest history file loaded, bytes: the file holds at most `max` lines and is rewritten to
 * that bound now and then, so a larger one (or a FIFO, or a device) is not ours to trust;
 * it is skipped and the shell starts with an empty history. @default 8 MiB
 */
export const MAX_HISTORY_FILE_BYTES = 8 << 20

/** Options of `History`. */
export interface HistoryInit {
  /** File the history is loaded from and saved to; none: memory only. @default undefined */
  file?: string
  /** Most entries kept. @default 1000 */
  max?: number
}

/** Entries plus a navigation position. */
export class History {
  readonly #file: string | undefined
  readonly #max: number
  #entries: string[] = []
  // Position while navigating: entries.length means "at the draft".
  #pos = 0
  #draft = ''
  #appends = 0

  constructor(init: HistoryInit = {}) {
    this.#file = init.file
    this.#max = init.max ?? 1000
  }

  /**
   * Loads the file. A missing or unreadable file, one that is not a regular file, or one
   * larger than {@link MAX_HISTORY_FILE_BYTES} is an empty history: history is a convenience.
   */
  async load(): Promise<void> {
    if (this.#file === undefined) return
    try {
      const raw = (await readFileBounded(this.#file, MAX_HISTORY_FILE_BYTES, 'ERR_HISTORY')).toString('utf8')
      this.#entries = raw.split('\n').filter((s) => s.trim() !== '').slice(-this.#max)
    } catch {
      this.#entries = []
    }
    this.#pos = this.#entries.length
  }

  /** Entries, oldest first. */
  get entries(): readonly string[] {
    return this.#entries
  }

  /** Records a submitted line and resets navigation; persists it (errors ignored). */
  async add(line: string): Promise<void> {
    const s = line.replace(/\n/g, ' ')
    this.#pos = this.#entries.length
    this.#draft = ''
    if (s.trim() === '' || this.#entries[this.#entries.length - 1] === s) {
      this.#pos = this.#entries.length
      return
    }
    this.#entries.push(s)
    let trimmed = false
    if (this.#entries.length > this.#max) {
      this.#entries.splice(0, this.#entries.length - this.#max)
      trimmed = true
    }
    this.#pos = this.#entries.length
    if (this.#file === undefined) return
    try {
      await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 })
      // Appending is cheap; the file is rewritten to the bound now and then, not every line.
      if (trimmed || ++this.#appends >= this.#max) {
        this.#appends = 0
        await writeFile(this.#file, this.#entries.join('\n') + '\n', { mode: 0o600 })
      } else {
        await appendFile(this.#file, s + '\n', { mode: 0o600 })
      }
    } catch {
      // history is a convenience: a read-only home must not break the shell
    }
  }

  /**
   * Ctrl-R: the index of the newest entry before index `before` that contains `query`
   * (ignoring case) and is not `skip` (the match already shown), or undefined when none.
   */
  search(query: string, before: number = this.#entries.length, skip?: string): number | undefined {
    if (query === '') return undefined
    const q = query.toLowerCase()
    for (let i = Math.min(before, this.#entries.length) - 1; i >= 0; i--) {
      const e = this.#entries[i]!
      if (e !== skip && e.toLowerCase().includes(q)) return i
    }
    return undefined
  }

  /** The previous entry (↑), or undefined at the oldest; `current` is kept as the draft. */
  prev(current: string): string | undefined {
    if (this.#pos === 0) return undefined
    if (this.#pos === this.#entries.length) this.#draft = current
    this.#pos--
    return this.#entries[this.#pos]
  }

  /** The next entry (↓), the draft after the newest, or undefined when already at the draft. */
  next(): string | undefined {
    if (this.#pos >= this.#entries.length) return undefined
    this.#pos++
    return this.#pos === this.#entries.length ? this.#draft : this.#entries[this.#pos]
  }
}
