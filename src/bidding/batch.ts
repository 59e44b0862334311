import { addResources, fits, scaleResources, subtractResources, type Resources } from '../core/resources.js'
import { checkFeasibility, type PeerView, type Verdict } from './feasibility.js'
import { Heap } from './heap.js'
import { policyFor, type PlacementPolicy } from './policy.js'
import { classKey, DEFAULT_LOCALITY_BONUS, type PlanTask } from './rank.js'
import { joinReasons, plural } from './reasons.js'

export interface BatchOptions {
  /** @default 0.25 */
  localityBonus?: number
  /** Resources already promised per peer but not yet in its advert; not changed (see `BatchPlan.reserved`). */
  reserved?: ReadonlyMap<string, Resources>
}

export interface ProbedTask<T> {
  task: T
  peers: string[]
  /** Why the other peers were left out (the filter's summary), to merge into "why pending" if no bid comes. */
  why: string
}

export interface UnprobedTask<T> {
  task: T
  verdict: Exclude<Verdict, 'feasible'>
  why: string
}

export interface BatchPlan<T> {
  /** Per peer, the tasks to offer it in one call for bids. */
  probes: Map<string, T[]>
  probed: Array<ProbedTask<T>>
  unprobed: Array<UnprobedTask<T>>
  /** `opts.reserved` plus what this plan's probes claim (demand / d per probe). */
  reserved: Map<string, Resources>
}

interface Candidate {
  view: PeerView
  key: number
  tie: number
}

interface TaskClass {
  policy: PlacementPolicy
  demand: Resources
  share: Resources
  local: ReadonlySet<string>
  heap: Heap<Candidate>
  feasible: number
  why: string
  verdict: Verdict
}

/**
 * Sparrow's batch sampling with bids: probe about d·m peer slots for m tasks, and send each
 * probed peer one call for bids carrying every task probed there.
 *
 * Tasks that need the same thing (demand, constraints, kind, placement, avoid, locality) form a
 * class, filtered once. Each task of a class takes the best `d` distinct peers of the class's
 * ranking; each probe claims `demand / d` of the peer's virtual free amount, so a peer is offered
 * at most about `d ×` the tasks it can hold, and the ranking moves on as peers fill (spread) or
 * concentrates on them (binpack). Tasks are taken in the given order (the caller's DRF order), so
 * when the batch wants more than gossip says is free, the later ones are left unprobed (`wait`).
 */
export function planBatch<T extends PlanTask> (tasks: readonly T[], view: readonly PeerView[], d: number, rng: () => number, opts: BatchOptions = {}): BatchPlan<T> {
  const probesPerTask = Math.max(1, Math.floor(d))
  const reserved = new Map(opts.reserved ?? [])
  const bonus = opts.localityBonus ?? DEFAULT_LOCALITY_BONUS
  const classes = new Map<string, TaskClass>()
  const plan: BatchPlan<T> = { probes: new Map(), probed: [], unprobed: [], reserved }

  const freeNow = (p: PeerView): Resources => {
    const r = reserved.get(p.peer)
    return r === undefined ? p.advert.free : subtractResources(p.advert.free, r)
  }
  const scoreOf = (c: TaskClass, p: PeerView): number =>
    c.policy.score(c.demand, freeNow(p), p.advert.capacity) + (c.local.has(p.peer) ? bonus : 0)

  for (const task of tasks) {
    const k = task.classKey ?? classKey(task)
    let cls = classes.get(k)
    if (cls === undefined) {
      const feas = checkFeasibility(task, view, reserved)
      cls = {
        policy: policyFor(task.placement),
        demand: task.demand,
        share: scaleResources(task.demand, 1 / probesPerTask),
        local: new Set(task.locality ?? []),
        heap: new Heap<Candidate>((a, b) => a.key > b.key || (a.key === b.key && a.tie < b.tie)),
        feasible: feas.feasible.length,
        why: feas.why,
        verdict: feas.verdict
      }
      for (const p of feas.feasible) cls.heap.push({ view: p, key: scoreOf(cls, p), tie: rng() })
      classes.set(k, cls)
    }
    if (cls.feasible === 0) {
      plan.unprobed.push({ task, verdict: cls.verdict === 'feasible' ? 'wait' : cls.verdict, why: cls.why })
      continue
    }

    const picked: Candidate[] = []
    while (picked.length < probesPerTask) {
      const c = cls.heap.pop()
      if (c === undefined) break
      // Other classes may have claimed this peer since it was scored: re-check, re-score lazily.
      if (!fits(cls.share, freeNow(c.view))) continue
      const key = scoreOf(cls, c.view)
      if (key < c.key) { cls.heap.push({ ...c, key }); continue }
      picked.push(c)
    }
    if (picked.length === 0) {
      const claimed = `waiting for capacity: ${plural(cls.feasible, 'feasible peer')} fully claimed by earlier tasks`
      plan.unprobed.push({ task, verdict: 'wait', why: joinReasons([claimed, cls.why]) })
      continue
    }
    for (const c of picked) {
      const peer = c.view.peer
      reserved.set(peer, addResources(reserved.get(peer) ?? {}, cls.share))
      let list = plan.probes.get(peer)
      if (list === undefined) { list = []; plan.probes.set(peer, list) }
      list.push(task)
      if (fits(cls.share, freeNow(c.view))) cls.heap.push({ ...c, key: scoreOf(cls, c.view) })
    }
    plan.probed.push({ task, peers: picked.map(c => c.view.peer), why: cls.why })
  }
  return plan
}
