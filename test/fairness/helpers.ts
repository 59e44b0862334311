// Shared generators and slow references for the fairness tests. The references are deliberately
// naive (no heap, no leaps, records instead of typed arrays) so they check the fast code rather
// than repeat it.
import fc from 'fast-check'
import { fits, subtractResources, addResources, scaleResources, type Resources } from '../../src/core/resources.js'
import { dominantShare, type FrameworkDemand, type ClusterNode } from '../../src/fairness/index.js'

export const RESOURCES = ['cpu', 'mem', 'gpu', 'disk'] as const

/** Integer amounts, so that sums are exact and a property never fails on float dust. */
export function vector (max: number, names: readonly string[] = RESOURCES.slice(0, 3)): fc.Arbitrary<Record<string, number>> {
  return fc.tuple(...names.map(() => fc.integer({ min: 0, max }))).map(values =>
    Object.fromEntries(values.flatMap((v, i) => v > 0 ? [[names[i] ?? '', v]] : [])))
}

export const nonEmpty = (max: number): fc.Arbitrary<Record<string, number>> => vector(max).filter(v => Object.keys(v).length > 0)

export interface TestFramework {
  name: string
  demand: Record<string, number>
  weight: number
  maxTasks?: number
}

export function frameworksArb (options: { maxDemand: number, weights?: number[], maxFrameworks?: number }): fc.Arbitrary<TestFramework[]> {
  return fc.array(fc.record({
    demand: nonEmpty(options.maxDemand),
    weight: fc.constantFrom(...(options.weights ?? [1])),
    maxTasks: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined, freq: 3 })
  }), { minLength: 1, maxLength: options.maxFrameworks ?? 5 })
    .map(list => list.map((f, i) => {
      const out: TestFramework = { name: `f${i}`, demand: f.demand, weight: f.weight }
      if (f.maxTasks !== undefined) out.maxTasks = f.maxTasks
      return out
    }))
}

export interface PoolInstance { capacity: Record<string, number>, frameworks: TestFramework[] }

export function poolArb (weights: number[] = [1]): fc.Arbitrary<PoolInstance> {
  return fc.record({ capacity: nonEmpty(40), frameworks: frameworksArb({ maxDemand: 10, weights }) })
}

export interface ClusterInstance { nodes: ClusterNode[], frameworks: TestFramework[] }

export function clusterArb (weights: number[] = [1, 2, 3]): fc.Arbitrary<ClusterInstance> {
  return fc.record({
    nodes: fc.array(nonEmpty(16), { minLength: 1, maxLength: 5 }),
    frameworks: frameworksArb({ maxDemand: 8, weights })
  }).map(({ nodes, frameworks }) => ({ nodes: nodes.map((capacity, i) => ({ id: `n${i}`, capacity })), frameworks }))
}

export function capped (f: FrameworkDemand, tasks: number): boolean {
  return f.maxTasks !== undefined && tasks >= f.maxTasks
}

export function totalOf (vectors: Iterable<Resources>): Record<string, number> {
  let total: Resources = {}
  for (const v of vectors) total = addResources(total, v)
  return { ...total }
}

/** What `tasks` tasks of each framework use together. */
export function usedBy (frameworks: readonly FrameworkDemand[], tasks: Readonly<Record<string, number>>): Resources {
  return totalOf(frameworks.map(f => scaleResources(f.demand, tasks[f.name] ?? 0)))
}

export function leftoverOf (capacity: Resources, frameworks: readonly FrameworkDemand[], tasks: Readonly<Record<string, number>>): Resources {
  return subtractResources(capacity, usedBy(frameworks, tasks))
}

/** Every amount of `a` is at most the same amount of `b` (missing is zero). */
export function within (a: Resources, b: Resources): boolean {
  return Object.entries(a).every(([k, v]) => v <= (b[k] ?? 0) + 1e-9)
}

/**
 * DRF by the book, one task at a time: scan every framework for the lowest (share, name), give it
 * a task if it fits, otherwise stop it.
 */
export function naiveDrf (capacity: Resources, frameworks: readonly FrameworkDemand[]): Record<string, number> {
  const tasks: Record<string, number> = Object.fromEntries(frameworks.map(f => [f.name, 0]))
  const unit = new Map(frameworks.map(f => [f.name, dominantShare(f.demand, capacity, f.weight ?? 1)]))
  const stopped = new Set<string>()
  let used: Resources = {}
  for (;;) {
    let next: FrameworkDemand | undefined
    let nextKey = 0
    for (const f of frameworks) {
      const k = tasks[f.name] ?? 0
      const u = unit.get(f.name) ?? 0
      if (stopped.has(f.name) || capped(f, k) || !Number.isFinite(u)) continue
      const key = k * u
      if (next === undefined || key < nextKey || (key === nextKey && f.name < next.name)) { next = f; nextKey = key }
    }
    if (next === undefined) return tasks
    if (fits(next.demand, subtractResources(capacity, used))) {
      tasks[next.name] = (tasks[next.name] ?? 0) + 1
      used = addResources(used, next.demand)
    } else {
      stopped.add(next.name)
    }
  }
}
