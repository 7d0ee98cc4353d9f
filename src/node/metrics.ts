/**
 * A node's metrics and health over HTTP, for Prometheus and for load balancers and
 * orchestrators (docs/operations.md): `GET /metrics` (the Prometheus text format, built with
 * prom-client), `GET /healthz` (the process answers) and `GET /readyz` (the node has joined a
 * cluster, or runs alone by choice, and is not stopping: a load balancer stops sending clients
 * while the node leaves). A small node:http server of its own, apart from the
 * client protocol's listener, so a scrape never competes with client limits, and with its own
 * header and request timeouts.
 *
 * Values are read from the node at scrape time (the table, the membership counters, the
 * protocol server's `stats()`); only the table's change events and the calls' durations are
 * counted as they happen.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { WwError } from '../errors.js'
import type { TableChange } from '../table/events.js'
import type { Node } from './node.js'
import { meshPeerCount } from './info.js'

/** A `--metrics-listen` value is not `HOST:PORT` or `PORT`. */
export const ERR_BAD_METRICS_LISTEN = 'ERR_BAD_METRICS_LISTEN'
/** The metrics listener could not bind (address in use, not local). */
export const ERR_METRICS_LISTEN_FAILED = 'ERR_METRICS_LISTEN_FAILED'

/** Host the metrics listener binds when `--metrics-listen` gives a port only. @default '127.0.0.1' */
export const DEFAULT_METRICS_HOST = '127.0.0.1'
/** Buckets of `ww_call_duration_seconds`, in seconds: 0.5 ms to 10 s. */
export const CALL_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Reads `HOST:PORT`, `[IPv6]:PORT` or a bare `PORT` (host {@link DEFAULT_METRICS_HOST}).
 * Throws ERR_BAD_METRICS_LISTEN otherwise.
 */
export function parseMetricsListen(text: string): { host: string; port: number } {
  const bad = (): WwError => new WwError(ERR_BAD_METRICS_LISTEN, `invalid --metrics-listen '${text}': expected HOST:PORT or PORT (e.g. 127.0.0.1:9464)`)
  const i = text.lastIndexOf(':')
  const portText = text.slice(i + 1)
  let host = i < 0 ? '' : text.slice(0, i)
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad()
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1)
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) throw bad()
  } else if (!/^[A-Za-z0-9.-]*$/.test(host)) throw bad()
  return { host: host === '' ? DEFAULT_METRICS_HOST : host, port: Number(portText) }
}

/**
 * The node's readiness: not while it is stopping; else ready when it was given no bootstrap
 * peer, or once its table lists another peer.
 */
export function isReady(node: Pick<Node, 'bootstrap' | 'table'> & { readonly stopping?: boolean }): boolean {
  if (node.stopping === true) return false
  return node.bootstrap.length === 0 || node.table.size > 1
}

/** The node's metrics; `metrics()` renders them, `close()` detaches from the node. */
export interface NodeMetrics {
  /** The prom-client registry holding every metric. */
  readonly registry: Registry
  /** The exposition text (Prometheus text format 0.0.4). */
  metrics(): Promise<string>
  /** Stops counting the node's events. Idempotent. */
  close(): void
}

/**
 * Builds the metrics of `node` in a registry of their own (several nodes in one process each
 * get theirs). Counters of membership and the server are turned from the node's running
 * totals into Prometheus counters at scrape time.
 * @param defaults also export prom-client's process_* and nodejs_* metrics. @default true
 */
export function nodeMetrics(node: Node, defaults = true): NodeMetrics {
  const registry = new Registry()
  if (defaults) collectDefaultMetrics({ register: registry })
  const reg = [registry]

  new Gauge({ name: 'ww_table_peers', help: 'Peers listed in the routing table, this node included.', registers: reg, collect() { this.set(node.table.size) } })
  const changes = new Counter({ name: 'ww_table_changes_total', help: "Routing table changes by kind: joined, updated, left, expired.", labelNames: ['kind'] as const, registers: reg })
  for (const k of ['joined', 'updated', 'left', 'expired']) changes.inc({ kind: k }, 0)
  const onChange = (c: TableChange): void => changes.inc({ kind: c.kind })
  node.table.on('change', onChange)

  // Running totals read at scrape time, exported as counters by their increase since the last scrape.
  const fromTotal = (name: string, help: string, read: () => Record<string, number>, label?: string): void => {
    const last = new Map<string, number>()
    new Counter({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: reg,
      collect() {
        for (const [k, v] of Object.entries(read())) {
          const d = v - (last.get(k) ?? 0)
          last.set(k, v)
          if (label === undefined) this.inc(d)
          else this.inc({ [label]: k }, d)
        }
      },
    })
  }
  const ms = node.membership.stats
  fromTotal('ww_heartbeats_sent_total', "Heartbeats this node published.", () => ({ '': ms.published }))
  fromTotal('ww_heartbeat_publish_failures_total', 'Heartbeat publish attempts that failed.', () => ({ '': ms.publishFailures }))
  fromTotal('ww_heartbeats_received_total', 'Heartbeats validated, by outcome: accepted, ignored (dropped, not penalised), rejected (invalid; the sender is penalised).', () => ({ accepted: ms.accepted, ignored: ms.ignored, rejected: ms.rejected }), 'outcome')
  fromTotal(
    'ww_heartbeats_dropped_total',
    'Heartbeats not listed, by reason: invalid, stale (older or duplicate), future (clock skew), replayed, not_allowed (allow-list), table_full (max peers).',
    () => ({
      invalid: ms.rejected,
      stale: ms.ignored - ms.future - ms.replayed - ms.notAllowed,
      future: ms.future,
      replayed: ms.replayed,
      not_allowed: ms.notAllowed,
      table_full: ms.full,
    }),
    'reason',
  )

  const gossip = node.libp2p.services.pubsub
  new Gauge({ name: 'ww_p2p_connections', help: 'Open libp2p connections to other nodes.', registers: reg, collect() { this.set(node.libp2p.getConnections().length) } })
  new Gauge({ name: 'ww_gossip_peers', help: 'Peers gossipsub knows (speaking gossipsub with this node).', registers: reg, collect() { this.set(gossip.getPeers().length) } })
  new Gauge({ name: 'ww_gossip_mesh_peers', help: "Peers in this node's gossipsub mesh of the heartbeat topic.", registers: reg, collect() { this.set(meshPeerCount(node.libp2p, node.membership.topic)) } })

  const server = node.clients
  const stats = () => server?.stats()
  new Gauge({ name: 'ww_client_connections', help: 'Open client protocol connections.', registers: reg, collect() { this.set(stats()?.connections ?? 0) } })
  new Gauge({ name: 'ww_client_streams', help: 'Open streams over all client connections.', registers: reg, collect() { this.set(stats()?.streams ?? 0) } })
  fromTotal('ww_client_connections_total', 'Client connections accepted.', () => ({ '': stats()?.totals.connectionsAccepted ?? 0 }))
  fromTotal('ww_client_bytes_sent_total', 'Bytes of frames sent to clients.', () => ({ '': stats()?.totals.bytesSent ?? 0 }))
  fromTotal(
    'ww_flow_control_waits_total',
    "Times a stream waited, by kind: credit (its client's window was used up), budget (its connection's bytes in flight), drain (the transport's buffer).",
    () => {
      const t = stats()?.totals
      return { credit: t?.creditWaits ?? 0, budget: t?.budgetWaits ?? 0, drain: t?.drainWaits ?? 0 }
    },
    'kind',
  )
  const calls = new Histogram({
    name: 'ww_call_duration_seconds',
    help: "Client calls by method, from the call to its result or its stream's end.",
    labelNames: ['method'] as const,
    buckets: [...CALL_BUCKETS],
    registers: reg,
  })
  const stopObserving = server?.observeCalls((method, sec) => calls.observe({ method }, sec))

  let closed = false
  return {
    registry,
    metrics: () => registry.metrics(),
    close() {
      if (closed) return
      closed = true
      node.table.off('change', onChange)
      stopObserving?.()
    },
  }
}

/** Options of {@link serveMetrics}. */
export interface MetricsServerInit {
  /** Where to listen: `HOST:PORT` or `PORT` (host 127.0.0.1; port 0 picks a free one). */
  listen: string
  /** Longest time for a request's headers, in ms. @default 5_000 */
  headersTimeout?: number
  /** Longest time for a whole request, in ms. @default 10_000 */
  requestTimeout?: number
  /** Also export prom-client's process_* and nodejs_* metrics. @default true */
  defaultMetrics?: boolean
}

/** A running metrics and health listener. */
export interface MetricsServer {
  /** The base URL, e.g. `http://127.0.0.1:9464` (the real port when port 0 was asked for). */
  readonly url: string
  /** The node's metrics. */
  readonly metrics: NodeMetrics
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>
}

/**
 * Serves `/metrics`, `/healthz` and `/readyz` of `node` (GET or HEAD; anything else 404 or 405).
 * Rejects with ERR_BAD_METRICS_LISTEN or ERR_METRICS_LISTEN_FAILED.
 */
export async function serveMetrics(node: Node, init: MetricsServerInit): Promise<MetricsServer> {
  const { host, port } = parseMetricsListen(init.listen)
  const metrics = nodeMetrics(node, init.defaultMetrics ?? true)
  const answer = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
  }
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      answer(res, 405, 'method not allowed\n')
      return
    }
    if (path === '/healthz') answer(res, 200, 'ok\n')
    else if (path === '/readyz') {
      if (isReady(node)) answer(res, 200, 'ready\n')
      else answer(res, 503, node.stopping ? 'not ready: stopping\n' : 'not ready: no peer seen yet from the bootstrap peers\n')
    } else if (path === '/metrics') {
      metrics.metrics().then(
        (text) => answer(res, 200, text, metrics.registry.contentType),
        (err: unknown) => answer(res, 500, `metrics failed: ${String(err)}\n`),
      )
    } else answer(res, 404, 'not found: try /metrics, /healthz or /readyz\n')
  }
  const http: HttpServer = createServer({ headersTimeout: init.headersTimeout ?? 5_000, requestTimeout: init.requestTimeout ?? 10_000, maxHeaderSize: 8192 }, handle)
  http.keepAliveTimeout = 5_000
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject)
      http.listen(port, host, () => {
        http.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    metrics.close()
    throw new WwError(ERR_METRICS_LISTEN_FAILED, `metrics could not listen on ${init.listen}: ${(err as Error).message}`, { cause: err })
  }
  // A client error (bad request line, header timeout) ends that socket only.
  http.on('clientError', (_err, socket) => socket.destroy())
  const a = http.address()
  const bound = typeof a === 'object' && a !== null ? a : { address: host, port }
  const url = `http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`
  let closing: Promise<void> | undefined
  return {
    url,
    metrics,
    close() {
      closing ??= new Promise<void>((resolve) => {
        metrics.close()
        http.close(() => resolve())
        http.closeAllConnections()
      })
      return closing
    },
  }
}
