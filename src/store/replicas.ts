import { createHash } from 'node:crypto'
import { MessageType, Record as DhtRecord, type KadDHT, type QueryEvent } from '@libp2p/kad-dht'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { equals } from 'uint8arrays/equals'

/**
 * Single-hop access to the peers that hold a key's replicas.
 *
 * kad-dht's `put` and `get` first walk the network for the K closest peers. Each FIND_NODE
 * answer makes the asking node merge up to K peers into its peer store (LevelDB writes), so on a
 * 10-node loopback swarm a put took 140–230 ms and a get about 100 ms. bidmesh nodes dial every
 * peer they learn of (gossip.maxPeers), so the routing table plus the connection list (which
 * fills sooner) hold the whole membership, and the K nearest of those *are* the replica set: one
 * round of PUT_VALUE / GET_VALUE suffices. A get still falls back to the full walk when answers
 * name nearer peers this node does not know.
 *
 * `routingTable`, `network` and `components` are public members of kad-dht's KadDHT class but
 * not of its interface, hence the structural type; `replicaAccess()` returns undefined if a
 * future version changes them, and the store refuses to start rather than misbehave.
 */
interface DhtInternals {
  k: number
  routingTable: { size: number, closestPeers: (kadId: Uint8Array, options?: { count?: number }) => PeerId[] }
  network: { sendRequest: (to: PeerId, msg: { type: MessageType, key: Uint8Array, record?: Uint8Array }, options: { signal?: AbortSignal, path: { index: number, queued: number, running: number, total: number } }) => AsyncIterable<QueryEvent> }
  components: { datastore: Datastore, peerId: PeerId, connectionManager: { getConnections: () => Array<{ remotePeer: PeerId }> } }
}

export interface GetAnswer {
  peer: PeerId
  /** False when the peer could not be reached or failed the request. */
  answered: boolean
  value?: Uint8Array
  closer: PeerInfo[]
}

export interface ReplicaAccess {
  datastore: Datastore
  self: PeerId
  k: number
  /** The `count` peers of the routing table nearest to `key` by XOR of SHA-256 digests (Kademlia's metric). */
  closest: (key: Uint8Array, count?: number) => PeerId[]
  /** PUT_VALUE to one peer; true when it stored exactly these bytes. */
  putTo: (peer: PeerId, key: Uint8Array, value: Uint8Array, signal: AbortSignal) => Promise<boolean>
  /** GET_VALUE from one peer (unvalidated: the caller verifies). */
  getFrom: (peer: PeerId, key: Uint8Array, signal: AbortSignal) => Promise<GetAnswer>
}

const PATH = { index: -1, queued: 0, running: 0, total: 0 }

/** kad-dht's kad id of a key or peer: SHA-256 of the bytes. */
export function kadId (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

export function replicaAccess (dht: KadDHT): ReplicaAccess | undefined {
  const d = dht as unknown as Partial<DhtInternals>
  if (typeof d.routingTable?.closestPeers !== 'function' || typeof d.network?.sendRequest !== 'function' || d.components?.datastore === undefined || typeof d.components.connectionManager?.getConnections !== 'function') return undefined
  const { routingTable, network, components } = d as DhtInternals
  return {
    datastore: components.datastore,
    self: components.peerId,
    k: dht.k,
    closest: (key, count = dht.k) => {
      // The routing table admits a peer only after pinging it, which lags joins by seconds on a
      // busy machine; connected peers are DHT servers too in a bidmesh swarm, so count them.
      const target = kadId(key)
      const byId = new Map<string, { id: PeerId, kid: Uint8Array }>()
      for (const id of [...routingTable.closestPeers(target, { count }), ...components.connectionManager.getConnections().map(c => c.remotePeer)]) {
        if (!id.equals(components.peerId)) byId.set(id.toString(), { id, kid: kadId(id.toMultihash().bytes) })
      }
      return [...byId.values()].sort((a, b) => compareDistance(target, a.kid, b.kid)).slice(0, count).map(p => p.id)
    },
    putTo: async (peer, key, value, signal) => {
      const record = new DhtRecord(key, value, new Date()).serialize()
      let ok = false
      for await (const ev of network.sendRequest(peer, { type: MessageType.PUT_VALUE, key, record }, { signal, path: PATH })) {
        // The handler echoes the request once it has stored the record; a refusal closes the stream.
        if (ev.name === 'PEER_RESPONSE' && ev.record !== undefined && equals(ev.record.value, value)) ok = true
      }
      return ok
    },
    getFrom: async (peer, key, signal) => {
      const answer: GetAnswer = { peer, answered: false, closer: [] }
      for await (const ev of network.sendRequest(peer, { type: MessageType.GET_VALUE, key }, { signal, path: PATH })) {
        if (ev.name !== 'PEER_RESPONSE') continue
        answer.answered = true
        answer.closer = ev.closer
        // The answer must be for the key asked, or a peer could pass off another key's record.
        if (ev.record !== undefined && equals(ev.record.key, key)) answer.value = ev.record.value
      }
      return answer
    }
  }
}

/** -1, 0, 1 as `a` is nearer to, as near as, or farther from `target` than `b` (all kad ids). */
export function compareDistance (target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] ?? 0) ^ (target[i] ?? 0)
    const db = (b[i] ?? 0) ^ (target[i] ?? 0)
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}
