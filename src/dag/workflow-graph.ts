import { ValidationError } from '../core/errors.js'
import type { WorkflowSpec } from '../core/workflow-spec.js'
import { estimateKey } from './estimates.js'
import { buildGraph, type Graph } from './graph.js'
import { topoIndices } from './topo.js'
import { validateWorkflow } from './validate.js'

/** What the engine derives from a spec once: it never changes during a run. */
export interface WorkflowGraph {
  readonly graph: Graph
  readonly order: readonly number[]
  /** The task has a `forEach`: its instances are keyed `name[i]` and its result is a list. */
  readonly fanOut: readonly boolean[]
  /** Some task takes this one's result, or nothing needs it (its result is the workflow's output). */
  readonly keepResult: readonly boolean[]
  readonly estimateKeys: readonly string[]
}

// Keyed by the spec object: a run's states share one spec, so this is built once per run (and
// once more after a state is read back from the DHT).
const cache = new WeakMap<WorkflowSpec, WorkflowGraph>()

/** The derived graph of a spec; validates it the first time. Throws ValidationError. */
export function workflowGraph (spec: WorkflowSpec): WorkflowGraph {
  const hit = cache.get(spec)
  if (hit !== undefined) return hit
  const issues = validateWorkflow(spec)
  if (issues.length > 0) throw new ValidationError('workflow', issues.slice(0, 50))
  const graph = buildGraph(spec.tasks)
  const consumed = spec.tasks.map(() => false)
  for (const t of spec.tasks) {
    for (const ref of Object.values(t.inputs)) consumed[graph.index.get(ref.from)!] = true
    if (t.forEach !== undefined && !Array.isArray(t.forEach)) consumed[graph.index.get(t.forEach.from)!] = true
  }
  const wg: WorkflowGraph = {
    graph,
    order: topoIndices(graph)!,
    fanOut: spec.tasks.map(t => t.forEach !== undefined),
    keepResult: consumed.map((c, i) => c || graph.dependents[i]!.length === 0),
    estimateKeys: spec.tasks.map(t => estimateKey(spec.name, t.name))
  }
  cache.set(spec, wg)
  return wg
}
