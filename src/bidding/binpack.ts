import type { PlacementPolicy } from './policy.js'
import { usedAfter } from './spread.js'

/**
 * Binpack: prefer the peer that is fullest after placement, so that whole peers stay empty for
 * large tasks (and could be scaled down).
 */
export const binpack: PlacementPolicy = {
  name: 'binpack',
  score: (demand, free, capacity) => usedAfter(demand, free, capacity)
}
