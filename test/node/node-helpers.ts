/**
 * Shared helpers for the membership tests: clusters of real nodes on 127.0.0.1.
 * Every node started through `Cluster` is killed in `cleanup()`.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Statement } from '../../src/lang/ast.js'
import { startNode, type Node, type NodeInit } from '../../src/node/node.js'

const ALL: Statement = { op: 'ls', selector: { kind: 'all' }, constraints: [], reverse: false }

/** Peers in a node's table, sorted. */
export function peersOf(n: Node): string[] {
  return [...n.table.snapshot().scan(ALL)].map((r) => r.peer).sort()
}

/** Starts and tracks nodes; `cleanup()` kills whatever is still running. */
export class Cluster {
  readonly nodes: Node[] = []

  async start(init: NodeInit = {}): Promise<Node> {
    const n = await startNode({ listen: false, identity: await generateKeyPair('Ed25519'), p2p: ['/ip4/127.0.0.1/tcp/0'], ...init })
    this.nodes.push(n)
    return n
  }

  /** `count` nodes, each bootstrapped from the previous one (a chain). */
  async chain(count: number, init: (i: number) => NodeInit = () => ({})): Promise<Node[]> {
    const out: Node[] = []
    for (let i = 0; i < count; i++) {
      const prev = out[i - 1]
      out.push(await this.start({ bootstrap: prev !== undefined ? [prev.multiaddrs[0]!] : [], ...init(i) }))
    }
    return out
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.kill()))
    this.nodes.length = 0
  }
}
