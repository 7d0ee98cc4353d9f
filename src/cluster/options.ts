/**
 * Defaults and small parsers shared by the node and `ww start`: durations (`500ms`, `10s`,
 * `1m`), namespaces and the default addresses. Kept apart from the node so the command line
 * can validate flags without starting libp2p.
 */
import { WwError } from '../errors.js'
import { RESERVED_META_KEY } from '../record/record.js'

/** A duration flag could not be read (`--ttl 5 weeks`). */
export const ERR_BAD_DURATION = 'ERR_BAD_DURATION'
/** A namespace broke the naming rule of {@link validateNamespace}. */
export const ERR_BAD_NAMESPACE = 'ERR_BAD_NAMESPACE'
/** A `--meta` entry was not `key=value` with a non-empty key. */
export const ERR_BAD_META = 'ERR_BAD_META'

/** Heartbeat TTL in milliseconds. @default 10_000 */
export const DEFAULT_TTL = 10_000
/** Shortest TTL a node accepts for itself: below this, jitter and gossip delays dominate. @default 100 */
export const MIN_TTL = 100
/** Longest TTL (one day, as the record rules allow). @default 86_400_000 */
export const MAX_TTL = 86_400_000
/**
 * Longest TTL a node accepts in a heartbeat, and allows for its own (`--max-ttl`): a cluster
 * maximum, so a record signed once can't stay listed for a day after its node died. The
 * library's record rules allow up to {@link MAX_TTL} for local tables. @default 300_000 (5 min)
 */
export const DEFAULT_MAX_TTL = 300_000
/**
 * How far a sender's clock may be from the receiver's (`--max-clock-skew`): a heartbeat whose
 * seq (µs) is further than this ahead of the receiver's clock is ignored, and so is one older
 * than its ttl plus this. @default 300_000 (5 min)
 */
export const DEFAULT_MAX_CLOCK_SKEW = 300_000
/** Connections to other nodes a node keeps (`--min-peers`), dialled from its table. @default 6 */
export const DEFAULT_MIN_PEERS = 6
/** Where the client protocol listens unless told otherwise (docs/protocol.md). @default 'ws://127.0.0.1:8420' */
export const DEFAULT_LISTEN = 'ws://127.0.0.1:8420'
/**
 * Where libp2p listens unless `--p2p` says otherwise: loopback and an OS-chosen port, so a
 * node started without flags exposes nothing to the network. Clusters spanning machines pass
 * e.g. `--p2p /ip4/0.0.0.0/tcp/4001`. @default ['/ip4/127.0.0.1/tcp/0']
 */
export const DEFAULT_P2P: readonly string[] = ['/ip4/127.0.0.1/tcp/0']
/** Cluster namespace. @default 'ww' */
export const DEFAULT_NAMESPACE = 'ww'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/

/**
 * Reads a duration: a number with an optional unit `ms`, `s`, `m` or `h` (`500ms`, `10s`,
 * `1.5s`, `1m`); a bare number is milliseconds. Returns whole milliseconds (rounded).
 * Throws WwError ERR_BAD_DURATION for anything else, or for a result that is not a safe integer.
 */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new WwError(ERR_BAD_DURATION, `invalid duration: ${text}`)
    return Math.round(text)
  }
  const m = DURATION.exec(text)
  if (m === null) {
    throw new WwError(ERR_BAD_DURATION, `invalid duration '${text}': expected a number with an optional unit ms, s, m or h (e.g. 500ms, 10s, 1m)`)
  }
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!)
  if (!Number.isSafeInteger(ms)) throw new WwError(ERR_BAD_DURATION, `duration out of range: '${text}'`)
  return ms
}

/**
 * Checks a TTL for a node's own heartbeats: whole milliseconds from {@link MIN_TTL} to
 * `max`. Returns it; throws ERR_BAD_DURATION otherwise.
 * @param max longest TTL allowed. @default MAX_TTL
 */
export function validateTtl(ttl: number, max: number = MAX_TTL): number {
  if (!Number.isSafeInteger(ttl) || ttl < MIN_TTL || ttl > max) {
    throw new WwError(ERR_BAD_DURATION, `ttl must be from ${MIN_TTL} ms to ${max} ms${max < MAX_TTL ? ' (--max-ttl)' : ''}, got ${ttl}`)
  }
  return ttl
}

/** A `--min-peers` value was not a whole number from 0 to 1000. */
export const ERR_BAD_MIN_PEERS = 'ERR_BAD_MIN_PEERS'

/** Checks `--min-peers`: a whole number from 0 (mesh off) to 1000. Returns it; throws ERR_BAD_MIN_PEERS. */
export function validateMinPeers(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > 1000) throw new WwError(ERR_BAD_MIN_PEERS, `--min-peers must be a whole number from 0 to 1000, got ${n}`)
  return n
}

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * Checks a namespace: 1–64 characters of letters, digits, `_`, `.`, `-`, starting with a
 * letter or digit (it becomes part of a gossipsub topic). Returns it; throws ERR_BAD_NAMESPACE.
 */
export function validateNamespace(ns: string): string {
  if (!NAMESPACE.test(ns)) {
    throw new WwError(ERR_BAD_NAMESPACE, `invalid namespace '${ns}': use 1-64 letters, digits, '_', '.', '-'`)
  }
  return ns
}

/**
 * Reads `key=value` entries (`--meta region=us-east-1`) into a plain object. The value may
 * contain `=` (only the first one splits); later entries with the same key win.
 * Throws ERR_BAD_META for an entry without `=` or with an empty key, or for the reserved key `__proto__`.
 */
export function parseMeta(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of entries) {
    const i = e.indexOf('=')
    if (i <= 0) throw new WwError(ERR_BAD_META, `invalid meta '${e}': expected key=value with a non-empty key`)
    const key = e.slice(0, i)
    if (key === RESERVED_META_KEY) throw new WwError(ERR_BAD_META, `invalid meta '${e}': the key ${key} is reserved`)
    out[key] = e.slice(i + 1)
  }
  return out
}

/**
 * Where the node reports what an operator should know (publishing failed / recovered, a
 * bootstrap peer unreachable). Lines are plain sentences, reported once per state change,
 * never once per heartbeat.
 */
export interface Logger {
  /** A state change worth knowing (recovered, reaching peers again). */
  info(message: string): void
  /** Something an operator should look at (publishing failing, bootstrap peer unreachable). */
  warn(message: string): void
  /**
   * Something that is wrong and won't fix itself (another process runs with this node's
   * identity). @default warn
   */
  error?(message: string): void
}

/** A logger that drops everything: the library default. */
export const silentLogger: Logger = { info: () => {}, warn: () => {} }
