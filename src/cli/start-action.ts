/**
 * Glue between commander and `startCommand` (src/cli/start.ts, the membership part): loads
 * plugins so that `--listen` may use a plugin's scheme (`ww start --listen tcp://127.0.0.1:0
 * --plugin plugins/tcp.js`), then runs the node until SIGINT/SIGTERM.
 *
 * A small young generation: `ww start` run as the `ww` bin re-executes itself under
 * `--max-semi-space-size` (src/cli/reexec.ts). The bin does that before it loads anything
 * (src/cli/main.ts); this is the fallback for a command line the bin's early check does not
 * recognise (e.g. global options before `start`).
 */
import { readConfig } from '../client/config.js'
import { loadPlugins } from '../client/plugins.js'
import { FormatRegistry } from '../format/index.js'
import { defaultTransports } from '../transport/registry.js'
import { endpointOptions, startCommand, type StartOptions } from './start.js'
import { reexecStart } from './reexec.js'

export { START_SEMI_SPACE_MB, startReexecArgv, type ProcessView } from './reexec.js'

/** Runs `ww start` with commander's parsed flags; returns the exit code. */
export async function runStart(opts: Record<string, unknown>): Promise<number> {
  reexecStart()
  const endpoint: StartOptions = {
    tokenFile: opts.tokenFile as string | undefined,
    tlsCert: opts.tlsCert as string | undefined,
    tlsKey: opts.tlsKey as string | undefined,
    tlsClientCa: opts.tlsClientCa as string | undefined,
    maxConnections: opts.maxConnections as number | undefined,
    allowOrigin: opts.allowOrigin as string[] | undefined,
  }
  // Plugins register into the same registry, so its WebSocket listener has the endpoint flags.
  const transports = defaultTransports({ ws: await endpointOptions(endpoint) })
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
