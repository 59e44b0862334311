import type { Graph } from './graph.js'

/**
 * Where one task of a workflow stands, as far as readiness goes. `waiting` means not started;
 * everything else is either under way or final.
 */
export type NodeStatus = 'waiting' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled'

/**
 * The ready set: tasks that have not started and whose needs have all succeeded, in spec order.
 * A task missing from `status` has not started. O(tasks + edges); the run engine keeps the same
 * set incrementally instead of calling this.
 */
export function readyTasks (graph: Graph, status: Readonly<Record<string, NodeStatus>>): string[] {
  const of = (i: number): NodeStatus => (Object.hasOwn(status, graph.names[i]!) ? status[graph.names[i]!] : undefined) ?? 'waiting'
  const ready: string[] = []
  graph.names.forEach((name, i) => {
    if (of(i) === 'waiting' && graph.needs[i]!.every(j => of(j) === 'succeeded')) ready.push(name)
  })
  return ready
}
