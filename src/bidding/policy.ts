import type { Resources } from '../core/resources.js'
import { binpack } from './binpack.js'
import { spread } from './spread.js'

export type Placement = 'spread' | 'binpack'

/**
 * A placement policy scores how well a task fits a peer: higher is better, in [0, 1]. One policy
 * per file behind this interface (as Ray does); the auctioneer ranks candidates with it on
 * gossip, and the bidder scores its bid with it on its own true free capacity.
 */
export interface PlacementPolicy {
  readonly name: Placement
  /** `free` is before placing `demand`; `capacity` is the peer's total. */
  score: (demand: Resources, free: Resources, capacity: Resources) => number
}

export function policyFor (name: Placement): PlacementPolicy {
  return name === 'binpack' ? binpack : spread
}
