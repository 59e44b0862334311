import { z } from 'zod'
import { ValidationError, type FieldIssue } from '../core/errors.js'
import { parseOrThrow } from '../core/schema.js'
import { MAX_WORKFLOW_TASKS } from '../core/workflow-spec.js'
import { instanceKey } from './expand.js'
import type { RunState } from './run-types.js'
import { parseWorkflow } from './validate.js'

const index = z.number().int().nonnegative().max(MAX_WORKFLOW_TASKS)
const time = z.number().finite()

const unitSchema = z.strictObject({
  key: z.string().min(1).max(160),
  task: index,
  index: index.optional(),
  state: z.enum(['pending', 'submitted', 'running', 'succeeded', 'failed', 'cancelled']),
  attempt: z.number().int().positive(),
  failures: z.number().int().nonnegative(),
  avoid: z.array(z.string().max(256)).max(64),
  node: z.string().max(256).optional(),
  notBefore: time.optional(),
  submittedAt: time.optional(),
  startedAt: time.optional(),
  finishedAt: time.optional(),
  durationMs: time.optional(),
  result: z.unknown().optional(),
  error: z.string().optional()
})

const taskSchema = z.strictObject({
  state: z.enum(['waiting', 'active', 'succeeded', 'failed', 'skipped', 'cancelled']),
  needsLeft: index,
  first: index.optional(),
  count: index.optional(),
  left: index,
  queue: z.array(index).max(MAX_WORKFLOW_TASKS),
  error: z.string().optional()
})

const runStateSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().min(1).max(128),
  spec: z.unknown(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  seq: z.number().int().nonnegative(),
  createdAt: time,
  updatedAt: time,
  finishedAt: time.optional(),
  error: z.string().optional(),
  open: index,
  failedTasks: index,
  inFlight: index,
  readyTasks: z.array(index).max(MAX_WORKFLOW_TASKS),
  backoff: z.array(index).max(MAX_WORKFLOW_TASKS),
  tasks: z.array(taskSchema).max(MAX_WORKFLOW_TASKS),
  units: z.array(unitSchema).max(MAX_WORKFLOW_TASKS)
})

/** The references between tasks and instances must agree, or the engine would act on garbage. */
function crossCheck (s: RunState): FieldIssue[] {
  const issues: FieldIssue[] = []
  const bad = (path: string, message: string): void => { if (issues.length < 20) issues.push({ path, message }) }
  if (s.tasks.length !== s.spec.tasks.length) bad('tasks', `has ${s.tasks.length} entries for ${s.spec.tasks.length} tasks`)
  s.tasks.forEach((tr, t) => {
    if (tr.first === undefined) return
    const end = tr.first + (tr.count ?? 0)
    if (end > s.units.length) { bad(`tasks[${t}]`, 'instances out of range'); return }
    for (let u = tr.first; u < end; u++) {
      const unit = s.units[u]!
      const fan = s.spec.tasks[t]!.forEach !== undefined
      if (unit.task !== t || unit.key !== instanceKey(s.spec.tasks[t]!.name, fan ? u - tr.first : undefined)) bad(`units[${u}]`, `does not belong to tasks[${t}]`)
    }
    for (const u of tr.queue) if (u < tr.first || u >= end) bad(`tasks[${t}].queue`, 'names an instance of another task')
  })
  for (const t of s.readyTasks) if (t >= s.tasks.length) bad('readyTasks', 'out of range')
  for (const u of s.backoff) if (u >= s.units.length || s.units[u]!.notBefore === undefined) bad('backoff', 'names an instance that is not waiting to retry')
  return issues
}

/**
 * Checks a run state read back from the DHT (or anywhere else untrusted) before a driver resumes
 * from it: shape, the spec (parsed and validated again) and the references inside. Throws
 * ValidationError.
 */
export function parseRunState (input: unknown): RunState {
  const raw = parseOrThrow(runStateSchema, input, 'workflow run state')
  const state: RunState = { ...raw, spec: parseWorkflow(raw.spec) }
  const issues = crossCheck(state)
  if (issues.length > 0) throw new ValidationError('workflow run state', issues)
  return state
}
