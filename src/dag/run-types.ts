import type { TaskSpec } from '../core/task-spec.js'
import type { WorkflowSpec } from '../core/workflow-spec.js'

/** Where a workflow run stands. Everything but `running` is final. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled'

/**
 * One task of the spec during a run. `waiting`: some need has not succeeded yet. `active`: its
 * instances exist (one, or one per fan-out item). `skipped`: a need failed under `continue`.
 * `cancelled`: the run ended first (fail fast, cancel), or the task was cancelled from outside.
 */
export type TaskRunState = 'waiting' | 'active' | 'succeeded' | 'failed' | 'skipped' | 'cancelled'

/**
 * One instance of a task (the task itself when it has no `forEach`). `pending`: ready to hand
 * out, or waiting out a retry delay. `submitted`: handed out by `nextActions`, not started yet.
 */
export type UnitState = 'pending' | 'submitted' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface TaskRun {
  state: TaskRunState
  /** Needs that have not succeeded yet; the task activates when this reaches 0. */
  needsLeft: number
  /** Index of its first instance in `RunState.units`, once active; the instances are contiguous. */
  first?: number
  /** How many instances, once active (0 for a fan-out over an empty list). */
  count?: number
  /** Instances that have not succeeded yet; the task succeeds when this reaches 0. */
  left: number
  /** Instances ready to hand out, in order (retries go first). */
  queue: number[]
  error?: string
}

export interface UnitRun {
  /** `build` for a plain task, `map[3]` for instance 3 of a fan-out (brackets never occur in a task name). */
  key: string
  /** Index of its task in `spec.tasks`. */
  task: number
  /** Position in the fan-out list. */
  index?: number
  state: UnitState
  /** 1 on the first run, +1 for each retry or re-submission. News about any other attempt is ignored. */
  attempt: number
  /** Failed attempts so far; retries stop at the task's `retries.max`. */
  failures: number
  /** Nodes where an attempt failed: the next attempt avoids them. */
  avoid: string[]
  node?: string
  /** A retry waits until then. */
  notBefore?: number
  submittedAt?: number
  startedAt?: number
  finishedAt?: number
  durationMs?: number
  /** Kept only when some task takes it as input or forEach list, or nothing needs the task. */
  result?: unknown
  error?: string
}

/**
 * The whole state of one workflow run: a plain JSON value, stored in the DHT as
 * `/bidmesh/wf/<id>`; a new driver resumes from it. Treat it as immutable: every function
 * returns a new state and leaves the one passed in as it was.
 */
export interface RunState {
  v: 1
  id: string
  spec: WorkflowSpec
  status: RunStatus
  /** +1 on every change: the DHT selector keeps the highest. */
  seq: number
  createdAt: number
  updatedAt: number
  finishedAt?: number
  /** Why the run failed or was cancelled: the first cause. */
  error?: string
  /** Tasks not final yet. */
  open: number
  /** Tasks that failed or were cancelled from outside; the run fails if any did. */
  failedTasks: number
  /** Instances submitted or running, bounded by `spec.maxParallel`. */
  inFlight: number
  /** Tasks with instances in their queue, in no particular order. */
  readyTasks: number[]
  /** Instances waiting out a retry delay. */
  backoff: number[]
  /** Parallel to `spec.tasks`. */
  tasks: TaskRun[]
  /** Every instance created so far, appended as tasks activate. */
  units: UnitRun[]
}

/** A task instance handed out or to cancel. */
export interface UnitRef {
  key: string
  attempt: number
  node?: string
}

/** What each event returns. */
export interface RunUpdate {
  /** The new state: the same object when the event changed nothing. */
  state: RunState
  /** Instances handed out earlier that must now be cancelled (fail fast, cancel, a failed sibling). */
  cancel: UnitRef[]
  /** Why the event was ignored (stale attempt, unknown key, already final); absent when it applied. */
  ignored?: string
}

/** One task instance to submit to the mesh now. */
export interface Submission {
  /** The instance key that events about it must carry, with `attempt`. */
  key: string
  /** The task's name in the spec (and `spec.name`). */
  task: string
  /** Position in the fan-out list. */
  index?: number
  attempt: number
  /**
   * The concrete task spec: defaults merged, `input` built (js tasks), `priority` raised by the
   * critical-path priority, and `retries.max` 0 because the workflow engine does the retries.
   */
  spec: TaskSpec
  /** The built input, for every kind; exec tasks need the shell to pass it on. */
  input: unknown
  /** Critical-path priority 0..1000: 1000 for the task on the longest remaining path. */
  priority: number
  /** The longest remaining path from this task, by estimate. */
  remainingMs: number
  /** Nodes where earlier attempts failed. */
  avoid: string[]
  /** The history key to record this task's duration under (see `observeDuration`). */
  estimateKey: string
}
