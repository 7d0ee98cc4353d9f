/**
 * Tab completion for the shell. What fits at the cursor comes from the grammar itself
 * (`completeAt` of the language, the parser's content assist), so the shell never offers what
 * the parser would reject; the shell adds what only the node knows:
 * - where a field fits: `host`, `peer`, `server`, and the meta keys the node knows (completed
 *   with a trailing `=`);
 * - where a value fits (after `=`, `!=`, inside `IN ( … )`): the values the node holds for
 *   that field;
 * - a word starting with `\` is a meta-command; after `\o ` or `\i `, a file name (a folder
 *   gets a trailing `/`). The folder is streamed (`opendir`, a few entries per read, the event
 *   loop free between reads) and reading stops after `fileLimit` matching names or `fileScan`
 *   entries examined, so a folder of a million files costs one Tab press a bounded time and
 *   memory; a capped answer is marked `partial` and inserts nothing (what was not read may
 *   not share the prefix of what was);
 * - the keywords valid there, in the case the user started typing.
 * Keys and values come from the node through `View.values()` and are cached in an LRU with a
 * short TTL, so pressing Tab repeatedly costs no round trips and new peers still show up.
 */
import { opendir } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import type { ValuesIndex, View } from '../api.js'
import { BUILTIN_FIELDS, completeAt, KEYWORDS } from '../lang/index.js'
import { splitVerb } from '../client/query.js'
import type { Line } from './line.js'
import { replaceRange } from './line.js'
import { META_COMMANDS } from './commands.js'

/** What can be completed at the cursor. */
export interface Completion {
  /** Range of the line the chosen item replaces. */
  start: number
  end: number
  /** Candidates, in display order (already carrying their `=` or trailing space). */
  items: string[]
  /**
   * A cap stopped reading a folder before its end: `items` are some of the candidates, not
   * all, so neither one of them nor their common prefix is safe to insert.
   */
  partial?: boolean
}

/** Options of `Completer`. */
export interface CompleterInit {
  /** Most values asked from the node per request. @default 200 */
  limit?: number
  /** How long fetched keys and values are reused, ms. @default 10000 */
  ttlMs?: number
  /** Most cached requests. @default 500 */
  maxEntries?: number
  /** Most file names offered after `\o ` or `\i ` (reading the folder stops there). @default 200 */
  fileLimit?: number
  /** Most folder entries examined for one file-name completion, matching or not. @default 10000 */
  fileScan?: number
}

const NEEDS_QUOTES = /[\s"\\=*!(),]/

function quote(v: string): string {
  return NEEDS_QUOTES.test(v) || v === '' ? '"' + v.replace(/["\\]/g, (c) => '\\' + c) + '"' : v
}

/** The longest common prefix of `items`. */
export function commonPrefix(items: readonly string[]): string {
  if (items.length === 0) return ''
  let p = items[0]!
  for (const s of items) {
    let i = 0
    while (i < p.length && i < s.length && p[i] === s[i]) i++
    p = p.slice(0, i)
  }
  return p
}

/** Which index a field name of the language means (`host`, `meta.k`, bare `k`). */
export function fieldIndex(field: string): ValuesIndex {
  if (field === 'host' || field === 'peer' || field === 'server') return { field }
  const key = field.startsWith('meta.') ? field.slice(5) : field
  return { field: 'meta', key: key.startsWith('"') && key.endsWith('"') && key.length >= 2 ? key.slice(1, -1) : key }
}

/** Where the word ending at the end of `before` starts: after the last blank outside quotes. */
export function wordStart(before: string): number {
  let start = 0
  let quoted = false
  for (let i = 0; i < before.length; i++) {
    const ch = before[i]!
    if (quoted) {
      if (ch === '\\') i++
      else if (ch === '"') quoted = false
    } else if (ch === '"') quoted = true
    else if (/\s/.test(ch)) start = i + 1
  }
  return start
}

/** Completes words of the query language against a View. */
export class Completer {
  #view: View | undefined
  readonly #limit: number
  readonly #fileLimit: number
  readonly #fileScan: number
  readonly #cache: LRUCache<string, string[]>

  constructor(view: View | undefined, init: CompleterInit = {}) {
    this.#view = view
    this.#limit = init.limit ?? 200
    this.#fileLimit = init.fileLimit ?? 200
    this.#fileScan = init.fileScan ?? 10_000
    this.#cache = new LRUCache<string, string[]>({ max: init.maxEntries ?? 500, ttl: init.ttlMs ?? 10_000 })
  }

  /** Points completion at another node's view (after `\connect`), dropping the cache; the same view keeps it. */
  setView(view: View | undefined): void {
    if (view === this.#view) return
    this.#view = view
    this.#cache.clear()
  }

  /** Forgets every cached answer, so the next Tab asks the node again. */
  refresh(): void {
    this.#cache.clear()
  }

  /** Cached `values()` of the view; a failed request completes nothing. */
  async values(index: ValuesIndex, prefix: string, signal?: AbortSignal): Promise<string[]> {
    if (this.#view === undefined) return []
    const k = `${index.field}\u0000${index.key ?? ''}\u0000${prefix}`
    const hit = this.#cache.get(k)
    if (hit !== undefined) return hit
    let got: string[]
    try {
      got = await this.#view.values(index, prefix, { limit: this.#limit, signal })
    } catch {
      return []
    }
    this.#cache.set(k, got)
    return got
  }

  /**
   * File names starting with `typed` (a path), sorted; folders end with `/`. Reads the folder
   * as a stream and stops after `fileLimit` matches or `fileScan` entries (then `partial`), or
   * when `signal` aborts (a newer Tab press); a folder that cannot be read offers nothing.
   */
  async files(typed: string, signal?: AbortSignal): Promise<{ items: string[]; partial: boolean }> {
    const slash = typed.lastIndexOf('/')
    const dir = slash < 0 ? '.' : slash === 0 ? '/' : typed.slice(0, slash)
    const head = slash < 0 ? '' : typed.slice(0, slash + 1)
    const base = typed.slice(slash + 1)
    const items: string[] = []
    let partial = false
    try {
      const d = await opendir(dir, { bufferSize: 64 })
      let seen = 0
      // Leaving the loop early closes the folder (the iterator's return()).
      for await (const e of d) {
        if (signal?.aborted === true) return { items: [], partial: false }
        if (++seen > this.#fileScan) {
          partial = true
          break
        }
        if (!e.name.startsWith(base) || (base === '' && e.name.startsWith('.'))) continue
        if (items.length >= this.#fileLimit) {
          partial = true
          break
        }
        items.push(head + e.name + (e.isDirectory() ? '/' : ' '))
      }
    } catch {
      return { items: [], partial: false }
    }
    return { items: items.sort(), partial }
  }

  /** The candidates for the word under the cursor of `line`. */
  async complete(line: Line, signal?: AbortSignal): Promise<Completion> {
    const before = line.text.slice(0, line.cursor)
    const start = wordStart(before)
    const word = before.slice(start)
    let end = line.cursor
    while (end < line.text.length && !/[\s,)]/.test(line.text[end]!)) end++

    if (start === 0 && word.startsWith('\\')) {
      return { start, end, items: META_COMMANDS.filter((c) => c.startsWith(word)).map((c) => c + ' ') }
    }
    if (/^\\(o|out|i|include)\s+\S*$/i.test(before)) {
      const f = await this.files(word, signal)
      return f.partial ? { start, end, items: f.items, partial: true } : { start, end, items: f.items }
    }

    // `count QUERY` / `explain QUERY`: complete the query after the verb.
    const verb = splitVerb(line.text)
    const shift = verb.verb !== undefined && line.cursor >= verb.offset ? verb.offset : 0
    const c = completeAt(line.text.slice(shift), line.cursor - shift)
    c.start += shift
    if (c.value !== undefined) {
      const values = await this.values(c.value, c.prefix, signal)
      return { start: c.start, end, items: values.map((v) => quote(v) + ' ') }
    }
    const items: string[] = []
    if (c.field || c.fields.length > 0) {
      const typed = c.prefix
      const keys = c.field ? await this.values({ field: 'meta' }, typed.startsWith('meta.') ? typed.slice(5) : typed, signal) : []
      const fields = [
        ...c.fields,
        ...keys.map((k) => {
          const name = /^[A-Za-z0-9_.\-/:]+$/.test(k) ? k : quote(k)
          // A key that is also a field or keyword name needs the meta. prefix to stay a key.
          const clash = (BUILTIN_FIELDS as readonly string[]).includes(k) || (KEYWORDS as readonly string[]).includes(k.toUpperCase()) || k === 'seq' || k === 'ttl'
          return clash || typed.startsWith('meta.') || name !== k ? `meta.${name}` : name
        }),
      ]
      items.push(...[...new Set(fields)].map((f) => f + '='))
    }
    const lower = c.prefix === c.prefix.toLowerCase() && c.prefix !== ''
    items.push(...c.keywords.map((k) => (lower ? k.toLowerCase() : k) + ' '))
    return { start: c.start, end, items }
  }
}

/**
 * Applies a completion to the line: one candidate replaces the word; several insert their
 * common prefix (if longer than what is typed) and are returned for display. A `partial`
 * completion changes nothing and returns what was read, with a `note` saying more exists.
 */
export function applyCompletion(line: Line, c: Completion): { line: Line; shown: string[]; note?: string } {
  if (c.partial === true) {
    const note = c.items.length === 0 ? 'folder too large to search whole: type more of the name' : `${c.items.length} shown; the folder has more not read: type more of the name`
    return { line, shown: c.items.map((s) => s.trimEnd()), note }
  }
  if (c.items.length === 0) return { line, shown: [] }
  if (c.items.length === 1) return { line: replaceRange(line, c.start, c.end, c.items[0]!), shown: [] }
  const typed = line.text.slice(c.start, c.end)
  const common = commonPrefix(c.items)
  const next = common.length > typed.length ? replaceRange(line, c.start, c.end, common) : line
  return { line: next, shown: c.items.map((s) => s.trimEnd()) }
}
