import type { Resources } from '../core/resources.js'
import { fillPool } from './fill.js'
import { buildModel, checkFrameworks, shareOf, sumCapacities, type FrameworkDemand } from './model.js'
import { Issues, checkVector } from './validate.js'

export interface DrfResult {
  /** Whole tasks per framework; every framework is listed, with 0 if it got none. */
  tasks: Record<string, number>
  /** Weighted dominant share per framework: `tasks × max_r(demand_r / capacity_r) / weight`. */
  dominantShares: Record<string, number>
}

/**
 * Dominant Resource Fairness (Ghodsi et al., NSDI 2011) over one pool, by whole tasks: progressive
 * filling that always gives the next task to the framework with the lowest weighted dominant
 * share whose task still fits. Ties go to the name that sorts first (by code unit), so the answer
 * is the same on every node and for any order of `frameworks`. A framework whose task no longer
 * fits stops; the others go on. A framework whose demand names a resource the pool lacks gets 0.
 *
 * @throws ValidationError naming each bad field: an empty capacity, a negative or non-finite
 * amount, a demand of all zeros, a weight that is not > 0, a maxTasks that is not a whole number,
 * a missing or repeated name.
 *
 * @example
 * ```ts
 * drf({ cpu: 9, mem: 18 }, [
 *   { name: 'A', demand: { cpu: 1, mem: 4 } },
 *   { name: 'B', demand: { cpu: 3, mem: 1 } }
 * ])
 * // { tasks: { A: 3, B: 2 }, dominantShares: { A: 0.666…, B: 0.666… } }
 * ```
 */
export function drf (capacity: Resources, frameworks: readonly FrameworkDemand[]): DrfResult {
  const issues = new Issues()
  checkVector(capacity, 'capacity', issues, 'capacity')
  checkFrameworks(frameworks, issues)
  issues.throwIfAny('drf input')

  const m = buildModel(sumCapacities([capacity]), frameworks)
  const tasks = fillPool(m, m.total)
  return {
    tasks: Object.fromEntries(m.names.map((name, f) => [name, tasks[f] ?? 0])),
    dominantShares: Object.fromEntries(m.names.map((name, f) => [name, shareOf(tasks[f] ?? 0, m.unit[f] ?? 0)]))
  }
}
