/**
 * Test helpers for the pubsub tests: small real libp2p nodes on 127.0.0.1 with the node's
 * stack (tcp, noise, yamux, identify, gossipsub with StrictSign).
 */
import { expect, vi } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import type { PrivateKey } from '@libp2p/interface'

export type MeshNode = Libp2p<{ pubsub: GossipSub; identify: unknown }>

/** Options of {@link meshNode}. */
export interface MeshNodeInit {
  /** gossipsub's own setting (its default, false, throws on a publish nobody else hears). @default true */
  allowPublishToZeroTopicPeers?: boolean
  /** The node's key, e.g. to speak as (or replay) another node's identity. @default a new Ed25519 key */
  privateKey?: PrivateKey
  /** gossipsub's signature policy; StrictNoSign makes an attacker's unsigned messages. @default 'StrictSign' */
  policy?: 'StrictSign' | 'StrictNoSign'
  /** A pre-shared key (`@libp2p/pnet`) every connection must share. @default none */
  psk?: Uint8Array
  /** gossipsub's heartbeat interval in ms. @default 200 (quick meshes for tests) */
  heartbeatInterval?: number
}

/**
 * One libp2p node listening on an OS-chosen loopback port, with ww's stack: what the pubsub
 * tests mesh with, and the bare node an attacker would run against a ww node.
 */
export async function meshNode(opts: MeshNodeInit = {}): Promise<MeshNode> {
  return (await createLibp2p({
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    ...(opts.psk !== undefined ? { connectionProtector: preSharedKey({ psk: opts.psk }) } : {}),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: opts.policy ?? 'StrictSign',
        allowPublishToZeroTopicPeers: opts.allowPublishToZeroTopicPeers ?? true,
        heartbeatInterval: opts.heartbeatInterval ?? 200,
      }),
    },
  })) as unknown as MeshNode
}

/** Waits until every node sees each other node subscribed to `topic` (the mesh can carry it). */
export async function meshReady(nodes: MeshNode[], topic: string, ms = 15_000): Promise<void> {
  await vi.waitFor(() => expect(nodes.every((n) => nodes.every((m) => m === n || n.services.pubsub.getSubscribers(topic).some((p) => p.equals(m.peerId)))), `subscribers of ${topic}`).toBe(true), { timeout: ms })
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
