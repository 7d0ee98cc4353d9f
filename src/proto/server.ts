// Placeholder so startNode compiles while the protocol is being written (issue 4).
import type { RoutingTable } from '../node/table.js'
export interface ServeInit {
  /** URL to listen on, e.g. ws://127.0.0.1:8420 (port 0: any free port). */
  listen: string
  table: RoutingTable
  /** The node's own peer ID, sent in the handshake. */
  peer: string
  /** When set, clients must present it to receive the real View (else the null capability). */
  token?: string
}
export interface Server {
  readonly url: string
  close(): Promise<void>
}
export async function serve(init: ServeInit): Promise<Server> {
  throw new Error(`serve not yet implemented: ${init.listen}`)
}
