import { runSummary, taskResult, type RunState, type RunStatus } from '../dag/index.js'

/** One task instance in a status: `map[3]` for instance 3 of a fan-out. */
export interface WorkflowTaskStatus {
  key: string
  /** The task's name in the spec. */
  name: string
  /**
   * `waiting` (a need has not succeeded yet), `pending` (ready, or waiting out a retry delay),
   * `submitted`, `running`, `succeeded`, `failed`, `skipped` (a need failed under `continue`) or
   * `cancelled`.
   */
  state: 'waiting' | 'pending' | 'submitted' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled'
  /** 1 on the first run, +1 per retry or re-submission; 0 for a task that has no instance yet. */
  attempt: number
  /** The id of the task the current attempt runs as (`bidmesh task ID`), when known. */
  taskId?: string
  /** The node running or that ran the current attempt. */
  node?: string
  error?: string
}

/**
 * What `GET /v1/workflows/:id` answers, at any node. Counts are of task instances (a fan-out of
 * 100 counts 100); `pending` counts everything not started yet (waiting, ready, submitted).
 */
export interface WorkflowStatus {
  id: string
  name: string
  framework: string
  state: RunStatus
  /** The peer driving the run (the last one, once it is final). */
  driver: string
  /** 1 for the driver that accepted it, +1 for each takeover after a driver died. */
  epoch: number
  submittedAt: number
  updatedAt: number
  finishedAt?: number
  total: number
  done: number
  counts: { pending: number, running: number, succeeded: number, failed: number, skipped: number, cancelled: number }
  /** Omitted from listings. */
  tasks?: WorkflowTaskStatus[]
  /**
   * Once succeeded: the result of the workflow's only sink (the task nothing needs), or an object
   * of sink name → result when there are several.
   */
  result?: unknown
  error?: string
  /** `running: 7 of 12 done (3 running, 1 failed)`. */
  text: string
}

export interface StatusMeta {
  driver: string
  epoch: number
  /** Instance key → task id of its current attempt. */
  taskIds: ReadonlyMap<string, { id: string, attempt: number }> | Readonly<Record<string, { id: string, attempt: number }>>
}

function lookup (ids: StatusMeta['taskIds'], key: string): { id: string, attempt: number } | undefined {
  return ids instanceof Map ? ids.get(key) : Object.hasOwn(ids, key) ? (ids as Record<string, { id: string, attempt: number }>)[key] : undefined
}

/** The status of a run for people and scripts; `withTasks: false` leaves the per-instance list out. */
export function workflowStatus (state: RunState, meta: StatusMeta, withTasks = true): WorkflowStatus {
  const s = runSummary(state)
  const i = s.instances
  const out: WorkflowStatus = {
    id: state.id,
    name: state.spec.name,
    framework: state.spec.framework,
    state: state.status,
    driver: meta.driver,
    epoch: meta.epoch,
    submittedAt: state.createdAt,
    updatedAt: state.updatedAt,
    total: s.total,
    done: s.done,
    counts: { pending: i.waiting + i.pending + i.submitted, running: i.running, succeeded: i.succeeded, failed: i.failed, skipped: i.skipped, cancelled: i.cancelled },
    text: s.text
  }
  if (state.finishedAt !== undefined) out.finishedAt = state.finishedAt
  if (state.error !== undefined) out.error = state.error
  if (withTasks) out.tasks = taskList(state, meta)
  if (state.status === 'succeeded') {
    const sinks = sinkNames(state)
    out.result = sinks.length === 1 ? taskResult(state, sinks[0]!) ?? null : Object.fromEntries(sinks.map(n => [n, taskResult(state, n) ?? null]))
  }
  return out
}

function taskList (state: RunState, meta: StatusMeta): WorkflowTaskStatus[] {
  const out: WorkflowTaskStatus[] = []
  state.tasks.forEach((tr, t) => {
    const name = state.spec.tasks[t]!.name
    if (tr.first === undefined) {
      // Not reached (or never reached): one line for the task itself.
      const st = tr.state === 'waiting' || tr.state === 'active' ? 'waiting' : tr.state
      out.push({ key: name, name, state: st, attempt: 0, ...(tr.error !== undefined ? { error: tr.error } : {}) })
      return
    }
    for (let u = tr.first; u < tr.first + (tr.count ?? 0); u++) {
      const unit = state.units[u]!
      const ref = lookup(meta.taskIds, unit.key)
      const entry: WorkflowTaskStatus = { key: unit.key, name, state: unit.state, attempt: unit.attempt }
      if (ref !== undefined && ref.attempt === unit.attempt) entry.taskId = ref.id
      if (unit.node !== undefined) entry.node = unit.node
      if (unit.error !== undefined) entry.error = unit.error
      out.push(entry)
    }
  })
  return out
}

/** Tasks nothing needs: what the workflow produces. */
export function sinkNames (state: RunState): string[] {
  const needed = new Set(state.spec.tasks.flatMap(t => t.needs))
  return state.spec.tasks.filter(t => !needed.has(t.name)).map(t => t.name)
}
