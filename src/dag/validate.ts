import { ValidationError, type FieldIssue } from '../core/errors.js'
import { MAX_WORKFLOW_TASKS, parseWorkflowSpec, type WorkflowSpec } from '../core/workflow-spec.js'
import { findCycles } from './cycles.js'
import { buildGraph } from './graph.js'

/**
 * Checks the graph of a workflow whose fields are already valid, and returns every problem found
 * (empty when it may run): an empty workflow, duplicate names, `needs` naming an unknown task or
 * the same task twice, `inputs` or `forEach` taking from a task that is not in `needs`, more than
 * `MAX_WORKFLOW_TASKS` tasks once literal fan-outs are counted, and cycles, each named in the
 * order its tasks would run (`a → b → c → a`: b needs a, c needs b, a needs c).
 */
export function validateWorkflow (spec: Pick<WorkflowSpec, 'tasks'>): FieldIssue[] {
  const { tasks } = spec
  if (tasks.length === 0) return [{ path: 'tasks', message: 'a workflow needs at least one task' }]
  const issues: FieldIssue[] = []

  const first = new Map<string, number>()
  tasks.forEach((t, i) => {
    const j = first.get(t.name)
    if (j === undefined) first.set(t.name, i)
    else issues.push({ path: `tasks[${i}].name`, message: `duplicate task name "${t.name}" (also tasks[${j}])` })
  })

  let instances = 0
  tasks.forEach((t, i) => {
    const needs = new Set<string>()
    t.needs.forEach((n, k) => {
      const path = `tasks[${i}].needs[${k}]`
      if (needs.has(n)) issues.push({ path, message: `task "${t.name}" lists "${n}" twice` })
      else if (!first.has(n)) issues.push({ path, message: `task "${t.name}" needs "${n}", which is not a task of this workflow` })
      needs.add(n)
    })
    const from = (what: string, path: string, name: string): void => {
      if (needs.has(name)) return
      const message = first.has(name)
        ? `task "${t.name}" takes ${what} from "${name}" but does not need it: add "${name}" to needs`
        : `task "${t.name}" takes ${what} from "${name}", which is not a task of this workflow`
      issues.push({ path, message })
    }
    for (const [key, ref] of Object.entries(t.inputs)) from(`input "${key}"`, `tasks[${i}].inputs.${key}.from`, ref.from)
    if (Array.isArray(t.forEach)) instances += t.forEach.length
    else {
      instances += 1
      if (t.forEach !== undefined) from('its forEach list', `tasks[${i}].forEach.from`, t.forEach.from)
    }
  })
  if (instances > MAX_WORKFLOW_TASKS) {
    issues.push({ path: 'tasks', message: `the workflow expands to ${instances} task instances; at most ${MAX_WORKFLOW_TASKS} are allowed` })
  }

  const graph = buildGraph(tasks)
  for (const cycle of findCycles(graph)) {
    // Point at the edge that closes the cycle: the first task needs the last one.
    const head = cycle.tasks[0]!
    const closing = graph.names[cycle.tasks[cycle.tasks.length - 1]!]!
    issues.push({ path: `tasks[${head}].needs[${tasks[head]!.needs.indexOf(closing)}]`, message: `cycle: ${cycle.text} (each task needs the one before it)` })
  }
  return issues
}

/**
 * Parses a workflow as written (parsed JSON or YAML) and checks its graph: the one call to make
 * before anything runs. Throws a ValidationError naming every problem.
 */
export function parseWorkflow (input: unknown): WorkflowSpec {
  const spec = parseWorkflowSpec(input)
  const issues = validateWorkflow(spec)
  if (issues.length > 0) throw new ValidationError('workflow', issues.slice(0, 50))
  return spec
}
