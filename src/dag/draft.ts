import type { WorkflowSpec } from '../core/workflow-spec.js'
import type { RunState, RunStatus, TaskRun, UnitRef, UnitRun } from './run-types.js'
import { workflowGraph, type WorkflowGraph } from './workflow-graph.js'

/**
 * A copy-on-write view of a run state for one event. The arrays are copied once per event (a
 * cheap flat copy) and only the tasks and instances the event touches are copied again, so an
 * event costs O(degree) in work plus one flat copy, and the state passed in is never changed.
 */
export class RunDraft {
  readonly spec: WorkflowSpec
  readonly wg: WorkflowGraph
  readonly now: number
  /** Instances handed out earlier that must be cancelled. */
  readonly cancel: UnitRef[] = []
  /** Tasks whose needs have all succeeded, to activate in `drain`. */
  readonly toActivate: number[] = []

  status: RunStatus
  error: string | undefined
  finishedAt: number | undefined
  open: number
  failedTasks: number
  inFlight: number

  private readonly base: RunState
  private tasks: TaskRun[] | undefined
  private units: UnitRun[] | undefined
  private ready: number[] | undefined
  private waiting: number[] | undefined
  private readonly ownTasks = new Set<number>()
  private readonly ownUnits = new Set<number>()
  private changed = false

  constructor (state: RunState, now: number) {
    this.base = state
    this.spec = state.spec
    this.wg = workflowGraph(state.spec)
    this.now = now
    this.status = state.status
    this.error = state.error
    this.finishedAt = state.finishedAt
    this.open = state.open
    this.failedTasks = state.failedTasks
    this.inFlight = state.inFlight
  }

  /** The tasks and instances as they stand in this draft, for reading results; top-level counters are the draft's own fields. */
  get current (): RunState {
    return {
      ...this.base,
      tasks: this.tasks ?? this.base.tasks,
      units: this.units ?? this.base.units
    }
  }

  task (i: number): Readonly<TaskRun> {
    return (this.tasks ?? this.base.tasks)[i]!
  }

  unit (i: number): Readonly<UnitRun> {
    return (this.units ?? this.base.units)[i]!
  }

  get unitCount (): number {
    return (this.units ?? this.base.units).length
  }

  /** A task to change. Arrays inside it are shared with the old state: replace them, never push. */
  editTask (i: number): TaskRun {
    this.changed = true
    this.tasks ??= this.base.tasks.slice()
    if (!this.ownTasks.has(i)) { this.tasks[i] = { ...this.tasks[i]! }; this.ownTasks.add(i) }
    return this.tasks[i]!
  }

  /** An instance to change. Arrays inside it are shared with the old state: replace them, never push. */
  editUnit (i: number): UnitRun {
    this.changed = true
    this.units ??= this.base.units.slice()
    if (!this.ownUnits.has(i)) { this.units[i] = { ...this.units[i]! }; this.ownUnits.add(i) }
    return this.units[i]!
  }

  addUnit (unit: UnitRun): number {
    this.changed = true
    this.units ??= this.base.units.slice()
    this.ownUnits.add(this.units.length)
    return this.units.push(unit) - 1
  }

  /** Tasks with queued instances (editable). */
  get readyTasks (): number[] {
    this.changed = true
    this.ready ??= this.base.readyTasks.slice()
    return this.ready
  }

  set readyTasks (v: number[]) {
    this.changed = true
    this.ready = v
  }

  /** Instances waiting out a retry delay (editable). */
  get backoff (): number[] {
    this.changed = true
    this.waiting ??= this.base.backoff.slice()
    return this.waiting
  }

  set backoff (v: number[]) {
    this.changed = true
    this.waiting = v
  }

  /** Read-only views that do not mark the draft changed. */
  peekReadyTasks (): readonly number[] { return this.ready ?? this.base.readyTasks }
  peekBackoff (): readonly number[] { return this.waiting ?? this.base.backoff }

  /** The new state, or the old one itself when nothing changed. */
  finish (): RunState {
    const b = this.base
    const same = !this.changed && this.status === b.status && this.open === b.open &&
      this.inFlight === b.inFlight && this.failedTasks === b.failedTasks
    if (same) return b
    const next: RunState = {
      ...b,
      status: this.status,
      seq: b.seq + 1,
      updatedAt: Math.max(b.updatedAt, this.now),
      open: this.open,
      failedTasks: this.failedTasks,
      inFlight: this.inFlight,
      readyTasks: this.ready ?? b.readyTasks,
      backoff: this.waiting ?? b.backoff,
      tasks: this.tasks ?? b.tasks,
      units: this.units ?? b.units
    }
    if (this.error !== undefined) next.error = this.error
    if (this.finishedAt !== undefined) next.finishedAt = this.finishedAt
    return next
  }
}
