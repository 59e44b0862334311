import { z } from 'zod'
import { ValidationError, type FieldIssue } from './errors.js'
import { formatPath } from './schema.js'
import { execTaskSchema, jsTaskSchema, taskSpecSchema, type TaskSpec } from './task-spec.js'

/**
 * The most tasks a workflow may hold, counting every instance of a fan-out: a literal `forEach`
 * counts its items at validation, a `forEach` over an upstream result counts them when it expands
 * (an expansion past the limit fails that task). It keeps one workflow's state a bounded record.
 */
export const MAX_WORKFLOW_TASKS = 10_000

/** How many tasks of one workflow may be in flight at once when `maxParallel` is not given. */
export const DEFAULT_MAX_PARALLEL = 1000

/** How many issues one rejection lists at most, so that a huge bad workflow gives a readable error. */
const MAX_ISSUES = 50

/** Fields a workflow task has on top of a task spec. */
const EDGE_FIELDS = ['needs', 'inputs', 'forEach'] as const

/** Object-valued task fields that `defaults` and a task merge key by key; every other field is replaced. */
const MERGED_FIELDS: ReadonlySet<string> = new Set(['resources', 'constraints', 'env', 'retries', 'checkpoint'])

/** `stats.total`, `files.0`: dot-separated property names; a number segment indexes a list. */
const FIELD_PATH = /^[^.]+(\.[^.]+)*$/

/**
 * Where a value comes from: the result of the upstream task `from`, or the field `field` of it.
 * The result of a fanned-out task is the list of its instances' results, in order; `field`
 * then applies to that list (`"0"` is the first instance's result).
 *
 * The object form was chosen over a `"sum.total"` string shorthand because task names may
 * themselves contain dots.
 */
export const inputRefSchema = z.strictObject({
  from: z.string().min(1).max(128),
  field: z.string().max(256).regex(FIELD_PATH, 'a dot-separated path such as "stats.total" or "files.0"').optional()
})

export type InputRef = z.output<typeof inputRefSchema>

const forEachSchema = z.union([
  z.array(z.unknown()).max(MAX_WORKFLOW_TASKS),
  inputRefSchema
], { error: 'must be a list of items, or { from: "<task>", field?: "<path>" } naming an upstream result' })

const INPUT_KEY = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/

const edgesSchema = z.object({
  needs: z.array(z.string().min(1).max(128)).max(MAX_WORKFLOW_TASKS).default([]),
  inputs: z.record(z.string(), inputRefSchema)
    .refine(r => Object.keys(r).length <= 256, 'at most 256 inputs')
    .default({}),
  forEach: forEachSchema.optional()
})

/** What a workflow task adds to a task spec. */
export interface WorkflowEdges {
  /** Names of the tasks that must succeed before this one starts. */
  needs: string[]
  /**
   * Input key → upstream value. The task's input is an object holding its own `input` fields (js
   * tasks), then these keys, then `item` and `index` when it is a fan-out instance.
   */
  inputs: Record<string, InputRef>
  /**
   * Fan-out: one instance of this task per item, either a literal list or an upstream result
   * that must be a list. Instance `i` gets `input.item` (the item) and `input.index` (`i`).
   */
  forEach?: unknown[] | InputRef
}

/** One task of a validated workflow: a complete task spec (defaults merged in) plus its edges. */
export type WorkflowTask = TaskSpec & WorkflowEdges

/** A workflow with every default filled in. Parsing it again gives the same value. */
export interface WorkflowSpec {
  name: string
  /** The tenant every task of the workflow runs as. */
  framework: string
  /** Task fields merged into every task, as written (kept so the spec reads back as submitted). */
  defaults: Record<string, unknown>
  /** `failFast`: the first permanent failure ends the run. `continue`: only its dependents are skipped. */
  failurePolicy: 'failFast' | 'continue'
  /** The most task instances in flight (submitted or running) at once. */
  maxParallel: number
  tasks: WorkflowTask[]
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

const topSchema = z.strictObject({
  name: z.string().min(1).max(128).regex(NAME, 'letters, digits and . _ : - only, starting with a letter or digit'),
  framework: z.string().min(1).max(64).regex(NAME, 'letters, digits and . _ : - only').default('default'),
  defaults: z.record(z.string(), z.unknown()).default({}),
  tasks: z.array(z.record(z.string(), z.unknown(), { error: 'each task must be an object' }))
    .min(1, 'a workflow needs at least one task')
    .max(MAX_WORKFLOW_TASKS, `a workflow holds at most ${MAX_WORKFLOW_TASKS} tasks`),
  failurePolicy: z.enum(['failFast', 'continue']).default('failFast'),
  maxParallel: z.number().int().min(1).max(MAX_WORKFLOW_TASKS).default(DEFAULT_MAX_PARALLEL)
})

/** The schema of each task field, for checking `defaults` once rather than once per task. */
const FIELD_SCHEMAS: Readonly<Record<string, z.ZodType>> = { ...execTaskSchema.shape, ...jsTaskSchema.shape }
const NOT_DEFAULTABLE: ReadonlySet<string> = new Set(['name', ...EDGE_FIELDS])

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function prefixed (prefix: ReadonlyArray<PropertyKey>, error: z.ZodError): FieldIssue[] {
  return error.issues.map(i => ({ path: formatPath([...prefix, ...i.path]), message: i.message }))
}

function checkDefaults (defaults: Record<string, unknown>, framework: string): FieldIssue[] {
  const issues: FieldIssue[] = []
  for (const [key, value] of Object.entries(defaults)) {
    const path = formatPath(['defaults', key])
    if (NOT_DEFAULTABLE.has(key)) {
      issues.push({ path, message: `${key} is set per task, not in defaults` })
    } else if (key === 'framework') {
      if (value !== framework) issues.push({ path, message: `tasks run in the workflow's framework ("${framework}"); set framework on the workflow` })
    } else if (key === 'kind') {
      if (value !== 'exec' && value !== 'js') issues.push({ path, message: 'must be "exec" or "js"' })
    } else {
      const schema = FIELD_SCHEMAS[key]
      if (schema === undefined) { issues.push({ path, message: 'not a task field' }); continue }
      const r = schema.safeParse(value)
      if (!r.success) issues.push(...prefixed(['defaults', key], r.error))
    }
  }
  return issues
}

const KIND_FIELDS: Readonly<Record<string, ReadonlySet<string>>> = {
  exec: new Set(Object.keys(execTaskSchema.shape)),
  js: new Set(Object.keys(jsTaskSchema.shape))
}

/**
 * `defaults` under `task`: the task's fields win; object-valued fields merge key by key. A default
 * that the task's kind does not have (`command` for a js task) is left out, so that defaults can
 * serve a workflow mixing kinds.
 */
export function mergeTaskDefaults (defaults: Record<string, unknown>, task: Record<string, unknown>): Record<string, unknown> {
  const kind = task.kind ?? defaults.kind
  const fits = typeof kind === 'string' ? KIND_FIELDS[kind] : undefined
  const usable = Object.entries(defaults).filter(([k]) => fits === undefined || fits.has(k))
  const out: Record<string, unknown> = Object.fromEntries([...usable, ...Object.entries(task)].filter(([, v]) => v !== undefined))
  for (const key of MERGED_FIELDS) {
    const d = defaults[key]
    const t = task[key]
    if (isPlainObject(d) && isPlainObject(t)) out[key] = { ...d, ...t }
  }
  return out
}

function parseTask (raw: Record<string, unknown>, i: number, top: z.output<typeof topSchema>, issues: FieldIssue[]): WorkflowTask | undefined {
  const { needs, inputs, forEach, ...fields } = raw
  // Input names become property names of the task's input. Checked on the raw object because a
  // zod record silently drops a "__proto__" key; starting with a letter rules it out.
  if (isPlainObject(inputs)) {
    for (const key of Object.keys(inputs)) {
      if (!INPUT_KEY.test(key)) issues.push({ path: formatPath(['tasks', i, 'inputs', key]), message: 'an input name has letters, digits, _ and - only, starting with a letter' })
    }
  }
  const edges = edgesSchema.safeParse({ needs, inputs, forEach })
  if (!edges.success) issues.push(...prefixed(['tasks', i], edges.error))

  if (fields.framework !== undefined && fields.framework !== top.framework) {
    issues.push({ path: `tasks[${i}].framework`, message: `tasks run in the workflow's framework ("${top.framework}"); set framework on the workflow` })
  }
  const merged = mergeTaskDefaults(top.defaults, fields)
  // Name the missing discriminator plainly, as parseTaskSpec does.
  const spec = taskSpecSchema.safeParse({ kind: undefined, ...merged, framework: top.framework })
  if (!spec.success) issues.push(...prefixed(['tasks', i], spec.error))
  if (!edges.success || !spec.success) return undefined

  const e = edges.data
  const usesInputs = Object.keys(e.inputs).length > 0 || e.forEach !== undefined
  if (usesInputs && spec.data.kind === 'js' && spec.data.input !== undefined && !isPlainObject(spec.data.input)) {
    issues.push({ path: `tasks[${i}].input`, message: 'must be an object when inputs or forEach are used, so that their values can be added to it' })
  }
  if (e.forEach !== undefined) {
    for (const key of ['item', 'index']) {
      if (Object.hasOwn(e.inputs, key)) issues.push({ path: `tasks[${i}].inputs.${key}`, message: `"${key}" is reserved for the fan-out item of a forEach task` })
    }
  }
  const task: WorkflowTask = { ...spec.data, needs: e.needs, inputs: e.inputs }
  if (e.forEach !== undefined) task.forEach = e.forEach
  return task
}

/**
 * Validates the fields of a workflow as written (parsed JSON or YAML) and merges `defaults` into
 * every task. Each task is checked as a full task spec. Throws a ValidationError naming each bad
 * field (`tasks[2].resources.cpu`).
 *
 * This checks fields only; the graph (unknown `needs`, duplicate names, cycles, `inputs` from a
 * task that is not needed, size after fan-out) is checked by `validateWorkflow` in `src/dag`, and
 * `parseWorkflow` there does both.
 */
export function parseWorkflowSpec (input: unknown): WorkflowSpec {
  const top = topSchema.safeParse(input)
  if (!top.success) throw new ValidationError('workflow', prefixed([], top.error).slice(0, MAX_ISSUES))

  const issues = checkDefaults(top.data.defaults, top.data.framework)
  // A bad default would otherwise be reported once per task.
  if (issues.length > 0) throw new ValidationError('workflow', issues.slice(0, MAX_ISSUES))

  const tasks: WorkflowTask[] = []
  for (const [i, raw] of top.data.tasks.entries()) {
    const task = parseTask(raw, i, top.data, issues)
    if (task !== undefined) tasks.push(task)
    if (issues.length >= MAX_ISSUES) break
  }
  if (issues.length > 0) throw new ValidationError('workflow', issues.slice(0, MAX_ISSUES))
  const { name, framework, defaults, failurePolicy, maxParallel } = top.data
  return { name, framework, defaults, failurePolicy, maxParallel, tasks }
}
