import type { Resources } from '../core/resources.js'
import { taskDemand, type TaskSpec } from '../core/task-spec.js'
import type { Constraints, TaskKind } from './feasibility.js'
import type { CfbTask } from './messages.js'
import type { Placement } from './policy.js'

/** A task as the auctioneer places it: what the auction needs, plus the spec that rides in the award. */
export interface AuctionTask {
  readonly id: string
  /** Fences stale copies: a bidder refuses older attempts and kills older copies for newer ones. */
  readonly attempt: number
  readonly framework: string
  /** In node units: cpu in millicores (see `taskDemand`). */
  readonly demand: Resources
  readonly constraints: Constraints
  readonly priority: number
  readonly submittedAt: number
  readonly kind: TaskKind
  readonly placement: Placement
  /** Peers not to use (where an attempt failed). */
  readonly avoid?: readonly string[]
  /** Peers that get a locality bonus: the submitter itself, the holder of the checkpoint or inputs. */
  readonly locality?: readonly string[]
  /** The full task spec, sent with the award so that the winner can start at once. */
  readonly spec?: unknown
}

export interface FromSpecOptions {
  attempt?: number
  submittedAt: number
  avoid?: readonly string[]
  locality?: readonly string[]
  /** Whether the spec rides in the award (default true); false when winners fetch it from the DHT. */
  carrySpec?: boolean
}

/** Builds the auction view of a validated task spec. */
export function auctionTaskFromSpec (id: string, spec: TaskSpec, opts: FromSpecOptions): AuctionTask {
  return {
    id,
    attempt: opts.attempt ?? 1,
    framework: spec.framework,
    demand: taskDemand(spec),
    constraints: spec.constraints,
    priority: spec.priority,
    submittedAt: opts.submittedAt,
    kind: spec.kind,
    placement: spec.placement,
    ...(opts.avoid !== undefined ? { avoid: opts.avoid } : {}),
    ...(opts.locality !== undefined ? { locality: opts.locality } : {}),
    ...(opts.carrySpec === false ? {} : { spec })
  }
}

/** The call-for-bids entry of a task: what a bidder needs, without the spec. */
export function toCfbTask (t: AuctionTask): CfbTask {
  return {
    task: t.id,
    attempt: t.attempt,
    framework: t.framework,
    demand: t.demand,
    constraints: t.constraints,
    priority: t.priority,
    submittedAt: t.submittedAt,
    kind: t.kind,
    placement: t.placement
  }
}
