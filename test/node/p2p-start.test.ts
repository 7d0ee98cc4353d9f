import { afterEach, describe, expect, it } from 'vitest'
import { ERR_P2P_START } from '../../src/node/node.js'
import { Cluster } from './node-helpers.js'

const cluster = new Cluster()
afterEach(() => cluster.cleanup())

describe('a --p2p address libp2p cannot listen on', () => {
  it('fails with ERR_P2P_START in one line naming the address and the socket error, no stack', async () => {
    const a = await cluster.start({})
    const used = a.multiaddrs[0]!.replace(/\/p2p\/.*$/, '')
    const err = await cluster.start({ p2p: [used] }).then(() => undefined, (e: unknown) => e as Error & { code?: string })
    expect(err?.code).toBe(ERR_P2P_START)
    expect(err!.message).not.toContain('\n')
    expect(err!.message).toContain(`${used}: listen EADDRINUSE`)
    expect(err!.message).not.toMatch(/ at |faultTolerance/)
  })
})
