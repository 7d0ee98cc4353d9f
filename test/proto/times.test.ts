/**
 * One rule for `age` and `seen` on the client, for the records of `iter` and for watch
 * events alike (docs/protocol.md, "Age and last-seen"): nil is the same as absent; any other
 * value must be a whole number of ms from 0 to 2^53 − 1, else the stream fails with
 * ERR_BAD_FRAME. A real node (a served table over a real WebSocket) sends what its table's
 * `times` says, so hostile values cross the wire as a broken node would send them.
 */
import { describe, expect, it } from 'vitest'
import { connect } from '../../src/proto/client/client.js'
import { ERR_BAD_FRAME } from '../../src/proto/wire/frames.js'
import type { RoutingRecord } from '../../src/record/record.js'
import { RoutingTable } from '../../src/table/table.js'
import { peerId, serveTable } from './helpers.js'

const REC: RoutingRecord = { peer: peerId(1), server: '00000000000000aa', seq: 1, ttl: 60_000, host: 'h1', meta: {} }

// A table whose `times` answers `t` for every live instance, whatever its type.
class HostileTimes extends RoutingTable {
  constructor(readonly t: Record<string, unknown>) {
    super({ sweep: false })
  }
  override times(): { age: number; seen: number } | undefined {
    return this.t as { age: number; seen: number }
  }
}

async function both(t: Record<string, unknown>): Promise<{ listed: unknown; event: unknown }> {
  const tb = new HostileTimes(t)
  tb.upsert(REC)
  const server = await serveTable(tb)
  const session = await connect(server.url)
  const settle = (p: Promise<unknown>): Promise<unknown> => p.then((v) => v, (err: unknown) => ({ error: (err as { code?: string }).code }))
  try {
    const listed = await settle(session.view.iter('', { times: true }).toArray().then((rs) => rs[0]))
    const w = session.view.watch('', { times: true })
    // A watch cursor ends (undefined) on a failure and keeps it in err().
    const event = (await w.next()) ?? { error: (w.err() as { code?: string } | undefined)?.code }
    w.cancel()
    return { listed, event }
  } finally {
    await session.close()
    await server.close()
    tb.close()
  }
}

describe('age and seen: one rule for iter records and watch events', () => {
  it('takes whole ms from 0 to 2^53 − 1', async () => {
    const t = { age: 0, seen: Number.MAX_SAFE_INTEGER }
    expect(await both(t)).toEqual({ listed: { ...REC, ...t }, event: { kind: 'record', record: REC, ...t } })
  })

  it('reads nil as absent, in both', async () => {
    const { listed, event } = await both({ age: null, seen: 5 })
    expect(listed).toEqual({ ...REC, seen: 5 })
    expect(listed).not.toHaveProperty('age')
    expect(event).toEqual({ kind: 'record', record: REC, seen: 5 })
    expect(event).not.toHaveProperty('age')
  })

  it.each([
    ['negative', { age: -1, seen: 0 }],
    ['not whole', { age: 0, seen: 1.5 }],
    ['past 2^53 − 1', { age: 2 ** 53, seen: 0 }],
    ['huge float', { age: 0, seen: 1e300 }],
    ['a string', { age: '5', seen: 0 }],
    ['a bool', { age: 0, seen: true }],
  ])('refuses %s with ERR_BAD_FRAME, in both', async (_, t) => {
    expect(await both(t)).toEqual({ listed: { error: ERR_BAD_FRAME }, event: { error: ERR_BAD_FRAME } })
  })
})
