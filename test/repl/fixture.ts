/**
 * A real node-side for shell tests without libp2p: a RoutingTable filled with records,
 * served by the real protocol server over the memory transport, and a real client Session.
 */
import type { Session } from '../../src/api.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable } from '../../src/table/table.js'
import { connect } from '../../src/proto/client/client.js'
import { serve, type Server } from '../../src/proto/server/server.js'
import { defaultTransports, type TransportRegistry } from '../../src/transport/registry.js'

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A valid record number `i` (distinct peer IDs, sample meta). */
export function fakeRecord(i: number, extra: Partial<RoutingRecord> = {}): RoutingRecord {
  let n = i
  let tail = ''
  for (let k = 0; k < 8; k++) {
    tail = B58[n % 58]! + tail
    n = Math.floor(n / 58)
  }
  const regions = ['us-east-1', 'eu-west-1', 'ap-south-1']
  return {
    peer: `12D3KooW${'x'.repeat(36)}${tail}`,
    server: (i + 1).toString(16).padStart(16, '0'),
    seq: 1 + i,
    ttl: 86_400_000,
    host: `host-${String(i).padStart(6, '0')}`,
    meta: { region: regions[i % 3]!, role: i % 2 === 0 ? 'web' : 'db' },
    ...extra,
  }
}

/** A served table and a connected session. */
export interface LocalNode {
  table: RoutingTable
  server: Server
  session: Session
  url: string
  transports: TransportRegistry
  close(): Promise<void>
}

let counter = 0

/** Serves `records` on memory://… and connects to it. */
export async function localNode(records: RoutingRecord[], opts: { url?: string } = {}): Promise<LocalNode> {
  const table = new RoutingTable()
  for (const r of records) table.upsert(r)
  const transports = defaultTransports()
  const server = await serve({ listen: opts.url ?? `memory://repl-test-${process.pid}-${++counter}`, table, peer: fakeRecord(0).peer, transports })
  const session = await connect(server.url, { transports })
  return {
    table,
    server,
    session,
    url: server.url,
    transports,
    async close() {
      await session.close().catch(() => {})
      await server.close()
      table.close()
    },
  }
}
