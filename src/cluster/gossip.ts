/**
 * gossipsub options sized for membership heartbeats (docs/scaling.md, "Processes on one host").
 *
 * Mesh degree. A node receives each message about D times, once from each mesh peer, and
 * sends it about D times; on an idle node those copies are most of the work (each one is a
 * Noise frame to decrypt or encrypt, a Yamux frame and its window update, a protobuf RPC). A
 * heartbeat needs no more than one copy: a lost one is made up by IHAVE gossip within a
 * second and by the next heartbeat within TTL/2, and the origin sends its own heartbeat to
 * every connected peer (floodPublish). So the mesh is kept at D = 3 (2…5) rather than
 * gossipsub's 6 (4…12), which cut an idle node's CPU in a 16-process cluster from 4.7–5.1 %
 * to 3.4 % of a core. Every value can still be overridden through `NodeInit.gossipsub`.
 *
 * Duplicates before signatures. gossipsub checks a message's signature before it looks the
 * message up in its seen-cache, unless it has a `fastMsgIdFn`: without one every copy a node
 * receives (about D per message, one from each mesh peer) costs a full Ed25519 verification,
 * the largest single cost of an idle node. {@link fastMsgId} names a message by a SHA-256 of
 * every field it carries, so only a byte-identical copy of a message that already passed
 * verification is dropped unverified; a copy that differs anywhere (another signature,
 * altered data) gets a different id and is verified, and rejected, as before.
 */
import { createHash } from 'node:crypto'
import type { GossipsubOpts } from '@libp2p/gossipsub'
import type { RPC } from '@libp2p/gossipsub/message'

/**
 * The gossipsub options a node starts with, before `NodeInit.gossipsub`: mesh degree D = 3
 * (Dlo 2, Dhi 5, Dscore 1, Dout 1), IHAVE gossip to Dlazy = 3 peers, and {@link fastMsgId}.
 * @default { D: 3, Dlo: 2, Dhi: 5, Dscore: 1, Dout: 1, Dlazy: 3, fastMsgIdFn: fastMsgId }
 */
export const MEMBERSHIP_GOSSIPSUB: Readonly<Partial<GossipsubOpts>> = Object.freeze({
  D: 3,
  Dlo: 2,
  Dhi: 5,
  Dscore: 1,
  Dout: 1,
  Dlazy: 3,
  fastMsgIdFn: fastMsgId,
})

/**
 * A message's id for gossipsub's duplicate check before signature verification: SHA-256
 * (base64) over topic, from, seqno, data, signature and key, each length-prefixed.
 */
export function fastMsgId(msg: RPC.Message): string {
  const h = createHash('sha256')
  const len = Buffer.allocUnsafe(4)
  const part = (b: Uint8Array | undefined): void => {
    len.writeUInt32BE(b === undefined ? 0xffffffff : b.length)
    h.update(len)
    if (b !== undefined) h.update(b)
  }
  part(Buffer.from(msg.topic, 'utf8'))
  part(msg.from)
  part(msg.seqno)
  part(msg.data)
  part(msg.signature)
  part(msg.key)
  return h.digest('base64')
}
