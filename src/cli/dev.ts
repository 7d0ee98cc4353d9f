/**
 * `ww dev`: the zero-setup way to try ww. Starts `--nodes N` (default 3) real nodes in this
 * process — real libp2p on 127.0.0.1, gossiped heartbeats, the client protocol on WebSocket —
 * with sample host names and meta (region, role, az, env), each bootstrapped to the first,
 * identities in a fresh temp folder (never the user's own identity file). The first node
 * listens on ws://127.0.0.1:8420 when that port is free, else on any free port. Once every
 * node sees the whole cluster (bounded wait) the shell attaches to the first node; leaving
 * the shell stops the nodes (gracefully) and removes the temp folder. Without a TTY the shell
 * runs in piped mode.
 */
import { createLogger, type StructuredLogger } from '../cluster/log.js'
import type { Logger } from '../cluster/options.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Node, NodeInit } from '../node/node.js'
import type { CliContext } from '../client/context.js'
import { DEFAULT_ADDR } from '../client/defaults.js'
import { connectOrExit } from '../client/query.js'
import { WwError } from '../errors.js'
import type { MetricsServer } from '../node/metrics.js'

/** Options of `ww dev`. */
export interface DevOptions {
  /** How many nodes. @default 3 */
  nodes?: number
  /** Piped mode: stop at the first failing line. @default false */
  stopOnError?: boolean
  /** Heartbeat TTL of the nodes, ms. @default 10000 */
  ttl?: number
  /** Longest wait for the cluster to converge before the shell opens anyway, ms. @default 15000 */
  convergeMs?: number
  /** Client URL of the first node. @default ws://127.0.0.1:8420 when free, else ws://127.0.0.1:0 */
  listen?: string
  /** `--log-level`: the nodes log to stderr from this level (each line names its node). @default undefined (the nodes are silent, as the shell owns the terminal) */
  logLevel?: string
  /** `--log-format`: text or json; given alone, logs from `info`. @default 'text' */
  logFormat?: string
  /**
   * `--metrics-listen HOST:PORT`: node i (0-based) serves /metrics, /healthz and /readyz on
   * PORT + i (each on a free port of its own with port 0). @default undefined (none)
   */
  metricsListen?: string
}

/** The metrics address of dev node `i` for `--metrics-listen base`: the port moves up by i (0 stays 0). */
export function devMetricsListen(base: { host: string; port: number }, i: number): string {
  const port = base.port === 0 ? 0 : base.port + i
  if (port > 65535) throw new WwError('ERR_BAD_METRICS_LISTEN', `--metrics-listen: node ${i + 1} would need port ${port}, above 65535`)
  return `${base.host.includes(':') ? `[${base.host}]` : base.host}:${port}`
}

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-south-1'] as const
const ROLES = ['web', 'db', 'cache', 'queue'] as const
const AZS = ['a', 'b', 'c'] as const

/** The sample host and meta of dev node `i` (0-based). */
export function sampleNode(i: number): { host: string; meta: Record<string, string> } {
  const role = ROLES[i % ROLES.length]!
  const region = REGIONS[i % REGIONS.length]!
  return {
    host: `${role}-${i + 1}`,
    meta: { region, role, az: `${region}${AZS[Math.floor(i / REGIONS.length) % AZS.length]!}`, env: 'dev' },
  }
}

/** True when 127.0.0.1:`port` can be listened on right now. */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** A running dev cluster. */
export interface DevCluster {
  nodes: Node[]
  /** The first node's client URL. */
  addr: string
  /** True once every node's table held every node. */
  converged: boolean
  /** Stops every node and removes the identities. */
  stop(): Promise<void>
}

/** Starts the cluster (used by `ww dev`, the tests and the benchmark). */
export async function startDevCluster(opts: DevOptions & { serve?: NodeInit['serve'] } = {}): Promise<DevCluster> {
  const { startNode } = await import('../node/node.js')
  const n = opts.nodes ?? 3
  const dir = await mkdtemp(join(tmpdir(), 'ww-dev-'))
  const nodes: Node[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((node) => node.stop()))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const listen = opts.listen ?? ((await portFree(8420)) ? DEFAULT_ADDR : 'ws://127.0.0.1:0')
    const logging = opts.logLevel !== undefined || opts.logFormat !== undefined
    const log = logging ? createLogger({ level: opts.logLevel, format: opts.logFormat }) : undefined
    const base = (i: number): NodeInit => ({
      ...(log !== undefined ? { logger: nodeLogger(log, `node-${i + 1}`) } : {}),
      p2p: ['/ip4/127.0.0.1/tcp/0'],
      identity: join(dir, `node-${i + 1}.key`),
      ttl: opts.ttl ?? 10_000,
      ...sampleNode(i),
      ...(opts.serve !== undefined ? { serve: opts.serve } : {}),
    })
    const first = await startNode({ ...base(0), listen })
    nodes.push(first)
    const rest = await Promise.all(
      Array.from({ length: n - 1 }, (_, k) => startNode({ ...base(k + 1), listen: false, bootstrap: first.multiaddrs })),
    )
    nodes.push(...rest)
    const deadline = Date.now() + (opts.convergeMs ?? 15_000)
    let converged = false
    while (Date.now() < deadline) {
      if (nodes.every((node) => node.table.size >= n)) {
        converged = true
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    return { nodes, addr: first.addr!, converged, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The `dev` action; returns the exit code. */
export async function devCommand(ctx: CliContext, opts: DevOptions = {}): Promise<number> {
  const n = opts.nodes ?? 3
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true
  const log = (s: string): void => void (interactive ? process.stdout : process.stderr).write(s + '\n')
  // Checked before any node starts; prom-client is loaded only when asked for.
  const metricsModule = opts.metricsListen !== undefined ? await import('../node/metrics.js') : undefined
  const metricsBase = opts.metricsListen !== undefined ? metricsModule!.parseMetricsListen(opts.metricsListen) : undefined
  if (metricsBase !== undefined) for (let i = 0; i < n; i++) devMetricsListen(metricsBase, i)
  log(`ww dev: starting ${n} node${n === 1 ? '' : 's'} on 127.0.0.1 …`)
  const cluster = await startDevCluster({
    ...opts,
    ...(ctx.transports !== undefined ? { serve: { transports: ctx.transports } } : {}),
  })
  const metrics: MetricsServer[] = []
  let stopping: Promise<void> | undefined
  // The metrics listeners close after the nodes: while they leave, /readyz says 503.
  const stopAll = (): Promise<void> =>
    (stopping ??= cluster.stop().finally(() => Promise.allSettled(metrics.map((m) => m.close()))).then(() => undefined))
  if (metricsBase !== undefined) {
    try {
      for (const [i, node] of cluster.nodes.entries()) {
        metrics.push(await metricsModule!.serveMetrics(node, { listen: devMetricsListen(metricsBase, i), defaultMetrics: i === 0 }))
      }
    } catch (err) {
      await stopAll()
      throw err
    }
    for (const [i, m] of metrics.entries()) log(`ww dev: node-${i + 1} metrics ${m.url}/metrics`)
  }
  const onSignal = (): void => {
    void stopAll().then(() => process.exit(0))
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  try {
    const lines = cluster.nodes.map((node, i) => {
      const s = sampleNode(i)
      return `  ${node.peer}  ${s.host.padEnd(8)} ${Object.entries(s.meta).map(([k, v]) => `${k}=${v}`).join(' ')}`
    })
    const banner = [
      `ww dev: ${n} node${n === 1 ? '' : 's'} ${cluster.converged ? 'up' : 'started (still converging)'}; the shell is attached to ${cluster.addr}`,
      ...lines,
      `other terminals: ${otherTerminals(cluster.addr, ctx.plugins)}`,
    ].join('\n')
    const session = await connectOrExit(cluster.addr, { token: ctx.options.token, transports: ctx.transports })
    const { runShell } = await import('../repl/index.js')
    return await runShell({ ...ctx, options: { ...ctx.options, addr: cluster.addr, addrs: [cluster.addr] } }, { session, banner, stopOnError: opts.stopOnError })
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    await stopAll()
  }
}

/**
 * The command another terminal runs to query the dev cluster: `ww ls --addr URL`, plus
 * `--plugin FILE` (absolute, so it works from any folder) for each plugin whose transport
 * serves the URL's scheme, since without it `ww ls` cannot dial that scheme.
 */
export function otherTerminals(addr: string, plugins: ReadonlyArray<{ path: string; transports: ReadonlyArray<{ schemes: readonly string[] }> }>): string {
  const scheme = addr.slice(0, Math.max(0, addr.indexOf(':')))
  const needed = plugins.filter((p) => p.transports.some((t) => t.schemes.includes(scheme)))
  const word = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`)
  return [`ww ls --addr ${word(addr)}`, ...needed.map((p) => `--plugin ${word(p.path)}`)].join(' ')
}

/** A node's logger within `ww dev`: every line carries `node` (node-1, node-2, …). */
function nodeLogger(log: StructuredLogger, node: string): Logger {
  return { info: (m) => log.info(m, { node }), warn: (m) => log.warn(m, { node }), error: (m) => log.error(m, { node }) }
}
