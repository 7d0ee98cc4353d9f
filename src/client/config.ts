/**
 * The user's config directory and file. `$XDG_CONFIG_HOME/ww` (or `~/.config/ww`) holds
 * `config.json` and the shell's `history`. The file (docs/cli.md#config-file):
 * - `plugins`: `["path", {"path": "…", "options": {…}}, …]`, paths relative to the file;
 *   options are handed to the plugin's factories (docs/plugins.md);
 * - `contexts`: `{NAME: {addr, tokenFile, tlsCa, tlsCert, tlsKey, format}}`, named sets of
 *   connection settings (paths relative to the file), and `current`, the context used when
 *   neither `--context` nor `WW_CONTEXT` names one.
 * A missing file is an empty config. The file is input like any other: anything not of the
 * documented shape (wrong types, unknown keys at the top or in a context, a `current` naming
 * no context, more than `MAX_CONFIG_BYTES`, not a regular file) is ERR_CONFIG_INVALID naming
 * the file and the key.
 */
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { WwError } from '../errors.js'
import { FileReadError, readFileBounded } from '../file.js'

/** The config file exists but is not valid JSON of the documented shape. */
export const ERR_CONFIG_INVALID = 'ERR_CONFIG_INVALID'

/** Largest config file read (bytes); a bigger one is ERR_CONFIG_INVALID. */
export const MAX_CONFIG_BYTES = 1 << 20

/** A named set of connection settings (`contexts.NAME` in the config file). Paths are resolved against the file's folder. */
export interface ConfigContext {
  /** Node URLs, tried in order (the file takes one string, comma-separated, or an array). @default undefined */
  addr?: string[]
  /** A file whose first line is the token to present. @default undefined */
  tokenFile?: string
  /** Trust this CA for wss:// nodes. @default undefined */
  tlsCa?: string
  /** Client certificate (mTLS). @default undefined */
  tlsCert?: string
  /** Its private key. @default undefined */
  tlsKey?: string
  /** Output format name. @default undefined */
  format?: string
}

/** The keys a context may hold. */
const CONTEXT_KEYS = ['addr', 'tokenFile', 'tlsCa', 'tlsCert', 'tlsKey', 'format'] as const

/** The keys the file may hold at its top. */
const TOP_KEYS = ['plugins', 'contexts', 'current'] as const

/** What a context name may be: letters, digits, `.`, `_`, `-`, 1–64 characters. */
export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

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
  /** Contexts by name (absent when the file has none). */
  contexts?: Record<string, ConfigContext>
  /** The context used when none is named on the command line or in WW_CONTEXT. @default undefined */
  current?: string
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
    raw = (await readFileBounded(file, MAX_CONFIG_BYTES, ERR_CONFIG_INVALID)).toString('utf8')
  } catch (err) {
    if (err instanceof FileReadError && err.fsCode === 'ENOENT') return { plugins: [] }
    throw err
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
  const dir = dirname(file)
  // A misspelt key ("context", "plugin") would otherwise be ignored, and with it the setting
  // the user believes is in force.
  const unknown = Object.keys(parsed).find((k) => !(TOP_KEYS as readonly string[]).includes(k))
  if (unknown !== undefined) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: unknown key ${JSON.stringify(unknown)} (known: ${TOP_KEYS.join(', ')})`)
  }
  const top = parsed as { plugins?: unknown; contexts?: unknown; current?: unknown }
  const contexts = parseContexts(file, dir, top.contexts)
  let current: string | undefined
  if (top.current !== undefined) {
    if (typeof top.current !== 'string') throw new WwError(ERR_CONFIG_INVALID, `${file}: "current" must be the name of a context`)
    if (contexts === undefined || !Object.hasOwn(contexts, top.current)) {
      throw new WwError(ERR_CONFIG_INVALID, `${file}: "current" names context ${JSON.stringify(top.current)}, which "contexts" does not define`)
    }
    current = top.current
  }
  const extra = { ...(contexts !== undefined ? { contexts } : {}), ...(current !== undefined ? { current } : {}) }
  const plugins = top.plugins
  if (plugins === undefined) return { plugins: [], ...extra }
  if (!Array.isArray(plugins)) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: "plugins" must be an array of paths or { "path", "options" } objects`)
  }
  return {
    ...extra,
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

function parseContexts(file: string, dir: string, raw: unknown): Record<string, ConfigContext> | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: "contexts" must be an object of named contexts`)
  }
  // No prototype: a context called "__proto__" or "constructor" is only a name.
  const out: Record<string, ConfigContext> = Object.create(null) as Record<string, ConfigContext>
  for (const [name, value] of Object.entries(raw)) {
    const bad = (why: string): WwError => new WwError(ERR_CONFIG_INVALID, `${file}: contexts.${JSON.stringify(name)} ${why}`)
    if (!CONTEXT_NAME.test(name)) throw bad('is not a valid context name (letters, digits, ".", "_", "-"; at most 64)')
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('must be an object')
    const c: ConfigContext = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!(CONTEXT_KEYS as readonly string[]).includes(k)) throw bad(`has unknown key ${JSON.stringify(k)} (known: ${CONTEXT_KEYS.join(', ')})`)
      if (k === 'addr') {
        const list = typeof v === 'string' ? splitAddrs(v) : Array.isArray(v) && v.every((a) => typeof a === 'string') ? v.flatMap((a: string) => splitAddrs(a)) : undefined
        if (list === undefined || list.length === 0) throw bad('"addr" must be a URL, comma-separated URLs, or an array of URLs')
        c.addr = list
      } else if (typeof v !== 'string' || v === '') {
        throw bad(`${JSON.stringify(k)} must be a non-empty string`)
      } else if (k === 'format') {
        c.format = v
      } else {
        c[k as 'tokenFile' | 'tlsCa' | 'tlsCert' | 'tlsKey'] = resolve(dir, v)
      }
    }
    out[name] = c
  }
  return out
}

/** The URLs of one `--addr` value, `WW_ADDR` or context `addr`: comma-separated, blanks around each ignored, empty ones dropped. */
export function splitAddrs(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}
