import type { Resources } from '../core/resources.js'
import { buildModel, checkFrameworks, shareOf, sumCapacities, type FrameworkDemand } from './model.js'
import { place, type PlaceOptions } from './place.js'
import { Issues, checkName, checkVector, isRecord } from './validate.js'

/** One node of a cluster, as `drfPlace` takes it. */
export interface ClusterNode {
  /** Unique among the nodes of one call. */
  readonly id: string
  /** Everything the node offers (not what is free now). */
  readonly capacity: Resources
}

export interface DrfPlaceResult {
  /** Whole tasks per framework; every framework is listed, with 0 if it got none. */
  tasks: Record<string, number>
  /** Per framework, the tasks placed on each node id (nodes with none are left out). */
  placement: Record<string, Record<string, number>>
  /**
   * Weighted dominant share per framework, measured against the whole cluster (`capacity`), the
   * same way a ledger of node reports measures the live mesh, so the two compare directly.
   */
  dominantShares: Record<string, number>
  /** The pooled capacity the shares are measured against: the sum of the nodes' capacities. */
  capacity: Resources
  /** What each node has left, by node id: no framework that could still run needs less. */
  leftover: Record<string, Resources>
}

/**
 * The central reference placement: DRFH (Wang, Liang and Li, "Multi-resource fair allocation in
 * heterogeneous cloud computing systems") with best-fit placement. Shares are global (against the
 * pooled capacity) and a task must fit on one node: the framework with the lowest weighted global
 * dominant share places its next task on the node that fits it best; a framework whose task fits
 * on no node stops, the others go on.
 *
 * Best fit follows the paper's heuristic: the node whose free vector is the closest in shape
 * to the task's demand, `H = Σ_r |d_r/d_ρ − c_r/c_ρ|` over pool-normalised amounts (`d` the
 * demand, `c` the node's free amounts, each divided by the pool total). The paper divides by the
 * first resource; we divide by the task's dominant resource ρ, which the task always needs, so a
 * task that asks for no cpu still has a shape. A node rich in what the task does not need scores
 * worse, which keeps gpu nodes for gpu tasks. Equal shapes go to the node with less of ρ free
 * (the tighter fit, which leaves big holes for big tasks), then to the first id.
 *
 * On one node it gives exactly `drf`'s answer. On many it agrees with `drf` on the pooled
 * capacity until fragmentation first turns a task away, and then stays Pareto efficient per node;
 * see the fairness README for why that, and not "never more than the pool", is the right bound.
 *
 * Costs O(T × N × R) for T tasks on N nodes over R resources at worst; with few frameworks a
 * turn re-scores only the nodes that changed since that framework's last turn (see place.ts).
 *
 * @throws ValidationError naming each bad field, as `drf` does, plus no nodes, a node without
 * a capacity and repeated node ids.
 *
 * @example
 * ```ts
 * const nodes = [1, 2, 3].map(i => ({ id: `n${i}`, capacity: { cpu: 3, mem: 6 } }))
 * drfPlace(nodes, [
 *   { name: 'A', demand: { cpu: 1, mem: 4 } },
 *   { name: 'B', demand: { cpu: 3, mem: 1 } }
 * ]).tasks
 * // { A: 2, B: 1 }: the single pool <9, 18> would give A 3 and B 2, but no node holds A and B together
 * ```
 */
export function drfPlace (nodes: readonly ClusterNode[], frameworks: readonly FrameworkDemand[]): DrfPlaceResult {
  return drfPlaceWith(nodes, frameworks)
}

/** `drfPlace` with tuning that doesn't change the answer; for tests and benchmarks, not exported from the package. */
export function drfPlaceWith (nodes: readonly ClusterNode[], frameworks: readonly FrameworkDemand[], options: PlaceOptions = {}): DrfPlaceResult {
  const issues = new Issues()
  checkNodes(nodes, issues)
  checkFrameworks(frameworks, issues)
  issues.throwIfAny('drfPlace input')

  const m = buildModel(sumCapacities(nodes.map(node => node.capacity)), frameworks)
  const { tasks, placed, free } = place(m, nodes, options)

  const R = m.R
  const index = new Map(m.resources.map((name, r) => [name, r]))
  const entries = <T>(f: (name: string, i: number) => T): Record<string, T> =>
    Object.fromEntries(m.names.map((name, i) => [name, f(name, i)]))
  return {
    tasks: entries((_, f) => tasks[f] ?? 0),
    placement: entries((_, f) => {
      const perNode = placed[f] ?? new Map<number, number>()
      return Object.fromEntries([...perNode].sort(([a], [b]) => a - b).map(([l, count]) => [nodes[l]?.id ?? '', count]))
    }),
    dominantShares: entries((_, f) => shareOf(tasks[f] ?? 0, m.unit[f] ?? 0)),
    capacity: Object.fromEntries(m.resources.flatMap((name, r) => (m.total[r] ?? 0) > 0 ? [[name, m.total[r] ?? 0]] : [])),
    leftover: Object.fromEntries(nodes.map((node, l) => [node.id, Object.fromEntries(Object.keys(node.capacity).map(name =>
      [name, Math.max(0, free[l * R + (index.get(name) ?? 0)] ?? 0)]))]))
  }
}

function checkNodes (v: unknown, issues: Issues): void {
  if (!Array.isArray(v) || v.length === 0) {
    issues.add('nodes', 'must be a non-empty array of { id, capacity }')
    return
  }
  const seen = new Map<string, number>()
  v.forEach((node: unknown, i) => {
    const path = `nodes[${i}]`
    if (!isRecord(node)) { issues.add(path, 'must be an object { id, capacity }'); return }
    if (checkName(node.id, `${path}.id`, issues)) {
      const first = seen.get(node.id)
      if (first !== undefined) issues.add(`${path}.id`, `duplicates nodes[${first}].id ${JSON.stringify(node.id)}`)
      else seen.set(node.id, i)
    }
    checkVector(node.capacity, `${path}.capacity`, issues, 'capacity')
  })
}
