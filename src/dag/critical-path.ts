import type { Graph } from './graph.js'
import { topoOrder, topoIndices } from './topo.js'

/** The critical path of a workflow, by estimated duration. */
export interface CriticalPath {
  /**
   * For each task, the longest remaining path from its start to the end of the workflow: its own
   * estimate plus the longest remaining path among the tasks that need it.
   */
  readonly remainingMs: Readonly<Record<string, number>>
  /** The longest path through the whole graph, from a task with no needs to one nothing needs. */
  readonly path: readonly string[]
  /** Its length: the shortest the workflow can take with unlimited parallelism. */
  readonly lengthMs: number
}

/**
 * `remaining[i]` for every task in one pass over a topological order in reverse: O(tasks + edges).
 * `order` may be passed when the caller has it already. Throws when the graph has a cycle.
 */
export function remainingByIndex (graph: Graph, durationMs: (i: number) => number, order?: readonly number[]): number[] {
  const topo = order ?? topoIndices(graph)
  if (topo === undefined) { topoOrder(graph); return [] } // throws the ValidationError naming the cycle
  const remaining = new Array<number>(graph.names.length).fill(0)
  for (let k = topo.length - 1; k >= 0; k--) {
    const i = topo[k]!
    let longest = 0
    for (const d of graph.dependents[i]!) longest = Math.max(longest, remaining[d]!)
    remaining[i] = durationMs(i) + longest
  }
  return remaining
}

/**
 * The longest remaining path from each task and the critical path of the whole graph. Ties go to
 * the task earlier in the spec, so the path is deterministic. `durationMs` gives a task's
 * estimated duration by name (see `estimateMs`). Throws a ValidationError when there is a cycle.
 */
export function criticalPath (graph: Graph, durationMs: (name: string) => number): CriticalPath {
  const remaining = remainingByIndex(graph, i => durationMs(graph.names[i]!))
  const path: string[] = []
  let best = -1
  // The maximum is always reached at a task with no needs; starting there keeps the path whole.
  remaining.forEach((r, i) => { if (graph.needs[i]!.length === 0 && (best === -1 || r > remaining[best]!)) best = i })
  const lengthMs = best === -1 ? 0 : remaining[best]!
  // Follow the dependent that carries the rest of the longest path.
  while (best !== -1) {
    path.push(graph.names[best]!)
    let next = -1
    for (const d of graph.dependents[best]!) if (next === -1 || remaining[d]! > remaining[next]!) next = d
    best = next
  }
  return {
    remainingMs: Object.fromEntries(graph.names.map((name, i) => [name, remaining[i]!])),
    path,
    lengthMs
  }
}
