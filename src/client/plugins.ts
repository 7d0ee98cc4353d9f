/**
 * Loads plugins (src/plugin.ts) and registers what they provide. Every failure names the
 * plugin and its file and is the plugin's fault, not ww's (exit 1): ERR_PLUGIN_LOAD when the
 * module can't be imported or throws while loading, ERR_PLUGIN_INVALID when its default
 * export has the wrong shape or a factory returns the wrong thing, ERR_PLUGIN_FAILED when one
 * of its formatters throws while a query runs. One file listed twice (config file and
 * `--plugin`) is loaded once.
 */
import { realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { WwError } from '../errors.js'
import { FORMAT_NAME, type FormatRegistry } from '../format/index.js'
import type { Formatter, FormatterFactory } from '../format/types.js'
import type { WwPlugin } from '../plugin.js'
import type { Transport, TransportFactory } from '../transport/types.js'
import type { PluginSpec } from './config.js'

/** The plugin module could not be imported (missing, syntax error, threw on load). */
export const ERR_PLUGIN_LOAD = 'ERR_PLUGIN_LOAD'
/** The plugin's default export or one of its factories does not fit the plugin shape. */
export const ERR_PLUGIN_INVALID = 'ERR_PLUGIN_INVALID'
/** One of the plugin's formatters threw while writing a query's output. */
export const ERR_PLUGIN_FAILED = 'ERR_PLUGIN_FAILED'

/** A plugin after loading: its transports instantiated, its formatters checked. */
export interface LoadedPlugin {
  name: string
  path: string
  transports: Transport[]
  /** Its formatters, wrapped so that a misbehaving one is reported as the plugin's error. */
  formatters: Record<string, FormatterFactory>
}

/** Anything transports can be registered with (the TransportRegistry of src/transport/). */
export interface TransportSink {
  register(transport: Transport): void
}

/** The absolute path of a plugin file, symlinks resolved when the file exists. */
function canonical(path: string, cwd: string): string {
  const abs = resolve(cwd, path)
  try {
    return realpathSync(abs)
  } catch {
    return abs
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/**
 * Imports one plugin module and validates it. `path` is resolved against `cwd`; `options`
 * (the config file's) is handed to every transport factory and, as `init.options`, to every
 * formatter factory.
 */
export async function loadPlugin(path: string, cwd: string = process.cwd(), options?: Record<string, unknown>): Promise<LoadedPlugin> {
  const abs = resolve(cwd, path)
  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown }
  } catch (err) {
    throw new WwError(ERR_PLUGIN_LOAD, `cannot load plugin ${path}: ${messageOf(err)}`, { cause: err })
  }
  const p = mod.default as Partial<WwPlugin> | undefined
  const named = typeof p === 'object' && p !== null && typeof p.name === 'string' && p.name !== '' ? `plugin "${p.name}" (${path})` : `plugin ${path}`
  const bad = (why: string, cause?: unknown): WwError => new WwError(ERR_PLUGIN_INVALID, `${named}: ${why}`, cause === undefined ? undefined : { cause })
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw bad('the default export must be an object { name, transports?, formatters? }')
  }
  if (typeof p.name !== 'string' || p.name === '') throw bad('"name" must be a non-empty string')
  const out: LoadedPlugin = { name: p.name, path: abs, transports: [], formatters: {} }

  if (p.transports !== undefined) {
    let entries: Array<[string | undefined, unknown]>
    if (Array.isArray(p.transports)) entries = p.transports.map((f) => [undefined, f])
    else if (typeof p.transports === 'object' && p.transports !== null) entries = Object.entries(p.transports)
    else throw bad('"transports" must be an array of transport factories or an object { scheme: factory }')
    for (const [i, [scheme, factory]] of entries.entries()) {
      const which = scheme !== undefined ? `transport "${scheme}"` : `transport #${i + 1}`
      if (typeof factory !== 'function') throw bad(`${which} is not a factory function`)
      let t: unknown
      try {
        t = (factory as TransportFactory<Record<string, unknown>>)(options)
      } catch (err) {
        throw bad(`${which}: the factory threw: ${messageOf(err)}`, err)
      }
      const tr = t as Partial<Transport> | undefined
      if (
        typeof tr !== 'object' || tr === null || !Array.isArray(tr.schemes) || tr.schemes.length === 0 ||
        !tr.schemes.every((s) => typeof s === 'string' && /^[a-z][a-z0-9+.-]*$/.test(s)) ||
        typeof tr.connect !== 'function' || typeof tr.listen !== 'function'
      ) {
        throw bad(`${which}: the factory returned ${describe(t)}, not { schemes: string[], connect(), listen() }`)
      }
      if (scheme !== undefined && !tr.schemes.includes(scheme)) {
        throw bad(`transport registered as "${scheme}" handles only ${tr.schemes.join(', ')}`)
      }
      out.transports.push(tr as Transport)
    }
  }

  if (p.formatters !== undefined) {
    if (typeof p.formatters !== 'object' || p.formatters === null || Array.isArray(p.formatters)) {
      throw bad('"formatters" must be an object { name: factory }')
    }
    for (const [name, factory] of Object.entries(p.formatters)) {
      if (!FORMAT_NAME.test(name)) {
        throw bad(`format name ${JSON.stringify(name)} must be a lowercase letter, then lowercase letters, digits or "-" (at most 32)`)
      }
      if (typeof factory !== 'function') throw bad(`formatter "${name}" is not a factory function`)
      out.formatters[name] = guardFormatter(named, name, factory as FormatterFactory, options)
    }
  }
  return out
}

/** A short description of a wrong value, for messages. */
function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return `an object with keys ${JSON.stringify(Object.keys(v as object).slice(0, 5))}`
  return typeof v === 'string' ? 'a string' : String(v)
}

/**
 * Wraps a plugin's formatter factory: the options reach it as `init.options`, a factory that
 * throws or returns no `{ begin, record, end }` is ERR_PLUGIN_INVALID, and a callback that
 * throws is ERR_PLUGIN_FAILED — both naming the plugin, its file and the format.
 */
function guardFormatter(named: string, format: string, factory: FormatterFactory, options?: Record<string, unknown>): FormatterFactory {
  return (out, init) => {
    let f: unknown
    try {
      f = factory(out, options === undefined ? init : { ...init, options })
    } catch (err) {
      throw new WwError(ERR_PLUGIN_INVALID, `${named}: the factory of format "${format}" threw: ${messageOf(err)}`, { cause: err })
    }
    const fm = f as Partial<Formatter> | undefined
    if (typeof fm !== 'object' || fm === null || typeof fm.begin !== 'function' || typeof fm.record !== 'function' || typeof fm.end !== 'function') {
      throw new WwError(ERR_PLUGIN_INVALID, `${named}: the factory of format "${format}" returned ${describe(f)}, not { begin(), record(), end() }`)
    }
    const formatter = fm as Formatter
    const guarded = <A extends unknown[]>(method: 'begin' | 'record' | 'end', call: (...args: A) => void) => (...args: A): void => {
      try {
        call(...args)
      } catch (err) {
        throw new WwError(ERR_PLUGIN_FAILED, `${named}: format "${format}" threw in ${method}(): ${messageOf(err)}`, { cause: err })
      }
    }
    return {
      begin: guarded('begin', () => formatter.begin()),
      record: guarded('record', (r: Parameters<Formatter['record']>[0]) => formatter.record(r)),
      end: guarded('end', (s: Parameters<Formatter['end']>[0]) => formatter.end(s)),
    }
  }
}

/**
 * Loads every plugin in order and registers its transports and formatters. Entries naming
 * the same file (after resolving the path and symlinks) are loaded once, with the options of
 * the entry that gives them; two different option objects for one file are
 * ERR_PLUGIN_INVALID. A format or scheme clash is reported as ERR_PLUGIN_INVALID naming the
 * plugin.
 */
export async function loadPlugins(
  entries: ReadonlyArray<string | PluginSpec>,
  into: { formats: FormatRegistry; transports?: TransportSink },
  cwd: string = process.cwd(),
): Promise<LoadedPlugin[]> {
  const byFile = new Map<string, PluginSpec>()
  for (const e of entries) {
    const spec: PluginSpec = typeof e === 'string' ? { path: e } : e
    const key = canonical(spec.path, cwd)
    const seen = byFile.get(key)
    if (seen === undefined) {
      byFile.set(key, { ...spec })
    } else if (spec.options !== undefined) {
      if (seen.options !== undefined && JSON.stringify(seen.options) !== JSON.stringify(spec.options)) {
        throw new WwError(ERR_PLUGIN_INVALID, `plugin ${spec.path}: listed twice with different options`)
      }
      seen.options = spec.options
    }
  }
  const loaded: LoadedPlugin[] = []
  for (const spec of byFile.values()) {
    const p = await loadPlugin(spec.path, cwd, spec.options)
    try {
      for (const [name, f] of Object.entries(p.formatters)) into.formats.register(name, f)
      if (into.transports !== undefined) for (const t of p.transports) into.transports.register(t)
    } catch (err) {
      throw new WwError(ERR_PLUGIN_INVALID, `plugin "${p.name}" (${spec.path}): ${messageOf(err)}`, { cause: err })
    }
    loaded.push(p)
  }
  return loaded
}
