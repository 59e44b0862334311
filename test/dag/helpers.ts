import { parseWorkflow } from '../../src/dag/validate.js'
import type { WorkflowSpec } from '../../src/core/workflow-spec.js'
import { nextActions, type NextActions } from '../../src/dag/next-actions.js'
import { onTaskFailed, onTaskStarted, onTaskSucceeded } from '../../src/dag/events.js'
import type { RunState, Submission } from '../../src/dag/run-types.js'

/** A workflow of js tasks from compact task objects (each needs only name and the edges). */
export function workflow (tasks: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): WorkflowSpec {
  return parseWorkflow({ name: 'wf', defaults: { kind: 'js', source: 'export default () => 1' }, tasks, ...extra })
}

export type Outcome = { ok: true, result?: unknown, durationMs?: number } | { ok: false, error: string, retryable?: boolean }

/**
 * Drives a run to its end, one wave at a time: every submission starts, then finishes as
 * `behave` says. Time advances to each retry's wake-up. Returns the final state and every
 * submission in the order handed out.
 */
export function drive (state: RunState, behave: (s: Submission, state: RunState) => Outcome, opts: { now?: number, maxSteps?: number } = {}): { state: RunState, submitted: Submission[], waves: Submission[][] } {
  let now = opts.now ?? 0
  const submitted: Submission[] = []
  const waves: Submission[][] = []
  for (let step = 0; step < (opts.maxSteps ?? 10_000) && state.status === 'running'; step++) {
    const next: NextActions = nextActions(state, { now })
    state = next.state
    if (state.status !== 'running') break
    if (next.submit.length === 0) {
      if (next.wakeAt === undefined) throw new Error(`stuck at step ${step}: nothing to submit and nothing to wait for`)
      now = next.wakeAt
      continue
    }
    waves.push(next.submit)
    for (const s of next.submit) {
      submitted.push(s)
      state = onTaskStarted(state, { key: s.key, attempt: s.attempt, node: 'n1', now }).state
    }
    now += 10
    for (const s of next.submit) {
      const o = behave(s, state)
      state = o.ok
        ? onTaskSucceeded(state, { key: s.key, attempt: s.attempt, result: o.result, node: 'n1', durationMs: o.durationMs ?? 10, now }).state
        : onTaskFailed(state, { key: s.key, attempt: s.attempt, error: o.error, node: `n${s.attempt}`, now, ...(o.retryable !== undefined ? { retryable: o.retryable } : {}) }).state
    }
  }
  return { state, submitted, waves }
}
