/**
 * `startNode`: one ww node (docs/design.md#library-api). It owns a libp2p host (TCP, Noise, Yamux, Identify,
 * gossipsub with StrictSign), a routing table filled by {@link Membership} from the
 * namespace's heartbeat topic, and optionally the client protocol server.
 *
 * Peers. `bootstrap` multiaddrs (each ending in `/p2p/<peer>`) only seed the first contact:
 * they are handed to `@libp2p/bootstrap`, which dials them once, and while the node has no
 * connection at all its own redial loop dials them again with backoff (500 ms doubling to
 * 10 s). Every heartbeat carries the node's own multiaddrs (`addrs`), and the mesh keeper
 * (src/cluster/mesh.ts) keeps connections to at least `minPeers` peers picked at random from
 * the table, so the cluster stays one connected graph when any node, the bootstrap node
 * included, goes away. gossipsub carries heartbeats across the graph's hops.
 * With `mdns`, peers found on the local network are dialled as they are discovered.
 *
 * Namespaces. Nodes of different namespaces may share connections: the gossipsub protocol IDs
 * stay standard (keeping v1.1/v1.2 features: backoff, IDONTWANT, scoring), and each node
 * subscribes to, and validates, its own namespace's topic only; gossipsub drops messages of
 * topics a node is not subscribed to.
 */
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { bootstrap } from '@libp2p/bootstrap'
import { mdns } from '@libp2p/mdns'
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { KEEP_ALIVE, type Libp2p, type PeerDiscovery, type PeerId, type PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { hostname } from 'node:os'
import { WwError } from '../errors.js'
import { serve, type ServeInit, type Server } from '../proto/server/server.js'
import { defaultIdentityPath, loadIdentity, lockIdentity } from '../cluster/identity.js'
import { Mesh, MESH_DIAL_TIMEOUT } from '../cluster/mesh.js'
import { Reconnector } from '../cluster/reconnect.js'
import { DIAL_TIMEOUT, DIAL_TIMEOUT_GROWTH, Redialer } from '../cluster/redial.js'
import { Sync } from '../cluster/sync.js'
import { heartbeatTopic, Membership } from '../cluster/membership.js'
import { MEMBERSHIP_GOSSIPSUB } from '../cluster/gossip.js'
import { clusterScoreParams, gossipScore, LOOPBACK_NETS, SCORE_THRESHOLDS, ScoreGuard } from '../cluster/scoring.js'
import { DEFAULT_LISTEN, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_TTL, DEFAULT_MIN_PEERS, DEFAULT_NAMESPACE, DEFAULT_P2P, DEFAULT_TTL, ERR_BAD_DURATION, silentLogger, validateMinPeers, validateNamespace, validateTtl, type Logger } from '../cluster/options.js'
import { RoutingTable } from '../table/table.js'
import { loadSwarmKey, type SwarmKey } from '../cluster/swarm-key.js'
import { Admission, admissionGater, DEFAULT_MAX_PEERS, loadAllowList, validateMaxPeers, type AllowList } from '../cluster/admission.js'
import { PubSubBackend, type PubSubBackendInit } from '../cluster/pubsub.js'
import { pubsubCaps } from '../proto/server/pubsub-cap.js'
import { InfoSampler, meshPeerCount } from './info.js'

// What NodeInit's swarmKey and allowPeers take, for the library's front door.
export { generateSwarmKey, parseSwarmKey, type SwarmKey } from '../cluster/swarm-key.js'
export { AllowList, parseAllowList } from '../cluster/admission.js'

/** A `--p2p` or `--bootstrap` address is not a usable multiaddr. */
export const ERR_BAD_MULTIADDR = 'ERR_BAD_MULTIADDR'
/** libp2p could not start (e.g. the `--p2p` address is in use or not local). */
export const ERR_P2P_START = 'ERR_P2P_START'

/** The libp2p services a ww node runs. */
export type NodeServices = {
  /** gossipsub: heartbeats, and the topics of client pub/sub. */
  pubsub: GossipSub
  /** libp2p identify: tells peers which protocols this node speaks. */
  identify: Identify
}

/** What the `serve` hook of {@link NodeInit} is given. */
export interface ServeContext {
  /** The node's peer ID. */
  peer: string
  /** The node's namespace. */
  ns: string
  /** The node's routing table. */
  table: RoutingTable
  /** The node's gossipsub (e.g. for a PubSubBackend). */
  pubsub: GossipSub
}

/** Options of {@link startNode}. */
export interface NodeInit {
  /** Client protocol URL to listen on; `false` serves nothing. @default 'ws://127.0.0.1:8420' */
  listen?: string | false
  /** libp2p listen multiaddrs. @default ['/ip4/127.0.0.1/tcp/0'] */
  p2p?: string[]
  /** Peers to join through: full multiaddrs ending in `/p2p/<peer>`. @default [] */
  bootstrap?: string[]
  /** Find and dial peers on the local network with mDNS. @default false */
  mdns?: boolean
  /** Cluster namespace. @default 'ww' */
  ns?: string
  /** Host name announced. @default os.hostname() */
  host?: string
  /** Meta announced. @default {} */
  meta?: Record<string, string>
  /** Heartbeat TTL in ms (100 … maxTtl). @default 10_000 */
  ttl?: number
  /** Longest ttl accepted in a heartbeat (and for this node's own), in ms (100 … 86 400 000). @default 300_000 */
  maxTtl?: number
  /** How far another node's clock may be off, in ms: see docs/design.md, "Membership". @default 300_000 */
  maxClockSkew?: number
  /**
   * The routing table's clock, in ms: expiry is measured on it (docs/design.md, "Expiry").
   * For tests, to make the node's time jump as after a stall.
   * @default the table's own monotonic clock
   */
  tableNow?: () => number
  /**
   * Connections to other nodes to keep, dialled at random from the table by the addresses
   * their heartbeats carry (src/cluster/mesh.ts); 0 keeps only what bootstrap and others
   * dial, and turns off reconnecting to peers whose records expired (src/cluster/reconnect.ts).
   * @default 6
   */
  minPeers?: number
  /** Identity file path (locked while the node runs: ERR_IDENTITY_LOCKED if another node holds it), or the key itself. @default `$XDG_CONFIG_HOME/ww/identity.key` (or ~/.config/ww) */
  identity?: string | PrivateKey
  /**
   * Private cluster: a swarm key file path (`ww keygen`), or a parsed key. Every connection is
   * then encrypted under this pre-shared key before the Noise handshake, so only nodes holding
   * the same key can connect (docs/security.md). @default undefined (any peer may connect)
   */
  swarmKey?: string | SwarmKey
  /**
   * Only these peers may connect and be listed: a file of peer IDs (one per line, `#`
   * comments), or the list itself. The node itself is always allowed. Enforced by libp2p's
   * connection gater and again by the heartbeat validator (docs/security.md).
   * @default undefined (any peer that can connect)
   */
  allowPeers?: string | AllowList
  /**
   * Most peers the table lists (this node included): beyond it, heartbeats of new peers are
   * refused and counted in `membership.stats.full`; listed peers keep updating. @default 100_000
   */
  maxPeers?: number
  /** Clients must present this token to get the real View. @default undefined (open) */
  token?: string
  /** Reports publish failures/recoveries and unreachable bootstrap peers. @default silent */
  logger?: Logger
  /**
   * Extra options for the protocol server (e.g. plugin transports, a pubsub backend), or a
   * function building them from the started node's parts. @default undefined
   */
  serve?: Partial<ServeInit> | ((ctx: ServeContext) => Partial<ServeInit>)
  /** gossipsub overrides (D, Dlo, Dhi, heartbeatInterval, …): operator knobs, see docs/scaling.md. @default {} */
  gossipsub?: Partial<GossipsubOpts>
  /** Client PubSub limits (subscription buffer, topics, subscriptions); see docs/pubsub.md. @default {} */
  pubsub?: Pick<PubSubBackendInit, 'buffer' | 'maxTopics' | 'maxSubscriptions'>
}

/** A running node. */
export interface Node {
  /** Peer ID (base58btc). */
  readonly peer: string
  /** This process's instance ID (16 hex digits). */
  readonly server: string
  /** The client protocol URL, or undefined with `listen: false`. */
  readonly addr: string | undefined
  /** Full libp2p multiaddrs, each ending in `/p2p/<peer>` (ready for `--bootstrap`). */
  readonly multiaddrs: string[]
  /** The node's routing table (its own record included). */
  readonly table: RoutingTable
  /** The libp2p host (its `services.pubsub` is the gossipsub instance). */
  readonly libp2p: Libp2p<NodeServices>
  /** Heartbeat sender/validator (topic, counters). */
  readonly membership: Membership
  /** The mesh keeper: connections to at least `minPeers` peers of the table (counters). */
  readonly mesh: Mesh
  /** State sync on connect (counters). */
  readonly sync: Sync
  /** Retries peers whose records expired, so a healed partition joins up again (counters; off with `minPeers` 0). */
  readonly reconnect: Reconnector
  /** The clients' PubSub over this node's gossipsub (topics joined, subscriptions, counters). */
  readonly pubsub: PubSubBackend
  /** The client protocol server (its `stats()` and `observeCalls`), or undefined with `listen: false`. */
  readonly clients: Server | undefined
  /** When the node started (ms since the epoch, `Date.now()`). */
  readonly startedAt: number
  /** The bootstrap multiaddrs it was given: with none, the node runs alone by choice until a peer finds it. */
  readonly bootstrap: readonly string[]
  /** True from the moment `stop()` or `kill()` is called: the node is leaving (its /readyz answers 503). */
  readonly stopping: boolean
  /** Leaves gracefully: a final ttl=0 heartbeat (waited for, bounded), then stops everything. Idempotent. */
  stop(): Promise<void>
  /**
   * For tests: stops everything WITHOUT the leave heartbeat, as a crash would look to the
   * other nodes (they expire this node after its TTL). Idempotent.
   */
  kill(): Promise<void>
}

/** Least time libp2p's connection monitor waits for a ping before it aborts the connection, in ms (libp2p's own: 5000). */
export const PING_TIMEOUT_MIN = 10_000
/**
 * A node warns that it is starved once its event loop runs this late, or a quarter of its TTL
 * if that is longer (the soonest its next heartbeat can be due), in ms.
 */
export const LATE_WARN_MIN = 500
const LEAVE_WAIT = 1_000
// After gossipsub has taken the leave, give the connections a moment to write it out
// before libp2p closes them.
const LEAVE_FLUSH = 100

/** Starts a node; see {@link NodeInit}. Everything started is stopped again if a later step fails. */
export async function startNode(init: NodeInit = {}): Promise<Node> {
  const startedAt = Date.now()
  const ns = validateNamespace(init.ns ?? DEFAULT_NAMESPACE)
  const maxTtl = validateTtl(init.maxTtl ?? DEFAULT_MAX_TTL)
  const ttl = validateTtl(init.ttl ?? DEFAULT_TTL, maxTtl)
  const maxClockSkew = init.maxClockSkew ?? DEFAULT_MAX_CLOCK_SKEW
  const minPeers = validateMinPeers(init.minPeers ?? DEFAULT_MIN_PEERS)
  if (!Number.isSafeInteger(maxClockSkew) || maxClockSkew < 0) throw new WwError(ERR_BAD_DURATION, `max clock skew must be whole milliseconds ≥ 0, got ${maxClockSkew}`)
  const maxPeers = validateMaxPeers(init.maxPeers ?? DEFAULT_MAX_PEERS)
  const log = init.logger ?? silentLogger
  const p2p = (init.p2p ?? [...DEFAULT_P2P]).map((a) => parseAddr(a, '--p2p'))
  const boot = (init.bootstrap ?? []).map(parseBootstrap)
  const { key, release } = await useIdentity(init.identity)
  const self = peerIdFromPrivateKey(key)
  const peers = boot.filter((b) => !b.peer.equals(self))
  let swarm: SwarmKey | undefined
  let listed: AllowList | undefined
  try {
    swarm = typeof init.swarmKey === 'string' ? await loadSwarmKey(init.swarmKey) : init.swarmKey
    listed = typeof init.allowPeers === 'string' ? await loadAllowList(init.allowPeers) : init.allowPeers
  } catch (err) {
    await release()
    throw err
  }
  const allow = listed?.with(self.toString())
  for (const b of peers) {
    if (allow !== undefined && !allow.has(b.peer)) log.warn(`bootstrap peer ${b.peer.toString()} is not on ${allow.source}; it will not be dialled`)
  }

  // A 'change' listener that throws is reported, never thrown into gossipsub: to the node's
  // logger when it has one, else as a process warning (the table's default).
  const table = new RoutingTable({
    ...(init.logger === undefined ? {} : { onListenerError: (err, c) => log.warn(`a routing table 'change' listener threw on '${c.kind}' of ${c.record.peer}: ${String(err)}`) }),
    ...(init.tableNow !== undefined ? { now: init.tableNow } : {}),
  })
  const admission = new Admission({ table, allow, maxPeers })
  const discovery: Array<(c: any) => PeerDiscovery> = []
  if (peers.length > 0) {
    discovery.push(bootstrap({ list: peers.map((b) => b.addr.toString()), timeout: 10, tagName: `${KEEP_ALIVE}-ww-bootstrap`, tagValue: 50 }))
  }
  if (init.mdns === true) discovery.push(mdns({ serviceTag: '_ww._udp.local' }))

  let guard: ScoreGuard | undefined
  const scoreParams = clusterScoreParams(heartbeatTopic(ns), init.gossipsub?.scoreParams, (p) => guard?.appScore(p) ?? 0)
  let libp2p: Libp2p<NodeServices>
  try {
    libp2p = await createLibp2p<NodeServices>({
      privateKey: key,
      addresses: { listen: p2p.map((a) => a.toString()) },
      ...(swarm !== undefined ? { connectionProtector: preSharedKey({ psk: swarm.psk }) } : {}),
      connectionGater: admissionGater({ allow, refused: (p) => guard?.refused(p) === true }),
      // Loopback peers are processes of this host (ww dev, tests, several nodes on one
      // machine): exempt from libp2p's inbound limit of 5 connections a second per host, which
      // otherwise admits a cold start of 64 nodes through one seed at 5 a second.
      //
      // libp2p also cuts every dial of one address at 6 s (`addressDialTimeout`), whatever
      // bound its caller set: the bootstrap redial's growing bound (src/cluster/redial.ts) never
      // got past it, and a seed busy with a cold start's handshakes answers after that. The cap
      // is raised to that redial's largest bound; every dial ww makes carries its own.
      connectionManager: { allow: [...LOOPBACK_NETS], addressDialTimeout: DIAL_TIMEOUT * DIAL_TIMEOUT_GROWTH },
      // libp2p pings every connection every 10 s and aborts it when a ping takes longer than
      // its adaptive bound (5 s at least). A busy node answers late, not never: during a cold
      // start of 64 nodes on 2 cores that aborted live connections, whose peers then dialled
      // and synced again, which made the node busier. 10 s, not more: a peer frozen for longer
      // should lose its connections, or it wakes to a backlog of everything sent to it
      // meanwhile (20 s let a half of the cluster frozen for 2 × TTL come back 1.4 TTL late).
      connectionMonitor: { pingTimeout: { minTimeout: PING_TIMEOUT_MIN } },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: discovery,
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          allowPublishToZeroTopicPeers: true,
          fallbackToFloodsub: false,
          emitSelf: false,
          ...MEMBERSHIP_GOSSIPSUB,
          ...init.gossipsub,
          scoreParams: scoreParams,
          scoreThresholds: { ...SCORE_THRESHOLDS, ...init.gossipsub?.scoreThresholds },
        }),
      },
    })
  } catch (err) {
    table.close()
    await release()
    throw new WwError(ERR_P2P_START, `libp2p could not start on ${p2p.join(', ')}: ${listenFailure(err)}`, { cause: err })
  }

  const peer = self.toString()
  const gossip = libp2p.services.pubsub
  guard = new ScoreGuard({
    host: libp2p,
    score: (p) => gossipScore(gossip, p),
    threshold: init.gossipsub?.scoreThresholds?.graylistThreshold ?? SCORE_THRESHOLDS.graylistThreshold,
    banMs: scoreParams.retainScore ?? 3_600_000,
    interval: init.gossipsub?.heartbeatInterval ?? 1000,
    logger: log,
  })
  guard.start()
  const pubsub = new PubSubBackend({ ...init.pubsub, pubsub: libp2p.services.pubsub, peer, ns })
  let membership: Membership | undefined
  let sync: Sync | undefined
  let server: Server | undefined
  let info: InfoSampler | undefined
  const redial = new Redialer({ libp2p, peers, logger: log })
  const hbTopic = heartbeatTopic(ns)
  const subscribers = (): Set<string> => new Set(gossip.getSubscribers(hbTopic).map((s) => s.toString()))
  const mesh = new Mesh({ libp2p, table, minPeers, subscribers, logger: log, ...(allow !== undefined ? { allowed: (p: string) => allow.has(p) } : {}) })
  const reconnect = new Reconnector({ libp2p, table, ...(allow !== undefined ? { allowed: (p: string) => allow.has(p) } : {}) })
  const onDiscovery = (evt: CustomEvent<{ id: PeerId }>): void => {
    const id = evt.detail.id
    if (id.equals(self) || libp2p.getConnections(id).length > 0) return
    libp2p.dial(id, { signal: AbortSignal.timeout(MESH_DIAL_TIMEOUT) }).catch(() => {
      // A discovered peer that can't be reached is simply not part of the mesh.
    })
  }
  if (init.mdns === true) libp2p.addEventListener('peer:discovery', onDiscovery)

  let stopped: Promise<void> | undefined
  const shutdown = (graceful: boolean): Promise<void> => {
    stopped ??= (async () => {
      redial.stop()
      info?.stop()
      mesh.stop()
      reconnect.stop()
      await sync?.stop()
      guard?.stop()
      libp2p.removeEventListener('peer:discovery', onDiscovery)
      if (graceful && membership !== undefined) {
        await membership.leave(LEAVE_WAIT)
        await new Promise((r) => setTimeout(r, LEAVE_FLUSH))
      }
      membership?.stop()
      pubsub.close()
      await Promise.allSettled([server?.close(), libp2p.stop()])
      table.close()
      await release()
    })()
    return stopped
  }

  try {
    membership = new Membership({
      pubsub: libp2p.services.pubsub,
      table,
      peer,
      ns,
      ttl,
      host: init.host ?? hostname(),
      meta: init.meta ?? {},
      logger: log,
      maxTtl,
      maxClockSkew,
      admission,
      addrs: () => libp2p.getMultiaddrs().map((a) => withPeer(a, peer)),
      key,
    })
    await membership.start()
    sync = new Sync({ libp2p, membership, ns, logger: log, punish: (p, why) => guard?.punish(p, why), onPulled: () => mesh.nudge(), table })
    await sync.start()
    redial.start()
    mesh.start()
    if (minPeers > 0) reconnect.start()
    if (init.listen !== false) {
      const extra = typeof init.serve === 'function' ? init.serve({ peer, ns, table, pubsub: libp2p.services.pubsub }) : init.serve ?? {}
      info = new InfoSampler({
        peer,
        ns,
        startedAt,
        server: membership.server,
        stats: membership.stats,
        p2p: () => libp2p.getMultiaddrs().map((a) => withPeer(a, peer)),
        listen: () => server?.url ?? '',
        tablePeers: () => table.size,
        connectedPeers: () => new Set(libp2p.getConnections().map((c) => c.remotePeer.toString())).size,
        meshPeers: () => meshPeerCount(libp2p, membership!.topic),
        clients: () => {
          const st = server?.stats()
          return { connections: st?.connections ?? 0, streams: st?.streams ?? 0 }
        },
      }, {
        afterMs: Math.max(LATE_WARN_MIN, ttl / 4),
        warn: (lag) =>
          log.warn(`event loop ${lag} ms late (TTL ${ttl} ms): heartbeats go out and are taken in late, and live peers may expire; give the node more CPU, run fewer nodes on this host or raise --ttl (docs/operations.md, "A starved node")`),
      })
      info.start()
      const sampler = info
      server = await serve({ info: () => sampler.info(), pubsub: pubsubCaps(pubsub), ...extra, listen: init.listen ?? DEFAULT_LISTEN, table, peer, ...(init.token !== undefined ? { token: init.token } : {}) })
    }
  } catch (err) {
    await shutdown(false)
    throw err
  }

  const m = membership
  const sy = sync as Sync
  const srv = server
  return {
    peer,
    server: m.server,
    addr: srv?.url,
    get multiaddrs() {
      return libp2p.getMultiaddrs().map((a) => withPeer(a, peer))
    },
    table,
    libp2p,
    membership: m,
    mesh,
    reconnect,
    sync: sy,
    pubsub,
    clients: srv,
    startedAt,
    bootstrap: [...(init.bootstrap ?? [])],
    get stopping() {
      return stopped !== undefined
    },
    stop: () => shutdown(true),
    kill: () => shutdown(false),
  }
}

/**
 * The node's key: the one given, or the one in the identity file, locked for as long as the
 * node runs (a second node with the same file fails with ERR_IDENTITY_LOCKED).
 */
async function useIdentity(identity: string | PrivateKey | undefined): Promise<{ key: PrivateKey; release: () => Promise<void> }> {
  if (typeof identity === 'object') return { key: identity, release: async () => {} }
  const path = identity ?? defaultIdentityPath()
  const lock = await lockIdentity(path)
  try {
    return { key: (await loadIdentity(path)).key, release: () => lock.release() }
  } catch (err) {
    await lock.release()
    throw err
  }
}

function parseAddr(text: string, flag: string): Multiaddr {
  try {
    return multiaddr(text)
  } catch (err) {
    throw new WwError(ERR_BAD_MULTIADDR, `invalid ${flag} multiaddr '${text}': ${(err as Error).message}`, { cause: err })
  }
}

function parseBootstrap(text: string): { addr: Multiaddr; peer: PeerId } {
  const addr = parseAddr(text, '--bootstrap')
  const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
  if (id === undefined) {
    throw new WwError(ERR_BAD_MULTIADDR, `--bootstrap '${text}' has no /p2p/<peer> part: pass the full address printed by 'ww start'`)
  }
  try {
    return { addr, peer: peerIdFromString(id) }
  } catch (err) {
    throw new WwError(ERR_BAD_MULTIADDR, `--bootstrap '${text}' has an invalid peer ID: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * libp2p's listen failure in one line: its message lists each address with the socket error
 * and that error's stack; keep `address: error` of each, drop the advice and the stacks.
 */
export function listenFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  const failed = message
    .split('\n')
    .map((l) => /^\s*(\/\S+): (?:\w*Error: )?(.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}: ${m[2]}`)
  return failed.length > 0 ? failed.join('; ') : message.split('\n')[0]!
}

function withPeer(a: Multiaddr, peer: string): string {
  const s = a.toString()
  return s.includes('/p2p/') ? s : `${s}/p2p/${peer}`
}

