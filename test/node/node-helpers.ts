/**
 * Shared helpers for the membership tests: clusters of real nodes on 127.0.0.1.
 * Every node started through `Cluster` is killed in `cleanup()`.
 */
import { afterEach } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tempHome } from '../cli/helpers.js'
import { reap } from '../procs.js'
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

/**
 * For tests that run in-process nodes beside `ww start` processes: a Cluster, and `home()`,
 * a fresh home directory for a process. After each test the nodes are killed, every process
 * group spawned is reaped and the homes are removed.
 */
export function mixedCluster(): { cluster: Cluster; home(): string } {
  const cluster = new Cluster()
  const homes: Array<{ cleanup(): void }> = []
  afterEach(async () => {
    await cluster.cleanup()
    await reap()
    for (const h of homes.splice(0)) h.cleanup()
  })
  return {
    cluster,
    home: () => {
      const h = tempHome()
      homes.push(h)
      return h.dir
    },
  }
}
