// What the bidder returns: values, never exceptions, for expected outcomes.
import type { Resources } from '../core/resources.js'
import type { TaskSpec } from '../core/task-spec.js'
import type { Outgoing } from './messages.js'

/** A local copy of an older attempt that a newer attempt superseded: the shell must kill it. */
export interface StaleCopy {
  task: string
  attempt: number
  reason: string
}

export interface BidderOutput {
  send: Outgoing[]
  stale: StaleCopy[]
}

/** A task this node accepted: the shell starts it (and later calls `onTaskFinished`). */
export interface StartTask {
  task: string
  attempt: number
  framework: string
  demand: Resources
  /** The auctioneer that awarded it. */
  from: string
  auction: string
  /** The validated spec when the award carried one; otherwise the shell fetches it. */
  spec?: TaskSpec
}

export interface AwardOutcome extends BidderOutput {
  start: StartTask[]
}

/** Counters for metrics; `invalid` counts messages a correct peer would not send (or sends only when very late). */
export interface BidderStats {
  calls: number
  bids: number
  declines: number
  /** Contention windows decided. */
  windows: number
  holdsExpired: number
  accepted: number
  rejected: number
  released: number
  staleKilled: number
  duplicates: number
  invalid: {
    senderMismatch: number
    /** An award for a hold that another auctioneer placed. */
    notCaller: number
    unknownAuction: number
    unknownHold: number
    staleAttempt: number
    badSpec: number
    badRelease: number
  }
}
