/**
 * Glue between commander and `startCommand` (src/cli/start.ts, the membership part): loads
 * plugins so that `--listen` may use a plugin's scheme (`ww start --listen tcp://127.0.0.1:0
 * --plugin plugins/tcp.js`), then runs the node until SIGINT/SIGTERM.
 *
 * A small young generation. V8 sizes each of the young generation's two semi-spaces up to
 * 16 MiB, which an idle node fills with short-lived garbage and keeps: 32 MiB of its ~88 MiB
 * of anonymous memory in a 16-node cluster. A node allocates little per second, so before
 * anything else `ww start` run as the `ww` bin replaces itself (`process.execve`: same PID,
 * same stdio) with the same command under `--max-semi-space-size=`{@link START_SEMI_SPACE_MB}:
 * 61 MiB instead of 88 (docs/scaling.md, "Processes on one host"). A
 * `--max-semi-space-size` already given (on node's command line or in NODE_OPTIONS) wins and
 * nothing is re-executed; so does a Node without `process.execve` (before 22.15).
 */
import { realpathSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { readConfig } from '../client/config.js'
import { loadPlugins } from '../client/plugins.js'
import { FormatRegistry } from '../format/index.js'
import { defaultTransports } from '../transport/registry.js'
import { endpointOptions, startCommand, type StartOptions } from './start.js'

/** Largest young-generation semi-space of a `ww start` process, in MiB (V8's own: 16). @default 1 */
export const START_SEMI_SPACE_MB = 1

/** What {@link startReexecArgv} reads of a process. */
export interface ProcessView {
  execPath: string
  execArgv: readonly string[]
  argv: readonly string[]
  env: NodeJS.ProcessEnv
}

/**
 * The arguments to re-execute this process with as `ww start` under a small young generation,
 * or undefined: when `--max-semi-space-size` is already set (node's flags or NODE_OPTIONS), or
 * when the process is not the `ww` bin (its script is not `cli/main.js` or `cli/main.ts`,
 * e.g. a test runner calling runStart).
 */
export function startReexecArgv(p: ProcessView): string[] | undefined {
  const given = (a: string): boolean => /^--max-semi-space-size(=|$)/.test(a)
  if (p.execArgv.some(given) || (p.env.NODE_OPTIONS ?? '').split(/\s+/).some(given)) return undefined
  const script = p.argv[1]
  if (script === undefined) return undefined
  let real: string
  try {
    real = realpathSync(script)
  } catch {
    return undefined
  }
  if (!/^main\.[jt]s$/.test(basename(real)) || basename(dirname(real)) !== 'cli') return undefined
  return [p.execPath, `--max-semi-space-size=${START_SEMI_SPACE_MB}`, ...p.execArgv, ...p.argv.slice(1)]
}

/** Runs `ww start` with commander's parsed flags; returns the exit code. */
export async function runStart(opts: Record<string, unknown>): Promise<number> {
  const again = typeof process.execve === 'function' ? startReexecArgv(process) : undefined
  if (again !== undefined) process.execve!(process.execPath, again, process.env)
  const endpoint: StartOptions = {
    tokenFile: opts.tokenFile as string | undefined,
    tlsCert: opts.tlsCert as string | undefined,
    tlsKey: opts.tlsKey as string | undefined,
    tlsClientCa: opts.tlsClientCa as string | undefined,
    maxConnections: opts.maxConnections as number | undefined,
    allowOrigin: opts.allowOrigin as string[] | undefined,
  }
  // Plugins register into the same registry, so its WebSocket listener has the endpoint flags.
  const transports = defaultTransports({ ws: endpointOptions(endpoint) })
  const config = await readConfig()
  const plugins = await loadPlugins([...config.plugins, ...((opts.plugin as string[] | undefined) ?? [])], {
    formats: FormatRegistry.withBuiltins(),
    transports,
  })
  const withTransports = plugins.some((p) => p.transports.length > 0)
  const start: StartOptions = {
    listen: opts.listen as string | undefined,
    p2p: opts.p2p as string[] | undefined,
    bootstrap: opts.bootstrap as string[] | undefined,
    mdns: opts.mdns === true,
    ns: opts.ns as string | undefined,
    host: opts.host as string | undefined,
    meta: opts.meta as string[] | undefined,
    ttl: opts.ttl as string | undefined,
    maxTtl: opts.maxTtl as string | undefined,
    maxClockSkew: opts.maxClockSkew as string | undefined,
    minPeers: opts.minPeers as string | undefined,
    identity: opts.identity as string | undefined,
    swarmKey: opts.swarmKey as string | undefined,
    allowPeers: opts.allowPeers as string | undefined,
    maxPeers: opts.maxPeers as number | undefined,
    token: opts.token as string | undefined,
    ...endpoint,
    quiet: opts.quiet === true,
    metricsListen: opts.metricsListen as string | undefined,
    logLevel: opts.logLevel as string | undefined,
    logFormat: opts.logFormat as string | undefined,
    ...(withTransports ? { serve: { transports } } : {}),
  }
  return startCommand(start)
}
