import type { Resources } from '../core/resources.js'
import { EPSILON, checkMaxTasks, checkName, checkVector, checkWeight, compareNames, isRecord, type Issues } from './validate.js'

/** One framework (tenant) competing for a cluster, as `drf` and `drfPlace` take it. */
export interface FrameworkDemand {
  /** Unique among the frameworks of one call. */
  readonly name: string
  /** What one of its tasks needs; it must ask for some resource. */
  readonly demand: Resources
  /** Its weight: a framework of weight 2 is entitled to twice the dominant share. @default 1 */
  readonly weight?: number
  /** How many tasks it has to run; it stops there. @default no limit */
  readonly maxTasks?: number
}

export function checkFrameworks (v: unknown, issues: Issues): void {
  if (!Array.isArray(v)) {
    issues.add('frameworks', 'must be an array of { name, demand, weight?, maxTasks? }')
    return
  }
  const seen = new Map<string, number>()
  v.forEach((f: unknown, i) => {
    const path = `frameworks[${i}]`
    if (!isRecord(f)) { issues.add(path, 'must be an object { name, demand, weight?, maxTasks? }'); return }
    if (checkName(f.name, `${path}.name`, issues)) {
      const first = seen.get(f.name)
      if (first !== undefined) issues.add(`${path}.name`, `duplicates frameworks[${first}].name ${JSON.stringify(f.name)}`)
      else seen.set(f.name, i)
    }
    checkVector(f.demand, `${path}.demand`, issues, 'demand')
    if (f.weight !== undefined) checkWeight(f.weight, `${path}.weight`, issues)
    checkMaxTasks(f.maxTasks, `${path}.maxTasks`, issues)
  })
}

/** Sums capacity vectors into a dense map; names that appear anywhere appear in the result. */
export function sumCapacities (vectors: Iterable<Resources>): Map<string, number> {
  const total = new Map<string, number>()
  for (const v of vectors) {
    for (const [name, amount] of Object.entries(v)) total.set(name, (total.get(name) ?? 0) + amount)
  }
  return total
}

/**
 * Frameworks flattened into typed arrays over one resource index, measured against `total`. The
 * fills run in inner loops over these, so they avoid records and string lookups.
 */
export interface FrameworkModel {
  /** Frameworks. */
  readonly n: number
  /** Resources: the names of `total`, then any that only demands name (with capacity 0). */
  readonly R: number
  readonly names: readonly string[]
  readonly resources: readonly string[]
  /** Position of each name in code-unit order: the tie-break between equal shares. */
  readonly rank: Int32Array
  /** `maxTasks`, or Infinity. */
  readonly maxTasks: Float64Array
  /**
   * The weighted dominant share of one task against `total`. A framework's share after k tasks is
   * exactly `k * unit`: computing it this one way keeps every comparison consistent. Infinity
   * when the demand names a resource the total lacks (such a framework never gets a task).
   */
  readonly unit: Float64Array
  /** The index of each framework's dominant resource (largest demand / total). */
  readonly dominant: Int32Array
  /** n × R demands, row per framework; amounts at or below EPSILON are stored as 0. */
  readonly demand: Float64Array
  /** Per framework, the resources it needs (amount > EPSILON): fit checks loop over these only. */
  readonly needs: readonly Int32Array[]
  /** R amounts of the total capacity. */
  readonly total: Float64Array
}

export function buildModel (total: ReadonlyMap<string, number>, frameworks: readonly FrameworkDemand[]): FrameworkModel {
  const index = new Map<string, number>()
  const resources: string[] = []
  const addResource = (name: string): void => {
    if (!index.has(name)) { index.set(name, resources.length); resources.push(name) }
  }
  for (const name of total.keys()) addResource(name)
  for (const f of frameworks) for (const name of Object.keys(f.demand)) addResource(name)

  const n = frameworks.length
  const R = resources.length
  const totalArr = new Float64Array(R)
  for (const [name, amount] of total) totalArr[index.get(name) ?? 0] = amount

  const names = frameworks.map(f => f.name)
  const rank = new Int32Array(n)
  names.map((name, i) => ({ name, i }))
    .sort((a, b) => compareNames(a.name, b.name))
    .forEach(({ i }, position) => { rank[i] = position })

  const maxTasks = new Float64Array(n)
  const unit = new Float64Array(n)
  const dominant = new Int32Array(n)
  const demand = new Float64Array(n * R)
  const needs: Int32Array[] = []
  frameworks.forEach((f, i) => {
    maxTasks[i] = f.maxTasks ?? Number.POSITIVE_INFINITY
    const need: number[] = []
    let max = 0
    let dom = -1
    for (const [name, amount] of Object.entries(f.demand)) {
      if (amount <= EPSILON) continue
      const r = index.get(name) ?? 0
      demand[i * R + r] = amount
      need.push(r)
      const cap = totalArr[r] ?? 0
      const share = cap > 0 ? amount / cap : Number.POSITIVE_INFINITY
      if (share > max || dom < 0) { max = share; dom = r }
    }
    needs.push(Int32Array.from(need))
    dominant[i] = dom
    unit[i] = max / (f.weight ?? 1)
  })
  return { n, R, names, resources, rank, maxTasks, unit, dominant, demand, needs, total: totalArr }
}

/** The dominant share of `tasks` tasks: `tasks * unit`, and 0 for none (never 0 × Infinity). */
export function shareOf (tasks: number, unit: number): number {
  return tasks > 0 ? tasks * unit : 0
}
