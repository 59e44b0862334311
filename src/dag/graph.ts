/**
 * The dependency graph of a workflow in index form: task `i` is `names[i]`, and both directions of
 * every edge are listed so that a walk in either direction costs O(degree).
 */
export interface Graph {
  /** Task names in spec order. */
  readonly names: readonly string[]
  /** Name → index of the first task with that name. */
  readonly index: ReadonlyMap<string, number>
  /** `needs[i]`: the tasks task `i` needs, once each, in the order written; unknown names are left out. */
  readonly needs: ReadonlyArray<readonly number[]>
  /** `dependents[i]`: the tasks that need task `i`, in spec order. */
  readonly dependents: ReadonlyArray<readonly number[]>
}

/** What a graph is built from: a name and the names it needs (a workflow task fits). */
export interface GraphTask {
  readonly name: string
  readonly needs: readonly string[]
}

/**
 * Builds the index form of a list of tasks. It never throws: duplicate names, unknown needs and
 * cycles are left for `validateWorkflow` to report; here a duplicate name resolves to its first
 * task and an unknown need is dropped.
 */
export function buildGraph (tasks: readonly GraphTask[]): Graph {
  const index = new Map<string, number>()
  tasks.forEach((t, i) => { if (!index.has(t.name)) index.set(t.name, i) })
  const dependents: number[][] = tasks.map(() => [])
  const needs = tasks.map(t => {
    const mine = new Set<number>()
    for (const n of t.needs) {
      const j = index.get(n)
      if (j !== undefined) mine.add(j)
    }
    return [...mine]
  })
  // Filled in spec order so that every walk over dependents is deterministic.
  needs.forEach((mine, i) => { for (const j of mine) dependents[j]?.push(i) })
  return { names: tasks.map(t => t.name), index, needs, dependents }
}
