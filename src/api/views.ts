import type { BidmeshNode } from '../node/node.js'

const startedAt = Date.now()

/** `GET /v1/node`: who this node is and what it has. */
export function nodeBody (node: BidmeshNode): Record<string, unknown> {
  const self = node.view.get(node.peerId)
  return {
    peerId: node.peerId,
    addrs: node.addrs(),
    api: node.apiUrl ?? '',
    capacity: node.capacity,
    free: self?.advert.free ?? node.capacity,
    labels: node.config.labels,
    allowExec: node.config.allowExec,
    uptimeMs: Date.now() - startedAt,
    mesh: node.meshStats(),
    gossip: node.gossip.counters
  }
}

/** `GET /v1/cluster`: every peer this node knows, with its status and resources. */
export function clusterBody (node: BidmeshNode): Record<string, unknown> {
  const now = Date.now()
  const peers = node.view.entries()
    .sort((a, b) => a.peer.localeCompare(b.peer))
    .map(e => ({
      peerId: e.peer,
      self: e.peer === node.peerId,
      status: e.status,
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
      capacity: e.advert.capacity,
      free: e.advert.free,
      labels: e.advert.labels,
      running: e.advert.runningCount,
      api: e.advert.api,
      addrs: e.advert.addrs,
      lastSeenMsAgo: now - e.lastSeen
    }))
  const count = (s: string): number => peers.filter(p => p.status === s).length
  return {
    self: node.peerId,
    counts: { alive: count('alive'), suspect: count('suspect'), dead: count('dead') },
    mesh: node.meshStats(),
    peers
  }
}
