import { createHash } from 'node:crypto'

const digests = new Map<string, Buffer>()

/** SHA-256 of a string, cached: the same peers are compared against many ids. */
function digest (s: string): Buffer {
  let d = digests.get(s)
  if (d === undefined) {
    d = createHash('sha256').update(s).digest()
    if (digests.size > 10_000) digests.clear()
    digests.set(s, d)
  }
  return d
}

/** -1, 0 or 1 as XOR(a, key) is nearer than, as near as, or farther than XOR(b, key). */
function compareDistance (key: Buffer, a: Buffer, b: Buffer): number {
  for (let i = 0; i < key.length; i++) {
    const da = (a[i] ?? 0) ^ (key[i] ?? 0)
    const db = (b[i] ?? 0) ^ (key[i] ?? 0)
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

/**
 * The peer nearest to `id` by XOR distance of their SHA-256 digests, as Kademlia measures it.
 * Every node that sees the same alive set picks the same peer, so whoever is "in charge" of a
 * task or workflow (recovery leader, adopter, driver) is decided without any coordinator, and
 * the load spreads evenly over the peers.
 */
export function nearestPeer (id: string, peers: Iterable<string>): string | undefined {
  const key = digest(id)
  let best: string | undefined
  let bestDigest: Buffer | undefined
  for (const p of peers) {
    const d = digest(p)
    if (bestDigest === undefined || compareDistance(key, d, bestDigest) < 0 || (compareDistance(key, d, bestDigest) === 0 && p < (best ?? ''))) {
      best = p
      bestDigest = d
    }
  }
  return best
}
