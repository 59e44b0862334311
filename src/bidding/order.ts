import type { Resources } from '../core/resources.js'

/**
 * The weighted dominant share of a framework (`max_r(usage_r / capacity_r) / weight`) as this
 * node sees the mesh. Injected: `src/fairness` computes it from the adverts' `usageByFramework`.
 */
export type ShareOf = (framework: string) => number

/**
 * The share `framework` would have if `extra` more were allocated to it. Lets the bidder fill
 * contended capacity progressively (each grant raises the grantee's share). Optional: without
 * it the bidder adds `dominantFraction(extra, its own capacity)` to `shareOf(framework)`.
 */
export type ShareWith = (framework: string, extra: Resources) => number

/** What DRF ordering needs to know about a queued request. */
export interface Queued {
  readonly task: string
  readonly framework: string
  readonly priority: number
  readonly submittedAt: number
}

/** A broken share function (NaN) must not scramble the order: such a framework goes last. */
export function saneShare (s: number): number {
  return Number.isNaN(s) ? Number.POSITIVE_INFINITY : s
}

/**
 * Within one framework (or at equal share): higher priority first, then older, then task id so
 * that the order is total and the same on every node.
 */
export function compareWithinShare (a: Queued, b: Queued): number {
  if (a.priority !== b.priority) return b.priority - a.priority
  if (a.submittedAt !== b.submittedAt) return a.submittedAt - b.submittedAt
  return a.task < b.task ? -1 : a.task > b.task ? 1 : 0
}

/**
 * Sorts (a copy of) `items` in DRF order: ascending share of their framework, then priority,
 * then age. Shares are looked up once per framework.
 */
export function drfOrder<T extends Queued> (items: readonly T[], shareOf: ShareOf): T[] {
  const shares = new Map<string, number>()
  const share = (f: string): number => {
    let s = shares.get(f)
    if (s === undefined) { s = saneShare(shareOf(f)); shares.set(f, s) }
    return s
  }
  return [...items].sort((a, b) => {
    const sa = share(a.framework)
    const sb = share(b.framework)
    if (sa !== sb) return sa < sb ? -1 : 1
    return compareWithinShare(a, b)
  })
}
