/**
 * Who may take part in the cluster, and how many peers one node lists.
 *
 * The allow-list (`ww start --allow-peers FILE`) names the peer IDs that may connect. It is
 * enforced twice:
 *
 * - by libp2p's connection gater ({@link admissionGater}): a dial to an unlisted peer is not
 *   made, and a connection from one is closed as soon as the Noise handshake has shown its
 *   peer ID, before any stream (identify, gossipsub) is opened on it;
 * - by the heartbeat validator ({@link Admission.admit}): a heartbeat signed by an unlisted
 *   peer is not taken into the table and not forwarded, even when an allowed neighbour relays
 *   it (a neighbour running without the list, or with a newer one).
 *
 * The validator answers Ignore, not Reject, for an unlisted signer: the message is dropped and
 * never forwarded, but the neighbour that relayed it is not penalised, because during a roll-out
 * of a new list an honest neighbour that already has it relays peers this node does not know
 * yet, and punishing it would cut honest links. Unlisted peers can't connect here anyway.
 *
 * The table capacity (`--max-peers`, default {@link DEFAULT_MAX_PEERS}) bounds how many peers a
 * node lists: once the table holds that many, a heartbeat of a peer that is not in it is not
 * listed, and counted, while listed peers keep updating and leaving. A slot frees when a peer
 * leaves or expires. Such a heartbeat is still accepted for forwarding: the capacity bounds
 * this node's memory, and must not make a full node a wall that hides new peers from the
 * nodes behind it (each of them applies its own capacity). The check sits in the validation
 * path, not in the table, so a local `RoutingTable` used as a library is not limited.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { WwError } from '../errors.js'
import { readFileBounded } from '../file.js'
import type { RoutingRecord } from '../record/record.js'
import type { RoutingTable } from '../table/table.js'

/** The `--allow-peers` file can't be read, or a line is not a peer ID. */
export const ERR_ALLOW_LIST_INVALID = 'ERR_ALLOW_LIST_INVALID'
/** `--max-peers` is not a whole number ≥ 1. */
export const ERR_BAD_MAX_PEERS = 'ERR_BAD_MAX_PEERS'

/** Most peers one node lists (its own record included). @default 100_000 */
export const DEFAULT_MAX_PEERS = 100_000

/** Largest allow-list file read: 1 MiB is ~19 000 peer IDs. */
const MAX_FILE_BYTES = 1 << 20

/** The peer IDs allowed to take part in the cluster (base58btc strings). */
export class AllowList {
  readonly #peers: ReadonlySet<string>
  /** Where the list came from (a path, or 'allow-list'). */
  readonly source: string

  /** @param source named in messages. @default 'allow-list' */
  constructor(peers: Iterable<string>, source = 'allow-list') {
    this.#peers = new Set(peers)
    this.source = source
  }

  /** Number of peer IDs listed. */
  get size(): number {
    return this.#peers.size
  }

  /** True when `peer` (a base58btc string or a PeerId) is listed. */
  has(peer: string | PeerId): boolean {
    return this.#peers.has(typeof peer === 'string' ? peer : peer.toString())
  }

  /** The same list with `peers` added (a node always allows itself). */
  with(...peers: string[]): AllowList {
    return new AllowList([...this.#peers, ...peers], this.source)
  }

  /** The listed peer IDs. */
  [Symbol.iterator](): IterableIterator<string> {
    return this.#peers.values()
  }
}

/**
 * Reads an allow-list: one peer ID per line (the `peer` line `ww start` prints); blank lines
 * and everything after a `#` are ignored; surrounding blanks are trimmed. Each ID must parse
 * as a libp2p peer ID and is stored in its canonical base58btc form.
 * @param source named in error messages. @default 'allow-list'
 * @throws WwError ERR_ALLOW_LIST_INVALID naming the first bad line.
 */
export function parseAllowList(text: string, source = 'allow-list'): AllowList {
  const peers: string[] = []
  const lines = text.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '') continue
    let id: string
    try {
      id = peerIdFromString(line).toString()
    } catch (err) {
      const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line
      throw new WwError(ERR_ALLOW_LIST_INVALID, `${source} line ${i + 1}: '${shown}' is not a peer ID (${(err as Error).message})`, { cause: err })
    }
    peers.push(id)
  }
  return new AllowList(peers, source)
}

/**
 * Loads an allow-list file (see {@link parseAllowList}).
 * @throws WwError ERR_ALLOW_LIST_INVALID when it can't be read or a line is not a peer ID.
 */
export async function loadAllowList(path: string): Promise<AllowList> {
  // A regular file of at most MAX_FILE_BYTES, bounded while reading (src/file.ts).
  const text = (await readFileBounded(path, MAX_FILE_BYTES, ERR_ALLOW_LIST_INVALID, { label: `allow-list ${path}` })).toString('utf8')
  return parseAllowList(text, `allow-list ${path}`)
}

/**
 * Checks a table capacity: a whole number ≥ 1. Returns it; throws ERR_BAD_MAX_PEERS.
 */
export function validateMaxPeers(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new WwError(ERR_BAD_MAX_PEERS, `max peers must be a whole number ≥ 1, got ${n}`)
  return n
}

/** What {@link admissionGater} consults. */
export interface GaterInit {
  /** Peers allowed; undefined allows everyone. @default undefined */
  allow?: AllowList
  /** Peers refused for now (e.g. graylisted by gossipsub scoring). @default () => false */
  refused?: (peer: string) => boolean
}

/**
 * A libp2p connection gater enforcing the allow-list (and any temporary refusal): dials to a
 * refused peer are not made, and a connection whose remote peer turns out refused after the
 * encryption handshake is closed, inbound or outbound (a dial by address alone only learns the
 * peer ID there).
 */
export function admissionGater(init: GaterInit): ConnectionGater {
  const refused = init.refused ?? (() => false)
  const deny = (peer: PeerId): boolean => {
    const id = peer.toString()
    return (init.allow !== undefined && !init.allow.has(id)) || refused(id)
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
  }
}

/** Why {@link Admission.admit} refused a record. */
export type Refusal = 'not-allowed' | 'full'

/** Options of {@link Admission}. */
export interface AdmissionInit {
  /** The table records go into (its size and contents decide capacity). */
  table: RoutingTable
  /** Peers allowed; undefined allows everyone. @default undefined */
  allow?: AllowList
  /** Most peers listed, the node's own record included. @default DEFAULT_MAX_PEERS */
  maxPeers?: number
}

/** The admission rules of the heartbeat path: the allow-list and the table capacity. */
export class Admission {
  /** The capacity in force. */
  readonly maxPeers: number
  readonly #table: RoutingTable
  readonly #allow: AllowList | undefined

  constructor(init: AdmissionInit) {
    this.#table = init.table
    this.#allow = init.allow
    this.maxPeers = validateMaxPeers(init.maxPeers ?? DEFAULT_MAX_PEERS)
  }

  /**
   * Whether a validly signed record may go into the table: undefined when it may, else why
   * not. A peer already listed always may (updates and leaves keep flowing when full).
   */
  admit(record: RoutingRecord): Refusal | undefined {
    if (this.#allow !== undefined && !this.#allow.has(record.peer)) return 'not-allowed'
    if (this.#table.get(record.peer) === undefined && this.#table.size >= this.maxPeers) return 'full'
    return undefined
  }
}
