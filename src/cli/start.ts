/**
 * `ww start` (docs/cli.md): runs one node until SIGINT/SIGTERM (or the given signal aborts),
 * then leaves gracefully. On start it prints the peer ID, the full p2p multiaddrs (ready for
 * another node's `--bootstrap`) and the listen URL; then one line per membership change
 * (joined / left / expired; updates are not shown) unless `quiet`. Operator warnings
 * (publishing failing, bootstrap peer unreachable) go to stderr.
 *
 * Output (stdout), one item per line:
 *
 *     peer    12D3KooW…
 *     server  5f0c…
 *     p2p     /ip4/127.0.0.1/tcp/40123/p2p/12D3KooW…
 *     listen  ws://127.0.0.1:8420            (or "listen  none")
 *     swarm   1a2b3c4d                       (with --swarm-key: the key's fingerprint)
 *     allow   3 peers from /etc/ww/peers     (with --allow-peers)
 *     joined  12D3KooW… host=web-1 region=us-east-1
 *     left    12D3KooW… host=web-1
 *     expired 12D3KooW… host=web-1
 */
import type { Writable } from 'node:stream'
import { startNode, type Node, type NodeInit } from '../node/node.js'
import { ERR_INVALID_URL } from '../transport/errors.js'
import { defaultTransports } from '../transport/registry.js'
import type { WebSocketsInit } from '../transport/ws.js'
import { ERR_BAD_MIN_PEERS, parseDuration, parseMeta, validateMinPeers, type Logger } from '../cluster/options.js'
import { createLogger } from '../cluster/log.js'
import type { MetricsServer } from '../node/metrics.js'
import { loadSwarmKey, type LoadedSwarmKey } from '../cluster/swarm-key.js'
import { ERR_BAD_MAX_PEERS, loadAllowList, validateMaxPeers } from '../cluster/admission.js'
import { WwError } from '../errors.js'
import { MAX_PEM_FILE_BYTES, readFileBounded, readTokenFile } from '../file.js'
import type { RoutingRecord } from '../record/record.js'
import type { TableChange } from '../table/table.js'

/** Options of {@link startCommand}: the flags of `ww start`, as commander hands them over. */
export interface StartOptions {
  /** `--listen URL`; the word `none` (or `false`) serves no clients. @default 'ws://127.0.0.1:8420' */
  listen?: string | false
  /** `--p2p MULTIADDR` (repeatable); empty means the default. @default ['/ip4/127.0.0.1/tcp/0'] */
  p2p?: string[]
  /** `--bootstrap MULTIADDR…`. @default [] */
  bootstrap?: string[]
  /** `--mdns`. @default false */
  mdns?: boolean
  /** `--ns`. @default 'ww' */
  ns?: string
  /** `--host`. @default os.hostname() */
  host?: string
  /** `--meta k=v…` (repeatable), or an already parsed map. @default {} */
  meta?: string[] | Record<string, string>
  /** `--ttl`: a duration (`500ms`, `10s`, `1m`; bare number = ms). @default '10s' */
  ttl?: string | number
  /** `--max-ttl`: longest ttl accepted in a heartbeat (a duration). @default '5m' */
  maxTtl?: string | number
  /** `--max-clock-skew`: how far another node's clock may be off (a duration). @default '5m' */
  maxClockSkew?: string | number
  /** `--min-peers N`: connections to keep, dialled from the table. @default 6 */
  minPeers?: string | number
  /** `--identity PATH`. @default `$XDG_CONFIG_HOME/ww/identity.key` */
  identity?: string
  /** `--swarm-key PATH`: the private cluster's key file (`ww keygen`). @default undefined */
  swarmKey?: string
  /** `--allow-peers FILE`: peer IDs allowed to connect and be listed. @default undefined (everyone) */
  allowPeers?: string
  /** `--max-peers N`: most peers the table lists. @default 100_000 */
  maxPeers?: number | string
  /** `--token` (or `WW_TOKEN`): clients must present it. Prefer `tokenFile`: argv is public. @default undefined */
  token?: string
  /** `--token-file PATH`: the token is the file's first line; wins over `token`. @default undefined */
  tokenFile?: string
  /** `--tls-cert PEM`: certificate (chain) for `--listen wss://…`. @default undefined */
  tlsCert?: string
  /** `--tls-key PEM`: its private key. @default undefined */
  tlsKey?: string
  /** `--tls-client-ca PEM`: clients must present a certificate signed by this CA (mTLS). @default undefined */
  tlsClientCa?: string
  /** `--max-connections N`: client connections (sockets, upgraded or not) held at once. @default 1024 */
  maxConnections?: number
  /** `--allow-origin ORIGIN` (repeatable): browser origins whose WebSocket upgrades are accepted. @default [] */
  allowOrigin?: string[]
  /** `--metrics-listen`: serve /metrics, /healthz and /readyz on this HOST:PORT (docs/operations.md). @default undefined (none) */
  metricsListen?: string
  /** `--log-level`: debug, info, warn or error. @default 'info' */
  logLevel?: string
  /** `--log-format`: text (`ww: …` lines) or json (one object per line). @default 'text' */
  logFormat?: string
  /** `--quiet`: no membership change lines. @default false */
  quiet?: boolean
  /** Extra protocol-server options, e.g. plugin transports (see NodeInit.serve). @default undefined */
  serve?: NodeInit['serve']
  /** Where the start banner and change lines go. @default process.stdout */
  stdout?: Writable
  /** Where warnings go. @default process.stderr */
  stderr?: Writable
  /** Stops the node when aborted (in addition to SIGINT/SIGTERM). @default undefined */
  signal?: AbortSignal
  /** Install SIGINT/SIGTERM handlers. @default true */
  handleSignals?: boolean
  /** Called once the node runs (tests, embedding). @default undefined */
  onStarted?: (node: Node) => void
}

/**
 * Runs `ww start`. Resolves with the exit code (0) once the node has stopped after
 * SIGINT/SIGTERM or `signal`; a second SIGINT/SIGTERM during the graceful stop kills the
 * node without the leave heartbeat. Rejects with the WwError of a bad flag or a failed start
 * (ERR_BAD_DURATION, ERR_BAD_META, ERR_BAD_NAMESPACE, ERR_BAD_MULTIADDR, ERR_IDENTITY_…, ERR_SWARM_KEY_…, ERR_ALLOW_LIST_INVALID, ERR_BAD_MAX_PEERS,
 * ERR_P2P_START, or the server's listen error).
 */
/** A `--tls-*` or `--token-file` file could not be read (the message names the flag and the path). */
export const ERR_SECRET_FILE = 'ERR_SECRET_FILE'

// A --tls-* file: a regular file of at most MAX_PEM_FILE_BYTES (src/file.ts).
async function readSecret(flag: string, path: string): Promise<string> {
  return (await readFileBounded(path, MAX_PEM_FILE_BYTES, ERR_SECRET_FILE, { label: `${flag} ${path}` })).toString('utf8')
}

/** The node's token: the first line of `--token-file` (src/file.ts readTokenFile), else `--token` / `WW_TOKEN`. Rejects with ERR_SECRET_FILE. */
export async function resolveToken(opts: Pick<StartOptions, 'token' | 'tokenFile'>): Promise<string | undefined> {
  if (opts.tokenFile === undefined) return opts.token
  return readTokenFile(opts.tokenFile, ERR_SECRET_FILE, `--token-file ${opts.tokenFile}`)
}

/**
 * The WebSocket listener's options from the endpoint flags: TLS (with a client CA, client
 * certificates are required), connection cap, allowed origins. Throws ERR_SECRET_FILE.
 */
export async function endpointOptions(opts: StartOptions): Promise<WebSocketsInit> {
  const ws: WebSocketsInit = {}
  if (opts.tlsCert !== undefined || opts.tlsKey !== undefined) {
    if (opts.tlsCert === undefined || opts.tlsKey === undefined) throw new WwError(ERR_SECRET_FILE, '--tls-cert and --tls-key go together')
    ws.tls = { cert: await readSecret('--tls-cert', opts.tlsCert), key: await readSecret('--tls-key', opts.tlsKey) }
    if (opts.tlsClientCa !== undefined) ws.tls = { ...ws.tls, ca: await readSecret('--tls-client-ca', opts.tlsClientCa), requestCert: true, rejectUnauthorized: true }
  } else if (opts.tlsClientCa !== undefined) {
    throw new WwError(ERR_SECRET_FILE, '--tls-client-ca needs --tls-cert and --tls-key')
  }
  if (opts.maxConnections !== undefined) ws.maxConnections = opts.maxConnections
  if (opts.allowOrigin !== undefined) ws.allowOrigins = opts.allowOrigin
  return ws
}

// The protocol server's options with the endpoint flags applied: the listener's options go
// into the default transports unless the caller brings its own registry (plugins), which
// start-action builds with the same endpointOptions.
async function withEndpoint(opts: StartOptions): Promise<NodeInit['serve']> {
  const ws = await endpointOptions(opts)
  const given = opts.serve
  return (ctx) => {
    const base = typeof given === 'function' ? given(ctx) : given ?? {}
    return {
      ...base,
      transports: base.transports ?? defaultTransports({ ws }),
      ...(opts.maxConnections !== undefined ? { limits: { ...base.limits, maxConnections: opts.maxConnections } } : {}),
    }
  }
}

export async function startCommand(opts: StartOptions = {}): Promise<number> {
  const out = opts.stdout ?? process.stdout
  const err = opts.stderr ?? process.stderr
  const write = (s: string, to: Writable = out): void => {
    // A closed stdout (piped into something that exited) must not take the node down.
    if (!to.destroyed && to.writable) to.write(`${s}\n`)
  }
  const logger = createLogger({ level: opts.logLevel, format: opts.logFormat, write: (line) => write(line.slice(0, -1), err) })
  const meta = Array.isArray(opts.meta) ? parseMeta(opts.meta) : opts.meta ?? {}
  let swarm: LoadedSwarmKey | undefined
  if (opts.swarmKey !== undefined) {
    swarm = await loadSwarmKey(opts.swarmKey)
    if (swarm.exposed) logger.warn(`swarm key file ${swarm.path} is readable by other users; chmod 600 it`)
  }
  const allow = opts.allowPeers !== undefined ? await loadAllowList(opts.allowPeers) : undefined
  const maxPeers = opts.maxPeers === undefined ? undefined : validateMaxPeers(typeof opts.maxPeers === 'number' ? opts.maxPeers : wholeNumber(opts.maxPeers))
  const listen = opts.listen === false || opts.listen === 'none' || opts.listen === 'false' ? false : opts.listen
  validateListen(listen)
  if (opts.allowOrigin !== undefined) validateOrigins(opts.allowOrigin)
  const init: NodeInit = {
    listen,
    p2p: opts.p2p !== undefined && opts.p2p.length > 0 ? opts.p2p : undefined,
    bootstrap: opts.bootstrap ?? [],
    mdns: opts.mdns === true,
    ns: opts.ns,
    host: opts.host,
    meta,
    ttl: opts.ttl !== undefined ? parseDuration(opts.ttl) : undefined,
    maxTtl: opts.maxTtl !== undefined ? parseDuration(opts.maxTtl) : undefined,
    maxClockSkew: opts.maxClockSkew !== undefined ? parseDuration(opts.maxClockSkew) : undefined,
    minPeers: opts.minPeers !== undefined ? parseMinPeers(opts.minPeers) : undefined,
    identity: opts.identity,
    swarmKey: swarm,
    allowPeers: allow,
    maxPeers,
    token: await resolveToken(opts),
    logger,
    serve: await withEndpoint(opts),
  }
  // prom-client (and the OpenTelemetry API it pulls in: ~80 modules, their heap and its
  // collectors) is loaded only for --metrics-listen; a node without it never pays for it.
  const metricsModule = opts.metricsListen !== undefined ? await import('../node/metrics.js') : undefined
  if (opts.metricsListen !== undefined) metricsModule!.parseMetricsListen(opts.metricsListen)
  if (opts.signal?.aborted === true) return 0
  const node = await startNode(init)
  let metrics: MetricsServer | undefined
  if (opts.metricsListen !== undefined) {
    try {
      metrics = await metricsModule!.serveMetrics(node, { listen: opts.metricsListen })
    } catch (e) {
      await node.kill()
      throw e
    }
  }

  const onChange = (c: TableChange): void => {
    logger.debug('table change', { kind: c.kind, peer: c.record.peer, server: c.record.server })
    if (c.kind === 'updated' || c.record.peer === node.peer) return
    write(`${c.kind.padEnd(7)} ${describe(c.kind === 'left' && c.previous !== undefined ? c.previous : c.record)}`)
  }
  // The signal handlers go in before the first line is printed: whoever reads `listen` (a
  // supervisor, a test) may signal at once, and a signal with no handler yet would kill the
  // node without its leave heartbeat.
  let resolveDone!: (code: number) => void
  const done = new Promise<number>((resolve) => (resolveDone = resolve))
  let stopping = false
  const finish = (): void => {
    if (opts.handleSignals !== false) {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    opts.signal?.removeEventListener('abort', onAbort)
    node.table.off('change', onChange)
    void (metrics?.close() ?? Promise.resolve()).then(() => resolveDone(0))
  }
  const stop = (): void => {
    if (stopping) {
      void node.kill().then(finish, finish)
      return
    }
    stopping = true
    // The metrics listener stays up while the node leaves, so /readyz can say 503 (stopping)
    // to a load balancer; finish() closes it once the node has stopped.
    void node.stop().then(finish, finish)
  }
  const onSignal = (): void => stop()
  const onAbort = (): void => stop()
  if (opts.handleSignals !== false) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  opts.signal?.addEventListener('abort', onAbort, { once: true })

  write(`peer    ${node.peer}`)
  write(`server  ${node.server}`)
  for (const a of node.multiaddrs) write(`p2p     ${a}`)
  if (metrics !== undefined) write(`metrics ${metrics.url}/metrics`)
  write(`listen  ${node.addr ?? 'none'}`)
  if (swarm !== undefined) write(`swarm   ${swarm.fingerprint}`)
  if (allow !== undefined) write(`allow   ${allow.size} ${allow.size === 1 ? 'peer' : 'peers'} from ${opts.allowPeers}`)
  if (swarm === undefined && allow === undefined && (init.p2p ?? []).some((a) => !isLoopback(a))) {
    logger.warn('the p2p port is reachable beyond this host and open to any peer: start every node with --swarm-key (ww keygen) and/or --allow-peers; see docs/security.md')
  }

  if (opts.quiet !== true) node.table.on('change', onChange)
  opts.onStarted?.(node)

  return await done
}

function isLoopback(multiaddr: string): boolean {
  return /^\/ip4\/127\.|^\/ip6\/::1\/|^\/unix\//.test(multiaddr)
}

function wholeNumber(text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new WwError(ERR_BAD_MAX_PEERS, `--max-peers must be a whole number ≥ 1, got '${text}'`)
  return Number(text)
}

function parseMinPeers(v: string | number): number {
  if (typeof v === 'string' && !/^\s*\d+\s*$/.test(v)) throw new WwError(ERR_BAD_MIN_PEERS, `--min-peers must be a whole number from 0 to 1000, got '${v}'`)
  return validateMinPeers(typeof v === 'number' ? v : Number(v))
}

/** `--allow-origin` is not an origin (`scheme://host[:port]`, nothing after it). */
export const ERR_BAD_ORIGIN = 'ERR_BAD_ORIGIN'

/**
 * Checks each `--allow-origin`: a browser sends `Origin: https://ops.example.com` exactly,
 * so a value with a path, a trailing slash or no scheme would never match and only look
 * like protection. Throws ERR_BAD_ORIGIN.
 */
export function validateOrigins(origins: readonly string[]): void {
  for (const o of origins) {
    let url: URL | undefined
    try {
      url = new URL(o)
    } catch {
      url = undefined
    }
    if (url === undefined || url.origin === 'null' || url.origin !== o) {
      throw new WwError(ERR_BAD_ORIGIN, `invalid --allow-origin '${o}': expected an origin as a browser sends it, scheme://host[:port] with nothing after (e.g. https://ops.example.com)`)
    }
  }
}

/**
 * Checks `--listen` is a URL before anything starts (a bad one used to fail only after
 * libp2p was up). The scheme is the transports' business; ERR_INVALID_URL as theirs.
 */
function validateListen(listen: string | false | undefined): void {
  if (typeof listen !== 'string') return
  try {
    new URL(listen)
  } catch {
    throw new WwError(ERR_INVALID_URL, `invalid --listen '${listen}': expected a URL such as ws://127.0.0.1:8420, or none`)
  }
}

function describe(r: RoutingRecord): string {
  const parts = [r.peer]
  if (r.host !== '') parts.push(`host=${r.host}`)
  for (const [k, v] of Object.entries(r.meta)) parts.push(`${k}=${v}`)
  return parts.join(' ')
}
