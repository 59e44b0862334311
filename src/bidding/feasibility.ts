import type { NodeAdvert, PeerStatus } from '../core/advert.js'
import { fits, shortfall, subtractResources, type Resources } from '../core/resources.js'
import { constraintsHold, type TaskSpec } from '../core/task-spec.js'
import { formatAmount, joinReasons, plural } from './reasons.js'

/** The part of a peer's advert that placement reads; a full `NodeAdvert` is one. */
export type AdvertView = Pick<NodeAdvert, 'capacity' | 'free' | 'labels' | 'allowExec'>

/** One peer as the cluster view (gossip plus failure detector) shows it. */
export interface PeerView {
  readonly peer: string
  readonly status: PeerStatus
  readonly advert: AdvertView
}

export type TaskKind = 'exec' | 'js'
export type Constraints = TaskSpec['constraints']

/** What a task needs from a peer. */
export interface Requirement {
  readonly demand: Resources
  readonly constraints: Constraints
  readonly kind: TaskKind
  /** Peers not to use: where an attempt failed, or that refused this task for good. */
  readonly avoid?: readonly string[]
}

/** Why a peer was left out, by the first filter that rejected it (the pipeline's order). */
export type Exclusion = 'notAlive' | 'avoided' | 'noExec' | 'constraints' | 'tooSmall' | 'busy'

/**
 * `feasible`: some peer fits now. `wait`: none fits now but some would when empty (retryable:
 * wait for capacity). `infeasible`: no known peer is large enough or eligible at all (the task
 * still stays pending, since such a peer may join).
 */
export type Verdict = 'feasible' | 'wait' | 'infeasible'

export interface FeasibilityResult {
  feasible: PeerView[]
  verdict: Verdict
  excluded: Record<Exclusion, number>
  /** For busy peers: how many are short of each resource. */
  busyShort: Record<string, number>
  /** Resources that no eligible peer has enough of even when empty. */
  missing: string[]
  /** Human summary of the peers left out (empty when nothing was): the start of "why pending". */
  why: string
}

/**
 * The feasibility stage of the feasibility → rank → select pipeline (as in Nomad): keeps the
 * peers that are alive, not avoided, run exec tasks if the task is one, satisfy the label
 * constraints, are large enough, and have the demand free now. `reserved` is subtracted from
 * the advertised free amounts: probes and awards in flight that gossip does not show yet.
 */
export function checkFeasibility (req: Requirement, view: readonly PeerView[], reserved?: ReadonlyMap<string, Resources>): FeasibilityResult {
  const excluded: Record<Exclusion, number> = { notAlive: 0, avoided: 0, noExec: 0, constraints: 0, tooSmall: 0, busy: 0 }
  const busyShort: Record<string, number> = {}
  const feasible: PeerView[] = []
  const largest: Record<string, number> = {}
  const avoid = req.avoid !== undefined && req.avoid.length > 0 ? new Set(req.avoid) : undefined
  let eligible = 0

  for (const p of view) {
    const a = p.advert
    if (p.status !== 'alive') { excluded.notAlive++; continue }
    if (avoid?.has(p.peer) === true) { excluded.avoided++; continue }
    if (req.kind === 'exec' && !a.allowExec) { excluded.noExec++; continue }
    if (!constraintsHold(req.constraints, a.labels)) { excluded.constraints++; continue }
    eligible++
    for (const k of Object.keys(req.demand)) largest[k] = Math.max(largest[k] ?? 0, a.capacity[k] ?? 0)
    if (!fits(req.demand, a.capacity)) { excluded.tooSmall++; continue }
    const r = reserved?.get(p.peer)
    const free = r === undefined ? a.free : subtractResources(a.free, r)
    if (!fits(req.demand, free)) {
      excluded.busy++
      for (const k of shortfall(req.demand, free)) busyShort[k] = (busyShort[k] ?? 0) + 1
      continue
    }
    feasible.push(p)
  }

  const missing = eligible === 0 ? [] : shortfall(req.demand, largest)
  const verdict: Verdict = feasible.length > 0 ? 'feasible' : excluded.busy > 0 ? 'wait' : 'infeasible'
  return { feasible, verdict, excluded, busyShort, missing, why: describe(req, view.length, eligible, excluded, busyShort, missing) }
}

function describe (req: Requirement, total: number, eligible: number, ex: Record<Exclusion, number>, busyShort: Record<string, number>, missing: string[]): string {
  if (total === 0) return 'no peers known'
  const parts: string[] = []
  if (missing.length > 0) {
    parts.push(`no peer with ${missing.map(k => `${k} >= ${formatAmount(k, req.demand[k] ?? 0)}`).join(', ')}`)
  } else if (eligible > 0 && ex.tooSmall === eligible) {
    // Each resource exists somewhere, but no single peer has them all at once.
    const all = Object.entries(req.demand).filter(([, v]) => v > 0).map(([k, v]) => `${k} >= ${formatAmount(k, v)}`)
    parts.push(`no peer with ${all.join(', ')} together`)
  } else if (ex.tooSmall > 0) {
    parts.push(`${plural(ex.tooSmall, 'peer')} too small`)
  }
  if (ex.busy > 0) {
    const names = Object.entries(busyShort).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k)
    parts.push(`${plural(ex.busy, 'peer')} lack free ${names.join(', ')}`)
  }
  if (ex.constraints > 0) parts.push(`${plural(ex.constraints, 'peer')} fail constraints`)
  if (ex.noExec > 0) parts.push(`${plural(ex.noExec, 'peer')} do not run exec tasks`)
  if (ex.avoided > 0) parts.push(`${plural(ex.avoided, 'peer')} avoided`)
  if (ex.notAlive > 0) parts.push(`${plural(ex.notAlive, 'peer')} not alive`)
  return joinReasons(parts)
}
