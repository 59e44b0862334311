import { MAX_INPUT_BYTES, type TaskSpec } from '../core/task-spec.js'
import type { InputRef, WorkflowTask } from '../core/workflow-spec.js'
import type { RunState } from './run-types.js'
import type { WorkflowGraph } from './workflow-graph.js'

/**
 * The key of a task instance: the task name, or `name[i]` for instance `i` of a fan-out. Task
 * names cannot contain brackets, so a key never collides with a name; the instances keep the
 * task's own name in their spec and share its runtime history.
 */
export function instanceKey (task: string, index?: number): string {
  return index === undefined ? task : `${task}[${index}]`
}

/** Splits `map[3]` into its task name and index; a plain name has no index. */
export function parseInstanceKey (key: string): { task: string, index?: number } {
  const m = /^(.+)\[(0|[1-9][0-9]{0,8})\]$/.exec(key)
  return m === null ? { task: key } : { task: m[1]!, index: Number(m[2]) }
}

type Resolved = { ok: true, value: unknown } | { ok: false, error: string }

/**
 * The result of a succeeded task: its value, or for a fan-out the list of its instances' results
 * in order. A task that returned nothing gives null.
 */
export function resultOf (state: RunState, wg: WorkflowGraph, task: number): unknown {
  const tr = state.tasks[task]!
  const first = tr.first ?? 0
  if (!wg.fanOut[task]) return state.units[first]?.result ?? null
  const out: unknown[] = []
  for (let u = first; u < first + (tr.count ?? 0); u++) out.push(state.units[u]!.result ?? null)
  return out
}

function field (value: unknown, path: string): Resolved {
  let v = value
  for (const seg of path.split('.')) {
    if (Array.isArray(v) && /^[0-9]+$/.test(seg) && Number(seg) < v.length) v = v[Number(seg)]
    // Own properties only: a path such as "__proto__" must not reach into the prototype.
    else if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, seg)) v = (v as Record<string, unknown>)[seg]
    else return { ok: false, error: `has no field "${path}"` }
  }
  return { ok: true, value: v ?? null }
}

/**
 * Resolves an input reference against the results so far. `memo` caches per call so that many
 * instances reading one large upstream list do not rebuild it each time.
 */
export function resolveRef (state: RunState, wg: WorkflowGraph, ref: InputRef, memo?: Map<string, Resolved>): Resolved {
  const memoKey = `${ref.from}\u0000${ref.field ?? ''}`
  const hit = memo?.get(memoKey)
  if (hit !== undefined) return hit
  const whole = resultOf(state, wg, wg.graph.index.get(ref.from)!)
  let out: Resolved = { ok: true, value: whole }
  if (ref.field !== undefined) {
    const r = field(whole, ref.field)
    out = r.ok ? r : { ok: false, error: `the result of "${ref.from}" ${r.error}` }
  }
  memo?.set(memoKey, out)
  return out
}

/** The items a fan-out runs over, or why it cannot run: the upstream value must be a list. */
export function forEachItems (state: RunState, wg: WorkflowGraph, task: WorkflowTask, memo?: Map<string, Resolved>): { ok: true, items: readonly unknown[] } | { ok: false, error: string } {
  const fe = task.forEach
  if (fe === undefined) return { ok: true, items: [undefined] }
  if (Array.isArray(fe)) return { ok: true, items: fe }
  const r = resolveRef(state, wg, fe, memo)
  if (!r.ok) return { ok: false, error: `forEach: ${r.error}` }
  if (!Array.isArray(r.value)) {
    const what = fe.field === undefined ? `the result of "${fe.from}"` : `field "${fe.field}" of the result of "${fe.from}"`
    return { ok: false, error: `forEach: ${what} is not a list` }
  }
  return { ok: true, items: r.value }
}

/**
 * The input of one instance: the task's own `input` fields, then each of `inputs`, then `item` and
 * `index` for a fan-out instance. A task with neither `inputs` nor `forEach` keeps its `input`.
 */
export function buildInput (state: RunState, wg: WorkflowGraph, taskIndex: number, index: number | undefined, memo?: Map<string, Resolved>): Resolved {
  const task = state.spec.tasks[taskIndex]!
  const own = task.kind === 'js' ? task.input : undefined
  const refs = Object.entries(task.inputs)
  if (refs.length === 0 && task.forEach === undefined) return { ok: true, value: own }
  // Built as entries: an input key such as "__proto__" must stay a plain data property.
  const entries: Array<[string, unknown]> = typeof own === 'object' && own !== null ? Object.entries(own) : []
  for (const [key, ref] of refs) {
    const r = resolveRef(state, wg, ref, memo)
    if (!r.ok) return { ok: false, error: `inputs.${key}: ${r.error}` }
    entries.push([key, r.value])
  }
  if (task.forEach !== undefined) {
    const items = forEachItems(state, wg, task, memo)
    if (!items.ok) return items
    const i = index ?? 0
    entries.push(['item', items.items[i] ?? null], ['index', i])
  }
  return { ok: true, value: Object.fromEntries(entries) }
}

/**
 * The task spec to submit for one instance. Every field but the input was validated with the
 * workflow, and priority and retries are set within their bounds here, so only an input built
 * from upstream results (which can grow past the limit) is checked again, by its JSON size.
 */
export function concreteSpec (task: WorkflowTask, input: unknown, priority: number): { ok: true, spec: TaskSpec } | { ok: false, error: string } {
  const { needs: _needs, inputs, forEach, ...fields } = task
  const spec: TaskSpec = {
    ...fields,
    priority: Math.max(-1000, Math.min(1000, Math.round(fields.priority + priority))),
    // The workflow engine retries with backoff and an avoid list; the task layer must not retry too.
    retries: { ...fields.retries, max: 0 }
  }
  if (spec.kind === 'js' && input !== undefined) spec.input = input
  if (Object.keys(inputs).length === 0 && forEach === undefined) return { ok: true, spec }
  let size: number
  try { size = JSON.stringify(input ?? null).length } catch { return { ok: false, error: 'input: is not JSON' } }
  if (size > MAX_INPUT_BYTES) return { ok: false, error: `input: must be JSON of at most ${MAX_INPUT_BYTES} bytes (it is ${size})` }
  return { ok: true, spec }
}
