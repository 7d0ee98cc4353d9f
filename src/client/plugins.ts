/**
 * Loads plugins (src/plugin.ts) and registers what they provide. Every failure names the
 * plugin's path and is a user error (exit 1): ERR_PLUGIN_LOAD when the module can't be
 * imported or throws while loading, ERR_PLUGIN_INVALID when its default export has the wrong
 * shape or a factory misbehaves.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { WwError } from '../errors.js'
import type { FormatRegistry } from '../format/index.js'
import type { FormatterFactory } from '../format/types.js'
import type { WwPlugin } from '../plugin.js'
import type { Transport, TransportFactory } from '../transport/types.js'

/** The plugin module could not be imported (missing, syntax error, threw on load). */
export const ERR_PLUGIN_LOAD = 'ERR_PLUGIN_LOAD'
/** The plugin's default export or one of its factories does not fit the plugin shape. */
export const ERR_PLUGIN_INVALID = 'ERR_PLUGIN_INVALID'

/** A plugin after loading: its transports instantiated, its formatters checked. */
export interface LoadedPlugin {
  name: string
  path: string
  transports: Transport[]
  formatters: Record<string, FormatterFactory>
}

/** Anything transports can be registered with (the TransportRegistry of src/transport/). */
export interface TransportSink {
  register(transport: Transport): void
}

/** Imports one plugin module and validates it. `path` is resolved against `cwd`. */
export async function loadPlugin(path: string, cwd: string = process.cwd()): Promise<LoadedPlugin> {
  const abs = resolve(cwd, path)
  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown }
  } catch (err) {
    throw new WwError(ERR_PLUGIN_LOAD, `cannot load plugin ${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
  const bad = (why: string): WwError => new WwError(ERR_PLUGIN_INVALID, `plugin ${path}: ${why}`)
  const p = mod.default as Partial<WwPlugin> | undefined
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
      if (typeof factory !== 'function') throw bad(`transport ${scheme ?? `#${i + 1}`} is not a factory function`)
      let t: unknown
      try {
        t = (factory as TransportFactory)()
      } catch (err) {
        throw new WwError(ERR_PLUGIN_INVALID, `plugin ${path}: transport factory threw: ${(err as Error)?.message}`, { cause: err })
      }
      const tr = t as Partial<Transport> | undefined
      if (
        typeof tr !== 'object' || tr === null || !Array.isArray(tr.schemes) || tr.schemes.length === 0 ||
        !tr.schemes.every((s) => typeof s === 'string' && /^[a-z][a-z0-9+.-]*$/.test(s)) ||
        typeof tr.connect !== 'function' || typeof tr.listen !== 'function'
      ) {
        throw bad('a transport factory must return { schemes: string[], connect(), listen() }')
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
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw bad(`format name "${name}" is not a plain word`)
      if (typeof factory !== 'function') throw bad(`formatter "${name}" is not a factory function`)
      out.formatters[name] = factory as FormatterFactory
    }
  }
  return out
}

/**
 * Loads every plugin in order and registers its transports and formatters. A format or
 * scheme clash is reported as ERR_PLUGIN_INVALID naming the plugin.
 */
export async function loadPlugins(
  paths: readonly string[],
  into: { formats: FormatRegistry; transports?: TransportSink },
  cwd: string = process.cwd(),
): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = []
  for (const path of paths) {
    const p = await loadPlugin(path, cwd)
    try {
      for (const [name, f] of Object.entries(p.formatters)) into.formats.register(name, f)
      if (into.transports !== undefined) for (const t of p.transports) into.transports.register(t)
    } catch (err) {
      throw new WwError(ERR_PLUGIN_INVALID, `plugin ${path}: ${(err as Error).message}`, { cause: err })
    }
    loaded.push(p)
  }
  return loaded
}
