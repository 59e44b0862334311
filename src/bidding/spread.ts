import { dominantFraction, subtractResources, type Resources } from '../core/resources.js'
import type { PlacementPolicy } from './policy.js'

/** The dominant used fraction of a peer after placing `demand`, in [0, 1]. */
export function usedAfter (demand: Resources, free: Resources, capacity: Resources): number {
  const used = subtractResources(capacity, subtractResources(free, demand))
  const f = dominantFraction(used, capacity)
  return Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : 1
}

/**
 * Spread: prefer the peer that stays most free after placement, by dominant fraction, so that
 * load evens out and a peer loss hurts fewer tasks.
 */
export const spread: PlacementPolicy = {
  name: 'spread',
  score: (demand, free, capacity) => 1 - usedAfter(demand, free, capacity)
}
