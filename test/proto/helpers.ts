/** Shared fixtures of the protocol tests: tables of generated records and a served node. */
import { RoutingTable } from '../../src/table/table.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { serve, type Server, type ServeInit } from '../../src/proto/server/server.js'
import type { ServedTable } from '../../src/proto/server/view-cap.js'
import { connect } from '../../src/proto/client/client.js'
import type { Session } from '../../src/api.js'
import type { Statement } from '../../src/lang/ast.js'

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A base58 peer ID-like string, unique per `i`, fixed width so order is stable. */
export function peerId(i: number): string {
  let s = ''
  let n = i
  for (let k = 0; k < 8; k++) {
    s = B58[n % 58] + s
    n = Math.floor(n / 58)
  }
  return `12D3KooW${s}`
}

const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-south-1']

/** Record number `i`: hosts shared by a few peers, a region for most, a role for some. */
export function record(i: number, seq = 1): RoutingRecord {
  const meta: Record<string, string> = {}
  if (i % 7 !== 0) meta.region = REGIONS[i % REGIONS.length]!
  if (i % 3 === 0) meta.role = i % 2 === 0 ? 'db' : 'web'
  return {
    peer: peerId(i),
    server: (i * 2654435761 % 2 ** 32).toString(16).padStart(16, '0'),
    seq,
    ttl: 86_400_000,
    host: i % 11 === 0 ? '' : `host-${String(i % 97).padStart(3, '0')}`,
    meta,
  }
}

/** A table with records 0…n-1, its clock frozen so nothing expires during a test. */
export function filledTable(n: number): RoutingTable {
  const t = new RoutingTable({ now: () => 1_000, sweep: false })
  for (let i = 0; i < n; i++) t.upsert(record(i))
  return t
}

/** Serves `table` on a free port of 127.0.0.1 over WebSocket. */
export function serveTable(table: RoutingTable, init: Partial<ServeInit> = {}): Promise<Server> {
  return serve({ listen: 'ws://127.0.0.1:0', table, peer: peerId(999_999), ...init })
}

import { webSockets } from '../../src/transport/ws.js'
import type { Connection } from '../../src/transport/types.js'
import { decodeNodeFrame, encodeFrame, type NodeFrame, type ClientFrame } from '../../src/proto/wire/frames.js'

/** A bare protocol connection for wire-level tests: raw sends, decoded reads. */
export class RawClient {
  readonly conn: Connection
  readonly #it: AsyncIterator<Uint8Array>
  private constructor(conn: Connection) {
    this.conn = conn
    this.#it = conn[Symbol.asyncIterator]()
  }

  static async open(url: string): Promise<RawClient> {
    return new RawClient(await webSockets().connect(url))
  }

  /** Opens and completes the handshake. */
  static async hello(url: string, token?: string): Promise<{ raw: RawClient; welcome: NodeFrame }> {
    const raw = await RawClient.open(url)
    raw.send(token === undefined ? { t: 'hello', v: 1 } : { t: 'hello', v: 1, token })
    return { raw, welcome: await raw.read() }
  }

  send(f: ClientFrame | Record<string, unknown>): void {
    this.conn.send(encodeFrame(f as ClientFrame))
  }

  sendBytes(b: Uint8Array): void {
    this.conn.send(b)
  }

  /** The next frame from the node (fails the test after 10 s, or if the connection ended). */
  async read(): Promise<NodeFrame> {
    const r = await Promise.race([
      this.#it.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no frame within 10 s')), 10_000).unref()),
    ])
    if (r.done === true) throw new Error('connection ended')
    return decodeNodeFrame(r.value)
  }

  /** Reads frames until one matches. */
  async readUntil(pred: (f: NodeFrame) => boolean, max = 100_000): Promise<NodeFrame> {
    for (let i = 0; i < max; i++) {
      const f = await this.read()
      if (pred(f)) return f
    }
    throw new Error('no matching frame')
  }

  /** True once the node has closed the connection; frames before the end are read and dropped. False after `timeoutMs`. */
  async ended(timeoutMs = 10_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)))
    try {
      for (;;) {
        const r = await Promise.race([this.#it.next().catch(() => ({ done: true as const, value: undefined })), timeout])
        if (r === 'timeout') return false
        if (r.done === true) return true
      }
    } finally {
      clearTimeout(timer)
    }
  }

  close(): void {
    this.conn.abort(new Error('test done'))
  }
}

/** A table wrapper that counts the records its scans hand out and the scans closed. */
export function countingTable(table: RoutingTable): ServedTable & { pulled: number; closed: number } {
  const w = {
    pulled: 0,
    closed: 0,
    values: (...a: Parameters<RoutingTable['values']>) => table.values(...a),
    scan(st: Statement) {
      const inner = table.scan(st)
      return (function* () {
        try {
          for (const r of inner) {
            w.pulled++
            yield r
          }
        } finally {
          inner.return(undefined)
          w.closed++
        }
      })()
    },
  }
  return w
}

/** Connects to `url` (with `token`, if any) and registers the session's close as a cleanup. */
export async function openSession(cleanups: Array<() => unknown>, url: string, token?: string): Promise<Session> {
  const s = await connect(url, token === undefined ? {} : { token })
  cleanups.push(() => s.close())
  return s
}
