/**
 * The `info` answer on the wire (docs/protocol.md#info): a map of the {@link NodeInfo}
 * fields. The client checks every field, so a node answering garbage gives ERR_BAD_FRAME, not
 * a half-read object; unknown fields are ignored (a newer node may add some).
 */
import { WwError } from '../../errors.js'
import type { NodeInfo } from '../../api.js'
import { ERR_BAD_FRAME } from './frames.js'

const MAX_ADDRS = 64
const MAX_TEXT = 4096

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function bad(what: string): WwError {
  return new WwError(ERR_BAD_FRAME, `info: the node answered an invalid ${what}`)
}

function text(m: Record<string, unknown>, k: string): string {
  const v = m[k]
  if (typeof v !== 'string' || v.length > MAX_TEXT) throw bad(`'${k}'`)
  return v
}

function count(m: Record<string, unknown>, k: string): number {
  const v = m[k]
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`'${k}'`)
  return v
}

/** Reads and checks an `info` answer. Throws ERR_BAD_FRAME for anything not a valid NodeInfo map. */
export function checkNodeInfo(v: unknown): NodeInfo {
  if (!isMap(v)) throw bad('answer (not a map)')
  const p2p = v.p2p
  if (!Array.isArray(p2p) || p2p.length > MAX_ADDRS || !p2p.every((a) => typeof a === 'string' && a.length <= MAX_TEXT)) throw bad("'p2p'")
  const h = v.heartbeats
  if (!isMap(h)) throw bad("'heartbeats'")
  const l = v.load
  if (l !== undefined && !isMap(l)) throw bad("'load'")
  return {
    peer: text(v, 'peer'),
    server: text(v, 'server'),
    version: text(v, 'version'),
    ns: text(v, 'ns'),
    p2p: p2p as string[],
    listen: text(v, 'listen'),
    uptimeMs: count(v, 'uptimeMs'),
    tablePeers: count(v, 'tablePeers'),
    connectedPeers: count(v, 'connectedPeers'),
    meshPeers: count(v, 'meshPeers'),
    heartbeats: {
      in: count(h, 'in'),
      out: count(h, 'out'),
      rejected: count(h, 'rejected'),
      inPerSec: count(h, 'inPerSec'),
      outPerSec: count(h, 'outPerSec'),
      rejectedPerSec: count(h, 'rejectedPerSec'),
    },
    clients: count(v, 'clients'),
    streams: count(v, 'streams'),
    ...(l !== undefined ? { load: { cpu: count(l, 'cpu'), lagMs: count(l, 'lagMs') } } : {}),
  }
}
