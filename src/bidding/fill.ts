import { addResources, type Resources } from '../core/resources.js'
import { compareWithinShare, saneShare, type Queued } from './order.js'

/** A request that competes for contended capacity. */
export interface FillRequest extends Queued {
  readonly demand: Resources
}

export interface FillResult<T> {
  granted: T[]
  refused: T[]
}

/**
 * Progressive filling (DRF, Ghodsi et al. 2011) over one node's contended capacity: repeatedly
 * take the framework whose share — counting what this fill has granted it so far — is lowest,
 * and try its best request (priority, then age). `tryGrant` places the hold and says whether it
 * fitted; a request that does not fit is refused and the framework stays in the running with its
 * next (perhaps smaller) request, so the fill is work-conserving.
 *
 * Shares are recomputed only for the framework that just got a grant: O(requests × frameworks).
 */
export function progressiveFill<T extends FillRequest> (
  requests: readonly T[],
  shareWith: (framework: string, extra: Resources) => number,
  tryGrant: (request: T) => boolean
): FillResult<T> {
  interface FrameworkQueue { items: T[], next: number, extra: Resources, share: number }
  const queues = new Map<string, FrameworkQueue>()
  for (const r of requests) {
    let q = queues.get(r.framework)
    if (q === undefined) {
      q = { items: [], next: 0, extra: {}, share: saneShare(shareWith(r.framework, {})) }
      queues.set(r.framework, q)
    }
    q.items.push(r)
  }
  for (const q of queues.values()) q.items.sort(compareWithinShare)

  const granted: T[] = []
  const refused: T[] = []
  while (queues.size > 0) {
    let best: { framework: string, q: FrameworkQueue } | undefined
    for (const [framework, q] of queues) {
      const head = q.items[q.next]
      if (head === undefined) continue
      if (best === undefined || q.share < best.q.share ||
        (q.share === best.q.share && compareWithinShare(head, best.q.items[best.q.next] as T) < 0)) {
        best = { framework, q }
      }
    }
    if (best === undefined) break
    const { framework, q } = best
    const r = q.items[q.next++] as T
    if (tryGrant(r)) {
      granted.push(r)
      q.extra = addResources(q.extra, r.demand)
      q.share = saneShare(shareWith(framework, q.extra))
    } else {
      refused.push(r)
    }
    if (q.next >= q.items.length) queues.delete(framework)
  }
  return { granted, refused }
}

