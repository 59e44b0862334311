import { subtractResources, type Resources } from '../core/resources.js'
import { checkFeasibility, type FeasibilityResult, type PeerView, type Requirement } from './feasibility.js'
import { policyFor, type Placement } from './policy.js'

export interface RankOptions {
  /** Peers that get `localityBonus` added: the submitter itself, the holder of a checkpoint or inputs. */
  locality?: readonly string[]
  /** @default 0.25 */
  localityBonus?: number
  /** Resources already promised on a peer but not yet in its advert (probes and awards in flight). */
  reserved?: ReadonlyMap<string, Resources>
}

export interface RankedPeer {
  peer: string
  score: number
  view: PeerView
}

export const DEFAULT_LOCALITY_BONUS = 0.25

/** The free amounts of a peer after subtracting what is reserved on it. */
export function freeOf (p: PeerView, reserved?: ReadonlyMap<string, Resources>): Resources {
  const r = reserved?.get(p.peer)
  return r === undefined ? p.advert.free : subtractResources(p.advert.free, r)
}

/**
 * The rank stage: scores each peer with the task's placement policy (on the free amounts after
 * `reserved`), adds the locality bonus, and sorts best first. Equal scores are ordered by `rng`,
 * so that auctioneers with the same view do not all pick the same peer.
 */
export function rankPeers (demand: Resources, placement: Placement, peers: readonly PeerView[], rng: () => number, opts: RankOptions = {}): RankedPeer[] {
  const policy = policyFor(placement)
  const local = new Set(opts.locality ?? [])
  const bonus = opts.localityBonus ?? DEFAULT_LOCALITY_BONUS
  return peers
    .map(view => ({
      peer: view.peer,
      view,
      score: policy.score(demand, freeOf(view, opts.reserved), view.advert.capacity) + (local.has(view.peer) ? bonus : 0),
      tie: rng()
    }))
    .sort((a, b) => b.score - a.score || a.tie - b.tie)
    .map(({ tie: _tie, ...r }) => r)
}

/** A task as the planner sees it. */
export interface PlanTask extends Requirement {
  readonly id: string
  readonly placement: Placement
  readonly locality?: readonly string[]
  /**
   * Equal for tasks that filter and rank alike (see `classKey`); callers that plan the same task
   * many times may compute it once and pass it in.
   */
  readonly classKey?: string
}

/** Tasks with equal keys need the same thing (demand, constraints, kind, placement, avoid, locality). */
export function classKey (t: Omit<PlanTask, 'id' | 'classKey'>): string {
  const sorted = (r: Readonly<Record<string, unknown>>): Array<[string, unknown]> => Object.entries(r).sort((a, b) => a[0] < b[0] ? -1 : 1)
  return JSON.stringify([
    sorted(t.demand), sorted(t.constraints), t.kind, t.placement,
    [...(t.avoid ?? [])].sort(), [...(t.locality ?? [])].sort()
  ])
}

/**
 * Feasibility → rank → select for one task: the best `d` feasible peers (power of d choices).
 * For many tasks at once use `planBatch`, which shares probes across the batch.
 */
export function selectCandidates (task: PlanTask, view: readonly PeerView[], d: number, rng: () => number, opts: RankOptions = {}): { peers: string[], feasibility: FeasibilityResult } {
  const feasibility = checkFeasibility(task, view, opts.reserved)
  const ranked = rankPeers(task.demand, task.placement, feasibility.feasible, rng, { ...opts, locality: task.locality ?? opts.locality })
  return { peers: ranked.slice(0, Math.max(0, d)).map(r => r.peer), feasibility }
}
