/**
 * The user's config directory and file. `$XDG_CONFIG_HOME/ww` (or `~/.config/ww`) holds
 * `config.json` (`{"plugins": ["path", …]}`, paths relative to the file) and the shell's
 * `history`. A missing file is an empty config; a malformed one is ERR_CONFIG_INVALID.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { WwError } from '../errors.js'

/** The config file exists but is not valid JSON of the documented shape. */
export const ERR_CONFIG_INVALID = 'ERR_CONFIG_INVALID'

/** The parsed config file. */
export interface WwConfig {
  /** Plugin module paths, already resolved against the config file's folder. */
  plugins: string[]
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
  if (!Array.isArray(plugins) || !plugins.every((p) => typeof p === 'string' && p !== '')) {
    throw new WwError(ERR_CONFIG_INVALID, `${file}: "plugins" must be an array of paths`)
  }
  return { plugins: plugins.map((p: string) => resolve(dirname(file), p)) }
}
