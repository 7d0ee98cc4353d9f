/**
 * What every client command sets up the same way: the common flags resolved against the
 * config file's context, the plugins (config file first, then `--plugin`), the format
 * registry and the transport registry that `connect` dials through.
 *
 * Each setting comes from the first of: its flag, its environment variable (`WW_ADDR`,
 * `WW_TOKEN`), the context (`--context NAME`, else `WW_CONTEXT`, else the file's `current`),
 * the built-in default (docs/cli.md#contexts).
 */
import { readConfig, splitAddrs, type ConfigContext } from './config.js'
import type { WebSocketsInit } from '../transport/ws.js'
import { loadPlugins, type LoadedPlugin } from './plugins.js'
import { FormatRegistry } from '../format/index.js'
import { parseColumns } from '../format/text.js'
import { defaultTransports, type TransportRegistry } from '../transport/registry.js'
import { CliError, ERR_USAGE } from './errors.js'
import { DEFAULT_ADDR } from './defaults.js'
import { WwError } from '../errors.js'
import { MAX_PEM_FILE_BYTES, readFileBounded, readTokenFile as readToken } from '../file.js'

/** `--context NAME` / `WW_CONTEXT` names a context the config file does not define. */
export const ERR_UNKNOWN_CONTEXT = 'ERR_UNKNOWN_CONTEXT'
/** A context's `tokenFile` cannot be read or holds no token. */
export const ERR_TOKEN_FILE = 'ERR_TOKEN_FILE'

/** The common flags as given (flag, else its environment variable), before the context fills the gaps. */
export interface CliFlags {
  /** `--addr` values (repeatable), or `WW_ADDR`; each may hold comma-separated URLs. @default undefined */
  addr?: readonly string[]
  /** `--context NAME`, or `WW_CONTEXT`. @default undefined */
  context?: string
  /** `--format NAME`. @default undefined */
  format?: string
  /** `-o NAME`: a format name, or `wide` (the text table with more columns). @default undefined */
  output?: string
  /** `--columns a,b,meta.k`. @default undefined */
  columns?: string
  /** false with `--no-headers`. @default true */
  headers?: boolean
  /** `--plugin` paths, in order. @default [] */
  plugin?: readonly string[]
  /** `--token`, or `WW_TOKEN`. @default undefined */
  token?: string
  /** `--tls-ca PEM`. @default undefined */
  tlsCa?: string
  /** `--tls-cert PEM`. @default undefined */
  tlsCert?: string
  /** `--tls-key PEM`. @default undefined */
  tlsKey?: string
}

/** The common settings, resolved: flags > environment > context > defaults. */
export interface CommonOptions {
  /** Node URLs, comma-joined, as shown to the user (`connectOrExit` tries each in order). @default 'ws://127.0.0.1:8420' */
  addr: string
  /** The same URLs, in order. @default ['ws://127.0.0.1:8420'] */
  addrs?: readonly string[]
  /** Output format name. @default 'text' */
  format: string
  /**
   * Where `format` came from: `flag` (`--format`, `-o`), `context`, or `default`. A command
   * that prints only some formats refuses a flag's other choice but falls back to text for a
   * context's. @default 'flag'
   */
  formatSource?: 'flag' | 'context' | 'default'
  /** Plugin module paths, in order. @default [] */
  plugin: string[]
  /** Access token presented in the handshake. @default undefined */
  token?: string
  /** Trust this CA for wss:// nodes (besides Node's default store). @default undefined */
  tlsCa?: string
  /** Client certificate for nodes that require one (mTLS). @default undefined */
  tlsCert?: string
  /** Its private key. @default undefined */
  tlsKey?: string
  /** The context the settings were completed from. @default undefined */
  context?: string
  /** `-o wide`: the text table's extra columns. @default false */
  wide?: boolean
  /** `--columns`: the text table's columns by name. @default undefined */
  fields?: string[]
  /** false: no header line. @default true */
  headers?: boolean
}

async function readPem(label: string, path: string): Promise<string> {
  try {
    return (await readFileBounded(path, MAX_PEM_FILE_BYTES, ERR_USAGE, { label: `${label} ${path}` })).toString('utf8')
  } catch (err) {
    throw new CliError(ERR_USAGE, (err as Error).message, { cause: err })
  }
}

/**
 * The format a command that prints only `prints` runs with: the chosen one when it is among
 * them; text when a context chose another (its default is for records, and applies only where
 * it can); otherwise the chosen one as it is, for the command to refuse (a flag's choice).
 */
export function formatFor(options: Pick<CommonOptions, 'format' | 'formatSource'>, prints: readonly string[]): string {
  if (prints.includes(options.format)) return options.format
  return options.formatSource === 'context' ? 'text' : options.format
}

/** The client TLS options of the --tls-* settings (undefined: none given). Rejects with ERR_USAGE. */
export async function clientTls(options: Pick<CommonOptions, 'tlsCa' | 'tlsCert' | 'tlsKey'>): Promise<WebSocketsInit['clientTls']> {
  const { tlsCa, tlsCert, tlsKey } = options
  if (tlsCa === undefined && tlsCert === undefined && tlsKey === undefined) return undefined
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new CliError(ERR_USAGE, '--tls-cert and --tls-key go together')
  return {
    ...(tlsCa !== undefined ? { ca: await readPem('--tls-ca', tlsCa) } : {}),
    ...(tlsCert !== undefined ? { cert: await readPem('--tls-cert', tlsCert), key: await readPem('--tls-key', tlsKey!) } : {}),
  }
}

/** A context's token: the first line of its token file (the rule of `ww start --token-file`); ERR_TOKEN_FILE when it can't be read or is empty. */
async function readTokenFile(context: string, path: string): Promise<string> {
  try {
    return await readToken(path, ERR_TOKEN_FILE, `tokenFile ${path}`)
  } catch (err) {
    throw new CliError(ERR_TOKEN_FILE, `context "${context}": ${(err as Error).message}`, { cause: err })
  }
}

/** Plugins loaded and registries ready. */
export interface CliContext {
  options: CommonOptions
  formats: FormatRegistry
  transports: TransportRegistry
  plugins: LoadedPlugin[]
}

/**
 * Resolves the flags against the config file (flags > environment > context > defaults),
 * loads the plugins and checks the format and the table options. Throws ERR_UNKNOWN_CONTEXT,
 * ERR_CONFIG_INVALID, ERR_TOKEN_FILE, ERR_UNKNOWN_COLUMN or ERR_USAGE.
 */
export async function createContext(flags: CliFlags | CommonOptions, env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
  const config = await readConfig(env)
  const f = flags as CliFlags & Partial<CommonOptions>
  const name = f.context ?? config.current
  let ctx: ConfigContext = {}
  if (name !== undefined) {
    const known = config.contexts ?? {}
    if (!Object.hasOwn(known, name)) {
      const names = Object.keys(known)
      throw new CliError(ERR_UNKNOWN_CONTEXT, `unknown context ${JSON.stringify(name)}`, {
        hint: names.length > 0 ? `the config file defines ${names.join(', ')}` : 'define it under "contexts" in the config file (docs/cli.md#contexts)',
      })
    }
    ctx = known[name]!
  }

  const given = f.addrs ?? (f.addr === undefined ? undefined : typeof f.addr === 'string' ? [f.addr] : f.addr)
  const fromFlags = given?.flatMap((a) => splitAddrs(a))
  if (fromFlags !== undefined && given!.length > 0 && fromFlags.length === 0) throw new CliError(ERR_USAGE, '--addr needs at least one URL')
  const addrs = fromFlags !== undefined && fromFlags.length > 0 ? fromFlags : (ctx.addr ?? [DEFAULT_ADDR])

  let format = f.format
  let wide = f.wide === true
  if (f.output !== undefined) {
    const o = f.output === 'wide' ? 'text' : f.output
    if (format !== undefined && format !== o) throw new CliError(ERR_USAGE, `-o ${f.output} and --format ${format} disagree: give one`)
    format = o
    wide ||= f.output === 'wide'
  }
  const formatSource = format !== undefined ? 'flag' : ctx.format !== undefined ? 'context' : 'default'
  format ??= ctx.format ?? 'text'

  const token = f.token ?? (ctx.tokenFile !== undefined ? await readTokenFile(name!, ctx.tokenFile) : undefined)
  const options: CommonOptions = {
    addr: addrs.join(','),
    addrs,
    format,
    formatSource,
    plugin: [...(f.plugin ?? [])],
    ...(token !== undefined ? { token } : {}),
    ...pick('tlsCa', f.tlsCa ?? ctx.tlsCa),
    ...pick('tlsCert', f.tlsCert ?? ctx.tlsCert),
    ...pick('tlsKey', f.tlsKey ?? ctx.tlsKey),
    ...(name !== undefined ? { context: name } : {}),
    ...(wide ? { wide } : {}),
    ...(f.columns !== undefined ? { fields: parseColumnsFor(format, f.columns) } : f.fields !== undefined ? { fields: f.fields } : {}),
    ...(f.headers === false ? { headers: false } : {}),
  }
  if ((options.wide === true || options.fields !== undefined || options.headers === false) && (format === 'json' || format === 'ndjson')) {
    throw new CliError(ERR_USAGE, `-o wide, --columns and --no-headers shape a table; --format ${format} always prints every field`)
  }

  const formats = FormatRegistry.withBuiltins()
  const tls = await clientTls(options)
  const transports = defaultTransports(tls === undefined ? {} : { ws: { clientTls: tls } })
  const plugins = await loadPlugins([...config.plugins, ...options.plugin], { formats, transports })
  if (!formats.has(options.format)) {
    throw new CliError(ERR_USAGE, `unknown format "${options.format}"`, {
      hint: `use one of ${formats.names().join(', ')} (plugins add more with --plugin)`,
    })
  }
  return { options, formats, transports, plugins }
}

function pick<K extends string>(k: K, v: string | undefined): { [P in K]?: string } {
  return (v !== undefined ? { [k]: v } : {}) as { [P in K]?: string }
}

// The text format knows its columns; a plugin format takes the names as given.
function parseColumnsFor(format: string, spec: string): string[] {
  if (format === 'text') {
    try {
      return parseColumns(spec)
    } catch (err) {
      throw new CliError((err as WwError).code, (err as Error).message, { hint: 'e.g. --columns peer,host,meta.region', cause: undefined })
    }
  }
  const names = spec.split(',').map((n) => n.trim()).filter((n) => n !== '')
  if (names.length === 0) throw new CliError(ERR_USAGE, '--columns needs at least one column name')
  return names
}
