/**
 * The formatter registry: the built-in formats (`text`, `json`, `ndjson`) plus those plugins
 * add by name. Looking up an unknown name is a usage error listing the known ones.
 */
import { WwError } from '../errors.js'
import { json } from './json.js'
import { ndjson } from './ndjson.js'
import { text } from './text.js'
import type { FormatterFactory } from './types.js'

export type { Formatter, FormatterFactory, FormatInit, FormatOutput, QuerySummary } from './types.js'
export { json } from './json.js'
export { ndjson, recordObject } from './ndjson.js'
export { text, formatMeta, parseColumns, textColumn, textColumns, TEXT_COLUMNS, ERR_UNKNOWN_COLUMN } from './text.js'
export type { TextColumn } from './text.js'

/** `--format NAME` names no built-in or plugin formatter. */
export const ERR_UNKNOWN_FORMAT = 'ERR_UNKNOWN_FORMAT'
/** A plugin registered a format name that is already taken. */
export const ERR_FORMAT_EXISTS = 'ERR_FORMAT_EXISTS'

/** A format name that does not follow `FORMAT_NAME`. */
export const ERR_INVALID_FORMAT_NAME = 'ERR_INVALID_FORMAT_NAME'

/**
 * What a format name may be: a lowercase letter, then lowercase letters, digits and `-`, 32
 * characters at most (`yaml`, `csv-excel`; not `Yaml`, `yaml.v2`, `1yaml`). Names are
 * compared exactly, so lowercase-only keeps `Text` from standing beside `text`.
 */
export const FORMAT_NAME = /^[a-z][a-z0-9-]{0,31}$/

/** Formatters by name. */
export class FormatRegistry {
  #byName = new Map<string, FormatterFactory>()

  /** A registry holding the built-in formats. */
  static withBuiltins(): FormatRegistry {
    const r = new FormatRegistry()
    r.register('text', text)
    r.register('json', json)
    r.register('ndjson', ndjson)
    return r
  }

  /** Adds a format; a name already taken is refused with ERR_FORMAT_EXISTS, one not of `FORMAT_NAME` with ERR_INVALID_FORMAT_NAME. */
  register(name: string, factory: FormatterFactory): void {
    if (!FORMAT_NAME.test(name)) {
      throw new WwError(ERR_INVALID_FORMAT_NAME, `format name ${JSON.stringify(name)} must be a lowercase letter, then lowercase letters, digits or "-" (at most 32)`)
    }
    if (this.#byName.has(name)) throw new WwError(ERR_FORMAT_EXISTS, `format "${name}" is already registered`)
    this.#byName.set(name, factory)
  }

  /** The factory for `name`; throws ERR_UNKNOWN_FORMAT naming the known formats. */
  get(name: string): FormatterFactory {
    const f = this.#byName.get(name)
    if (f === undefined) {
      throw new WwError(ERR_UNKNOWN_FORMAT, `unknown format "${name}" (known: ${this.names().join(', ')})`)
    }
    return f
  }

  /** True when `name` is registered. */
  has(name: string): boolean {
    return this.#byName.has(name)
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.#byName.keys()]
  }
}
