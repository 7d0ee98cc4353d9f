/**
 * What every client command sets up the same way: the common flags, the plugins (config
 * file first, then `--plugin`), the format registry and the transport registry that
 * `connect` dials through.
 */
import { readFileSync } from 'node:fs'
import { readConfig } from './config.js'
import type { WebSocketsInit } from '../transport/ws.js'
import { loadPlugins, type LoadedPlugin } from './plugins.js'
import { FormatRegistry } from '../format/index.js'
import { defaultTransports, type TransportRegistry } from '../transport/registry.js'
import { CliError, ERR_USAGE } from './errors.js'

/** The flags shared by ls, lookup, shell, dev, pub and sub. */
export interface CommonOptions {
  /** Node URL. @default 'ws://127.0.0.1:8420' (env WW_ADDR) */
  addr: string
  /** Output format name. @default 'text' */
  format: string
  /** Plugin module paths, in order. @default [] */
  plugin: string[]
  /** Access token presented in the handshake (env WW_TOKEN). @default undefined */
  token?: string
  /** `--tls-ca PEM`: trust this CA for wss:// nodes (besides Node's default store). @default undefined */
  tlsCa?: string
  /** `--tls-cert PEM`: client certificate for nodes that require one (mTLS). @default undefined */
  tlsCert?: string
  /** `--tls-key PEM`: its private key. @default undefined */
  tlsKey?: string
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new CliError(ERR_USAGE, `cannot read ${flag} ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/** The client TLS options of the --tls-* flags (undefined: none given). Throws ERR_USAGE. */
export function clientTls(options: Pick<CommonOptions, 'tlsCa' | 'tlsCert' | 'tlsKey'>): WebSocketsInit['clientTls'] {
  const { tlsCa, tlsCert, tlsKey } = options
  if (tlsCa === undefined && tlsCert === undefined && tlsKey === undefined) return undefined
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new CliError(ERR_USAGE, '--tls-cert and --tls-key go together')
  return {
    ...(tlsCa !== undefined ? { ca: readPem('--tls-ca', tlsCa) } : {}),
    ...(tlsCert !== undefined ? { cert: readPem('--tls-cert', tlsCert), key: readPem('--tls-key', tlsKey!) } : {}),
  }
}

/** Plugins loaded and registries ready. */
export interface CliContext {
  options: CommonOptions
  formats: FormatRegistry
  transports: TransportRegistry
  plugins: LoadedPlugin[]
}

/** Loads the config file's plugins and `--plugin`s, and checks `--format`. */
export async function createContext(options: CommonOptions, env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
  const formats = FormatRegistry.withBuiltins()
  const tls = clientTls(options)
  const transports = defaultTransports(tls === undefined ? {} : { ws: { clientTls: tls } })
  const config = await readConfig(env)
  const plugins = await loadPlugins([...config.plugins, ...options.plugin], { formats, transports })
  if (!formats.has(options.format)) {
    throw new CliError(ERR_USAGE, `unknown format "${options.format}"`, {
      hint: `use one of ${formats.names().join(', ')} (plugins add more with --plugin)`,
    })
  }
  return { options, formats, transports, plugins }
}
