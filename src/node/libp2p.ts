import { gossipsub } from '@libp2p/gossipsub'
import { createPeerScoreParams, createTopicScoreParams } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { PeerInfo, PrivateKey } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { ADVERT_TOPIC, WEIGHTS_TOPIC, WORKFLOWS_TOPIC } from '../gossip/topics.js'
import { readLocalRecord } from '../store/local.js'
import { bidmeshSelector, bidmeshValidator, DHT_NAMESPACE } from '../store/validators.js'
import type { NodeConfig } from './config.js'

const LOOPBACK_IPS = ['127.0.0.1', '::1']
const LOOPBACK_CIDRS = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

/** True when every listen address is on loopback: a local swarm for development and tests. */
export function listensOnLoopbackOnly (listen: string[]): boolean {
  return listen.every(a => isLoopbackAddr(multiaddr(a)))
}

function isLoopbackAddr (addr: Multiaddr): boolean {
  const ip = addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
  return ip !== undefined && (ip === '::1' || ip.startsWith('127.'))
}

/**
 * kad-dht drops private addresses by default, which empties routing tables on a LAN or loopback
 * mesh. Keep private (LAN) addresses; keep loopback ones only on a loopback-only swarm, where
 * they are the only way in (elsewhere a peer's 127.0.0.1 would be ourselves).
 */
function meshAddressMapper (loopbackOnly: boolean): (peer: PeerInfo) => PeerInfo {
  if (loopbackOnly) return passthroughMapper
  return peer => ({ ...peer, multiaddrs: peer.multiaddrs.filter(a => !isLoopbackAddr(a)) })
}

export interface Libp2pDeps {
  privateKey: PrivateKey
  datastore: Datastore
}

export type BidmeshLibp2p = Awaited<ReturnType<typeof createBidmeshLibp2p>>

/** Author and seqno of a gossip message as one string, for duplicate checks before validation. */
export function fastMessageId (from: Uint8Array | undefined, seqno: Uint8Array | undefined): string {
  return `${from === undefined ? '' : Buffer.from(from).toString('base64')}/${seqno === undefined ? '' : Buffer.from(seqno).toString('base64')}`
}

/**
 * Builds the libp2p node: TCP + Noise + Yamux, identify, ping, gossipsub and kad-dht in server
 * mode. The loopback allowances from LIBP2P-NOTES apply only to loopback addresses (and to IPs
 * the operator names in `gossip.trustedIps`), never to public ones.
 */
export async function createBidmeshLibp2p (config: NodeConfig, deps: Libp2pDeps) {
  const loopbackOnly = listensOnLoopbackOnly(config.listen)
  return await createLibp2p({
    privateKey: deps.privateKey,
    datastore: deps.datastore,
    addresses: { listen: config.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: Math.max(50, config.gossip.maxPeers * 2),
      // Local swarms open many connections from one IP at once; the default per-IP rate limit would reset them.
      allow: LOOPBACK_CIDRS,
      dialTimeout: 5_000
    },
    connectionMonitor: {
      enabled: false
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        // A node's own advert goes straight to every connected subscriber: one hop, so a joining
        // node's view fills before the mesh has grafted it.
        floodPublish: true,
        // Every node keeps a connection to every peer it hears of, so the mesh only backs up the
        // direct sends; each extra degree costs a copy of every beat of every node.
        D: 4,
        Dlo: 3,
        Dhi: 6,
        Dlazy: 3,
        allowedTopics: [ADVERT_TOPIC, WEIGHTS_TOPIC, WORKFLOWS_TOPIC],
        // Without it gossipsub verifies the signature of every copy of a message before it sees
        // that the copy is a duplicate: with floodPublish and D = 4 that is several Ed25519
        // verifications per beat per node, and it was most of an idle mesh's CPU. The id is the
        // default one for signed messages (author and seqno), without the verification.
        fastMsgIdFn: msg => fastMessageId(msg.from, msg.seqno),
        maxInboundDataLength: 64 * 1024,
        scoreParams: createPeerScoreParams({
          IPColocationFactorWhitelist: new Set([...LOOPBACK_IPS, ...config.gossip.trustedIps]),
          topics: {
            [ADVERT_TOPIC]: createTopicScoreParams({
              topicWeight: 1,
              timeInMeshWeight: 0.01,
              firstMessageDeliveriesWeight: 0.1,
              // Mesh delivery quotas punish honest peers in small or quiet meshes; only bad messages cost score.
              meshMessageDeliveriesWeight: 0,
              meshFailurePenaltyWeight: 0,
              invalidMessageDeliveriesWeight: -10,
              invalidMessageDeliveriesDecay: 0.5
            })
          }
        })
      }),
      dht: kadDHT({
        clientMode: false,
        peerInfoMapper: meshAddressMapper(loopbackOnly),
        validators: {
          // The validator reads this node's copy so a stale writer cannot roll a replica back (fencing).
          [DHT_NAMESPACE]: bidmeshValidator({ maxRecordBytes: config.store.maxRecordBytes, local: async key => await readLocalRecord(deps.datastore, key) })
        },
        selectors: { [DHT_NAMESPACE]: bidmeshSelector }
      })
    }
  })
}
