import { ConflictError } from './errors.js'
import type { TaskSpec } from './task-spec.js'

/**
 * A task's life: `pending → bidding → placed → running → succeeded | failed | cancelled`.
 * A task that fails with retries left, or whose node dies, goes back to `pending` with a higher
 * attempt number. The attempt number fences stale copies: news about an older attempt is refused.
 */
export type TaskState = 'pending' | 'bidding' | 'placed' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export const FINAL_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled'])

export function isFinal (state: TaskState): boolean {
  return FINAL_STATES.has(state)
}

const ALLOWED: Readonly<Record<TaskState, readonly TaskState[]>> = {
  pending: ['bidding', 'placed', 'cancelled', 'failed'],
  bidding: ['pending', 'placed', 'cancelled', 'failed'],
  placed: ['running', 'pending', 'failed', 'cancelled', 'succeeded'],
  running: ['succeeded', 'failed', 'cancelled', 'pending'],
  succeeded: [],
  failed: [],
  cancelled: []
}

export function canTransition (from: TaskState, to: TaskState): boolean {
  return ALLOWED[from].includes(to)
}

export interface TaskTransition {
  state: TaskState
  at: number
  attempt: number
  node?: string
  reason?: string
}

/** Everything known about one task; the DHT `task/<id>` record carries this. */
export interface TaskStatus {
  id: string
  spec: TaskSpec
  state: TaskState
  /** 1 on the first run; +1 for each retry after a failure and each recovery after a node loss. */
  attempt: number
  /** The peer that accepted the submission. */
  submitter: string
  /** The peer running (or that last ran) the current attempt. */
  node?: string
  submittedAt: number
  updatedAt: number
  /** Retries after task failures (exit code, exception). */
  retries: number
  /** Re-placements after the node running the task was lost. */
  recoveries: number
  /** Peers where an attempt failed: retries avoid them. */
  avoid: string[]
  /** Why the task is still pending ("no peer with gpu >= 8; 3 peers declined: memMb"). */
  pendingReason?: string
  result?: unknown
  error?: string
  exitCode?: number
  /** The newest saved checkpoint of the current task: its seq within its attempt, size and time. */
  checkpoint?: { attempt: number, seq: number, bytes: number, at: number }
  /** The workflow instance this task runs for, when a workflow submitted it. */
  workflow?: { id: string, key: string, attempt: number }
  history: TaskTransition[]
}

export function newTaskStatus (id: string, spec: TaskSpec, submitter: string, now: number): TaskStatus {
  return {
    id,
    spec,
    state: 'pending',
    attempt: 1,
    submitter,
    submittedAt: now,
    updatedAt: now,
    retries: 0,
    recoveries: 0,
    avoid: [],
    history: [{ state: 'pending', at: now, attempt: 1 }]
  }
}

export interface TransitionInput {
  to: TaskState
  at: number
  /** The attempt this news is about; news about an older attempt is stale and refused. */
  attempt: number
  node?: string
  reason?: string
  patch?: Partial<Pick<TaskStatus, 'result' | 'error' | 'exitCode' | 'pendingReason'>>
}

/**
 * Applies one transition and returns the new status (the input is not changed).
 * Throws ConflictError for a stale attempt or a transition the state machine does not allow.
 */
export function applyTransition (status: TaskStatus, t: TransitionInput): TaskStatus {
  if (t.attempt < status.attempt) {
    throw new ConflictError(`task ${status.id}: attempt ${t.attempt} is stale (current ${status.attempt})`, { task: status.id, attempt: t.attempt, current: status.attempt })
  }
  if (t.attempt === status.attempt && !canTransition(status.state, t.to)) {
    throw new ConflictError(`task ${status.id}: cannot go from ${status.state} to ${t.to}`, { task: status.id, from: status.state, to: t.to })
  }
  if (t.attempt > status.attempt && isFinal(status.state)) {
    throw new ConflictError(`task ${status.id} is already ${status.state}`, { task: status.id, state: status.state })
  }
  const next: TaskStatus = {
    ...status,
    ...t.patch,
    state: t.to,
    attempt: t.attempt,
    updatedAt: t.at,
    history: [...status.history, { state: t.to, at: t.at, attempt: t.attempt, ...(t.node !== undefined ? { node: t.node } : {}), ...(t.reason !== undefined ? { reason: t.reason } : {}) }]
  }
  if (t.node !== undefined) next.node = t.node
  if (t.to !== 'pending') delete next.pendingReason
  return next
}

/** The delay before retry number `retry` (1-based): `backoffMs * factor^(retry-1)`, capped at one hour. */
export function retryDelayMs (retries: TaskSpec['retries'], retry: number): number {
  return Math.min(3_600_000, retries.backoffMs * Math.pow(retries.factor, Math.max(0, retry - 1)))
}
