import type { WorkflowSpec } from '../core/workflow-spec.js'
import { RunDraft } from './draft.js'
import { findUnit } from './events.js'
import { resultOf } from './expand.js'
import type { RunState, RunStatus, TaskRunState, UnitRef, UnitState } from './run-types.js'
import { drain } from './transitions.js'
import { workflowGraph } from './workflow-graph.js'

/**
 * Starts a run of a parsed workflow: the tasks with no needs are ready (`nextActions` hands them
 * out). Validates the graph first and throws a ValidationError when it is not a valid workflow.
 */
export function startRun (spec: WorkflowSpec, opts: { id: string, now: number }): RunState {
  const wg = workflowGraph(spec)
  const state: RunState = {
    v: 1,
    id: opts.id,
    spec,
    status: 'running',
    seq: 0,
    createdAt: opts.now,
    updatedAt: opts.now,
    open: spec.tasks.length,
    failedTasks: 0,
    inFlight: 0,
    readyTasks: [],
    backoff: [],
    tasks: spec.tasks.map((_, i) => ({ state: 'waiting', needsLeft: wg.graph.needs[i]!.length, left: 0, queue: [] })),
    units: []
  }
  const d = new RunDraft(state, opts.now)
  for (const t of wg.order) if (wg.graph.needs[t]!.length === 0) d.toActivate.push(t)
  drain(d)
  return d.finish()
}

/** Counts of a run for people: "7 of 12 done". */
export interface RunSummary {
  id: string
  name: string
  status: RunStatus
  final: boolean
  /**
   * Task instances known so far. A task not yet active counts as its literal forEach length, or
   * 1 (a forEach over an upstream result is counted when it expands).
   */
  total: number
  /** Instances that succeeded. */
  done: number
  /** Instances by state; `waiting` and `skipped` count the instances of tasks not active. */
  instances: Record<UnitState | 'waiting' | 'skipped', number>
  /** Spec tasks by state. */
  tasks: Record<TaskRunState, number>
  error?: string
  /** `running: 7 of 12 done (3 running, 1 failed)`. */
  text: string
}

/** A summary of the run, for status output and the dashboard. O(tasks + instances). */
export function runSummary (state: RunState): RunSummary {
  const instances = { waiting: 0, pending: 0, submitted: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, skipped: 0 }
  const tasks = { waiting: 0, active: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 }
  state.tasks.forEach((tr, t) => {
    tasks[tr.state]++
    if (tr.first !== undefined) return
    const fe = state.spec.tasks[t]!.forEach
    const n = Array.isArray(fe) ? fe.length : 1
    // A task that never got instances: not reached yet, skipped, cancelled, or its forEach failed.
    if (tr.state === 'skipped') instances.skipped += n
    else if (tr.state === 'cancelled') instances.cancelled += n
    else if (tr.state === 'failed') instances.failed += n
    else instances.waiting += n
  })
  for (const u of state.units) instances[u.state]++
  const total = Object.values(instances).reduce((a, b) => a + b, 0)
  const extra = (['running', 'submitted', 'pending', 'failed', 'cancelled', 'skipped'] as const)
    .filter(k => instances[k] > 0).map(k => `${instances[k]} ${k}`)
  const text = `${state.status}: ${instances.succeeded} of ${total} done${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`
  const out: RunSummary = { id: state.id, name: state.spec.name, status: state.status, final: state.status !== 'running', total, done: instances.succeeded, instances, tasks, text }
  if (state.error !== undefined) out.error = state.error
  return out
}

/**
 * The instances handed out and not finished. A driver that takes over checks each against the
 * task records: one that never reached the mesh is reported with `onTaskLost`.
 */
export function inFlight (state: RunState): UnitRef[] {
  const out: UnitRef[] = []
  for (const u of state.units) {
    if (u.state === 'submitted' || u.state === 'running') out.push({ key: u.key, attempt: u.attempt, ...(u.node !== undefined ? { node: u.node } : {}) })
  }
  return out
}

/**
 * The result of a task that succeeded (a list, in order, for a fan-out), or of one instance by
 * key (`map[3]`); undefined otherwise or when it was not kept (nothing read it and it is not a sink).
 */
export function taskResult (state: RunState, key: string): unknown {
  const wg = workflowGraph(state.spec)
  const t = wg.graph.index.get(key)
  if (t !== undefined && state.tasks[t]!.state === 'succeeded' && wg.keepResult[t] === true) return resultOf(state, wg, t)
  const u = findUnit(state, key)
  const unit = u === undefined ? undefined : state.units[u]
  return unit?.state === 'succeeded' ? unit.result : undefined
}
