// What the auctioneer returns: values, never exceptions, for expected outcomes.
import type { Outgoing } from './messages.js'

/** A task awarded and accepted: the auction's job for it is done. */
export interface Placed {
  task: string
  attempt: number
  peer: string
  auction: string
}

/** A task that is (still) pending, and why. */
export interface PendingNote {
  task: string
  attempt: number
  reason: string
  /** True when waiting for capacity may help; false when no known peer can take it at all. */
  retryable: boolean
  retryAt: number
}

/**
 * An attempt given up on after its award went unanswered: the peer may have accepted and may run
 * it. The task goes on as `attempt + 1`; the shell should tell the peer (or let fencing do it).
 */
export interface Superseded {
  task: string
  attempt: number
  peer: string
  reason: string
}

/** Everything an auctioneer call produces: messages to send and what happened to tasks. */
export interface AuctioneerOutput {
  send: Outgoing[]
  placed: Placed[]
  pending: PendingNote[]
  superseded: Superseded[]
}

export type SubmitOutcome =
  | { kind: 'queued' }
  | { kind: 'duplicate', attempt: number }
  | { kind: 'replaced', previousAttempt: number, awardedTo?: string }

export type CancelOutcome =
  | { kind: 'cancelled' }
  | { kind: 'unknown' }
  /** The award is out: the peer may run it, so the shell must cancel it there. */
  | { kind: 'awarded', peer: string, attempt: number }

export type TaskPhase = 'pending' | 'bidding' | 'awarding'

export interface PendingInfo {
  task: string
  attempt: number
  framework: string
  phase: TaskPhase
  reason: string
  retryable: boolean
  retryAt: number
  failures: number
}

export interface AuctioneerStats {
  submitted: number
  cancelled: number
  rounds: number
  callsSent: number
  probes: number
  placed: number
  rejected: number
  roundTimeouts: number
  awardResends: number
  superseded: number
  lateBids: number
  invalidReplies: number
}
