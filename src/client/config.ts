/**
 * The user's config directory and file. `$XDG_CONFIG_HOME/ww` (or `~/.config/ww`) holds
 * `config.json` (`{"plugins": ["path", {"path": "…", "options": {…}}, …]}`, paths relative to
 * the file; options are handed to the plugin's factories, docs/plugins.md) and the shell's
 * `history`. A missing file is an empty config; a malformed one is ERR_CONFIG_INVALID.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { WwError } from '../errors.js'

/** The config file exists but is not valid JSON of the documented shape. */
export const ERR_CONFIG_INVALID = 'ERR_CONFIG_INVALID'

/** A plugin with the options its factories receive (docs/plugins.md#options). */
export interface PluginSpec {
  /** Module path; in the config file relative to the file, here resolved. */
  path: string
  /** A JSON object handed to the plugin's factories. @default undefined */
  options?: Record<string, unknown>
}

/** The parsed config file. */
export interface WwConfig {
  /**
   * Plugins, paths already resolved against the config file's folder: a plain path, or a
   * `PluginSpec` when the entry gave options.
   */
  plugins: Array<string | PluginSpec>
}

/** `$XDG_CONFIG_HOME/ww`, else `~/.config/ww`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  return xdg !== undefined && xdg !== '' ? join(xdg, 'ww') : join(homedir(), '.config', 'ww')
}

/** Reads `config.json` from `configDir()`; a missing file gives `{ plugins: [] }`. */
export async function readConfig(env: NodeJS.ProcessEnv = process.env): Promise<WwConfig> {
  const file = join(configDir(env), 'config.json')
  let raw: string
  try {
    raw = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { plugins: [] }
    throw new WwError(ERR_CONFIG_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    throw new WwError(ERR_CONFIG_INVALID, `${file} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: expected a JSON object`)
  }
  const plugins = (parsed as { plugins?: unknown }).plugins
  if (plugins === undefined) return { plugins: [] }
  if (!Array.isArray(plugins)) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: "plugins" must be an array of paths or { "path", "options" } objects`)
  }
  const dir = dirname(file)
  return {
    plugins: plugins.map((p: unknown, i): string | PluginSpec => {
      if (typeof p === 'string' && p !== '') return resolve(dir, p)
      const bad = (why: string): WwError => new WwError(ERR_CONFIG_INVALID, `${file}: plugins[${i}] ${why}`)
      if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad('must be a path or { "path", "options" }')
      const { path, options, ...rest } = p as { path?: unknown; options?: unknown }
      const extra = Object.keys(rest)
      if (extra.length > 0) throw bad(`has unknown key ${JSON.stringify(extra[0])} (known: path, options)`)
      if (typeof path !== 'string' || path === '') throw bad('needs "path", a non-empty string')
      if (options === undefined) return { path: resolve(dir, path) }
      if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad('"options" must be a JSON object')
      return { path: resolve(dir, path), options: options as Record<string, unknown> }
    }),
  }
}
