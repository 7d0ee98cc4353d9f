import { afterEach, describe, expect, it } from 'vitest'
import { fastMsgId } from '../../src/cluster/gossip.js'
import type { Node } from '../../src/node/node.js'
import { Cluster } from './node-helpers.js'

// The options gossipsub runs with (its `opts`, left out of the exported GossipSub interface).
const opts = (n: Node): Record<string, unknown> => (n.libp2p.services.pubsub as unknown as { opts: Record<string, unknown> }).opts

const cluster = new Cluster()
afterEach(() => cluster.cleanup())

describe("a node's gossipsub", () => {
  it('runs with mesh degree 3 and checks duplicates before signatures; NodeInit.gossipsub still wins', async () => {
    const n = await cluster.start()
    expect(opts(n)).toMatchObject({ D: 3, Dlo: 2, Dhi: 5, Dlazy: 3, fastMsgIdFn: fastMsgId, globalSignaturePolicy: 'StrictSign' })
    const wide = await cluster.start({ gossipsub: { D: 6, Dlo: 4, Dhi: 12, Dscore: 4, Dout: 2 } })
    expect(opts(wide)).toMatchObject({ D: 6, Dlo: 4, Dhi: 12, fastMsgIdFn: fastMsgId })
  })
})
