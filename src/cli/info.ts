/**
 * `ww info`: what a node says about itself (View.info): peer ID, version, addresses, uptime,
 * the table, its peers, heartbeat rates, its clients and its process's load. `--format text` (aligned lines) or
 * `json` (the NodeInfo map, one object). Exit 2 when it cannot connect, 4 for the null View.
 */
import type { NodeInfo } from '../api.js'
import { formatFor, type CliContext } from '../client/context.js'
import { CliError, EXIT, notAuthorized, streamFailed } from '../client/errors.js'
import { Output } from '../client/output.js'
import { closeQuietly, connectOrExit } from '../client/query.js'

/** The format name no built-in provides for `ww info` (it prints text or json only). */
const ERR_UNKNOWN_FORMAT = 'ERR_UNKNOWN_FORMAT'

/** A duration for people: `3d 4h`, `2h 5m`, `4m 10s`, `12s`. */
export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${s % 60}s`
  return `${s}s`
}

/** `info` as aligned `key  value` lines. */
export function formatInfo(i: NodeInfo): string {
  const h = i.heartbeats
  const lines: Array<[string, string]> = [
    ['peer', i.peer],
    ['server', i.server],
    ['version', i.version],
    ['namespace', i.ns],
    ...i.p2p.map((a): [string, string] => ['p2p', a]),
    ['listen', i.listen],
    ['uptime', formatUptime(i.uptimeMs)],
    ['table', `${i.tablePeers} ${i.tablePeers === 1 ? 'peer' : 'peers'}`],
    ['peers', `${i.connectedPeers} connected, ${i.meshPeers} in the heartbeat mesh`],
    ['heartbeats', `in ${h.inPerSec}/s, out ${h.outPerSec}/s, rejected ${h.rejectedPerSec}/s (since start: ${h.in} in, ${h.out} out, ${h.rejected} rejected)`],
    ['clients', `${i.clients} ${i.clients === 1 ? 'connection' : 'connections'}, ${i.streams} open ${i.streams === 1 ? 'stream' : 'streams'}`],
    ...(i.load !== undefined ? [['load', `CPU ${(i.load.cpu * 100).toFixed(1)} % of a core, event loop up to ${i.load.lagMs} ms late (last ~10 s)`] as [string, string]] : []),
  ]
  return lines.map(([k, v]) => `${k.padEnd(11)}${v}\n`).join('')
}

/** The `info` action; returns the exit code. */
export async function infoCommand(ctx: CliContext): Promise<number> {
  // A context's format (ndjson, csv) is for records: info then prints its own text.
  const format = formatFor(ctx.options, ['text', 'json'])
  if (format !== 'text' && format !== 'json') {
    throw new CliError(ERR_UNKNOWN_FORMAT, `ww info prints --format text or json, not '${format}' (${ERR_UNKNOWN_FORMAT})`)
  }
  const out = new Output(process.stdout)
  const session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: out.closed })
  try {
    if (session.view.isNull) throw notAuthorized(ctx.options.addr)
    let info: NodeInfo
    try {
      info = await session.view.info()
    } catch (err) {
      throw streamFailed(0, err as Error)
    }
    out.write(format === 'json' ? `${JSON.stringify(info)}\n` : formatInfo(info))
    await out.end()
    return EXIT.ok
  } finally {
    await closeQuietly(session)
  }
}
