import { MAX_WORKFLOW_TASKS } from '../core/workflow-spec.js'
import { retryDelayMs } from '../core/task-state.js'
import type { RunDraft } from './draft.js'
import { forEachItems, instanceKey } from './expand.js'
import type { TaskRunState, UnitRun } from './run-types.js'

/** The most nodes an avoid list keeps: the latest failures matter most. */
const MAX_AVOID = 16

/** Activates every task queued in `d.toActivate`, and those that follow from it (empty fan-outs). */
export function drain (d: RunDraft): void {
  // A loop rather than recursion: a long chain of empty fan-outs must not grow the stack.
  for (let head = 0; head < d.toActivate.length && d.status === 'running'; head++) {
    const t = d.toActivate[head]!
    if (d.task(t).state === 'waiting') activate(d, t)
  }
  d.toActivate.length = 0
}

/** Creates the instances of a task whose needs have all succeeded, expanding its forEach. */
function activate (d: RunDraft, t: number): void {
  const task = d.spec.tasks[t]!
  const items = forEachItems(d.current, d.wg, task)
  if (!items.ok) { failTask(d, t, items.error, 'failed'); return }
  const count = items.items.length
  if (d.unitCount + count > MAX_WORKFLOW_TASKS) {
    failTask(d, t, `forEach: ${count} instances would take the workflow past ${MAX_WORKFLOW_TASKS} tasks`, 'failed')
    return
  }
  const tr = d.editTask(t)
  tr.state = 'active'
  tr.first = d.unitCount
  tr.count = count
  tr.left = count
  if (count === 0) { succeedTask(d, t); return }
  const queue: number[] = []
  for (let i = 0; i < count; i++) {
    const fan = d.wg.fanOut[t] === true
    const unit: UnitRun = { key: instanceKey(task.name, fan ? i : undefined), task: t, state: 'pending', attempt: 1, failures: 0, avoid: [] }
    if (fan) unit.index = i
    queue.push(d.addUnit(unit))
  }
  tr.queue = queue
  d.readyTasks.push(t)
}

function succeedTask (d: RunDraft, t: number): void {
  d.editTask(t).state = 'succeeded'
  d.open--
  for (const dep of d.wg.graph.dependents[t]!) {
    const dr = d.editTask(dep)
    dr.needsLeft--
    if (dr.needsLeft === 0 && dr.state === 'waiting') d.toActivate.push(dep)
  }
  finishIfDone(d)
}

/** Takes an instance out of the queue or the backoff list, or out of flight, before it changes state. */
export function detach (d: RunDraft, u: number): void {
  const unit = d.unit(u)
  if (unit.state === 'submitted' || unit.state === 'running') { d.inFlight--; return }
  if (unit.state !== 'pending') return
  if (unit.notBefore !== undefined) { d.backoff = d.peekBackoff().filter(x => x !== u); return }
  const tr = d.editTask(unit.task)
  tr.queue = tr.queue.filter(x => x !== u)
  if (tr.queue.length === 0) d.readyTasks = d.peekReadyTasks().filter(x => x !== unit.task)
}

function isFinalTask (s: TaskRunState): boolean {
  return s !== 'waiting' && s !== 'active'
}

/**
 * Cancels every instance of a task that is not final; those handed out go on the cancel list.
 * `bulk`: the caller clears the queues itself (ending the run), so skip tidying them one by one.
 */
function cancelInstances (d: RunDraft, t: number, reason: string, bulk = false): void {
  const tr = d.task(t)
  if (tr.first === undefined) return
  let inBackoff = false
  for (let u = tr.first; u < tr.first + (tr.count ?? 0); u++) {
    const unit = d.unit(u)
    if (unit.state === 'succeeded' || unit.state === 'failed' || unit.state === 'cancelled') continue
    if (unit.state === 'submitted' || unit.state === 'running') {
      d.cancel.push({ key: unit.key, attempt: unit.attempt, ...(unit.node !== undefined ? { node: unit.node } : {}) })
      d.inFlight--
    } else if (unit.notBefore !== undefined) {
      inBackoff = true
    }
    const w = d.editUnit(u)
    w.state = 'cancelled'
    w.error = reason
    w.finishedAt = d.now
    delete w.notBefore
  }
  if (bulk) return
  if (tr.queue.length > 0) {
    d.editTask(t).queue = []
    d.readyTasks = d.peekReadyTasks().filter(x => x !== t)
  }
  if (inBackoff) d.backoff = d.peekBackoff().filter(u => d.unit(u).task !== t)
}

/**
 * A task that can no longer succeed. Its other instances are cancelled (their results could not
 * be used); then the failure policy: fail fast ends the run, continue skips the dependents.
 */
export function failTask (d: RunDraft, t: number, error: string, as: 'failed' | 'cancelled'): void {
  const name = d.spec.tasks[t]!.name
  cancelInstances(d, t, `task ${name} ${as}`)
  const tr = d.editTask(t)
  tr.state = as
  tr.error = error
  d.open--
  d.failedTasks++
  d.error ??= `task ${name} ${as}: ${error}`
  if (d.spec.failurePolicy === 'failFast') { abort(d, 'failed', `the workflow failed: task ${name} ${as}`); return }
  skipDependents(d, t)
  finishIfDone(d)
}

/** Under `continue`: every task downstream of a failed one is skipped; none of them can be active. */
function skipDependents (d: RunDraft, t: number): void {
  const todo = [t]
  while (todo.length > 0) {
    for (const dep of d.wg.graph.dependents[todo.pop()!]!) {
      if (d.task(dep).state !== 'waiting') continue
      const dr = d.editTask(dep)
      dr.state = 'skipped'
      dr.error = `upstream task ${d.spec.tasks[t]!.name} did not succeed`
      d.open--
      todo.push(dep)
    }
  }
}

/** Ends the run: every task not final is cancelled, and the instances in flight are to be cancelled. */
export function abort (d: RunDraft, status: 'failed' | 'cancelled', reason: string): void {
  for (let t = 0; t < d.spec.tasks.length; t++) {
    if (isFinalTask(d.task(t).state)) continue
    cancelInstances(d, t, reason, true)
    const w = d.editTask(t)
    w.state = 'cancelled'
    w.error ??= reason
    w.queue = []
  }
  d.readyTasks = []
  d.backoff = []
  d.inFlight = 0
  d.open = 0
  d.status = status
  d.error ??= reason
  d.finishedAt = d.now
}

function finishIfDone (d: RunDraft): void {
  if (d.status !== 'running' || d.open > 0) return
  d.status = d.failedTasks > 0 ? 'failed' : 'succeeded'
  d.finishedAt = d.now
}

/** An instance succeeded: keep its result if anything reads it, and move its task on when it was the last. */
export function unitSucceeded (d: RunDraft, u: number, result: unknown, node: string | undefined, durationMs: number | undefined): void {
  detach(d, u)
  const w = d.editUnit(u)
  w.state = 'succeeded'
  w.finishedAt = d.now
  delete w.notBefore
  delete w.error
  if (node !== undefined) w.node = node
  if (durationMs !== undefined) w.durationMs = durationMs
  if (d.wg.keepResult[w.task] === true && result !== undefined) w.result = result
  const tr = d.editTask(w.task)
  tr.left--
  if (tr.left === 0) succeedTask(d, w.task)
  drain(d)
}

/**
 * An instance failed. With retries left (and `retryable`), it goes back to pending with the next
 * attempt after `retryDelayMs`, avoiding the node it failed on; otherwise its task fails.
 */
export function unitFailed (d: RunDraft, u: number, error: string, node: string | undefined, retryable: boolean): void {
  const unit = d.unit(u)
  const retries = d.spec.tasks[unit.task]!.retries
  detach(d, u)
  const w = d.editUnit(u)
  w.error = error
  delete w.notBefore
  if (retryable && unit.failures < retries.max) {
    w.failures = unit.failures + 1
    w.attempt = unit.attempt + 1
    w.state = 'pending'
    w.notBefore = d.now + retryDelayMs(retries, w.failures)
    if (node !== undefined) w.avoid = [...unit.avoid.filter(n => n !== node), node].slice(-MAX_AVOID)
    delete w.node
    delete w.submittedAt
    delete w.startedAt
    d.backoff.push(u)
    return
  }
  w.state = 'failed'
  w.finishedAt = d.now
  if (node !== undefined) w.node = node
  failTask(d, unit.task, unit.key === d.spec.tasks[unit.task]!.name ? error : `${unit.key}: ${error}`, 'failed')
  drain(d)
}

/** An instance cancelled from outside: its task cannot succeed, as if it had failed for good. */
export function unitCancelled (d: RunDraft, u: number, reason: string): void {
  const unit = d.unit(u)
  detach(d, u)
  const w = d.editUnit(u)
  w.state = 'cancelled'
  w.error = reason
  w.finishedAt = d.now
  delete w.notBefore
  failTask(d, unit.task, unit.key === d.spec.tasks[unit.task]!.name ? reason : `${unit.key}: ${reason}`, 'cancelled')
  drain(d)
}

/** An instance handed out that never ran (lost with its node or driver): hand it out again, first in its queue. */
export function unitLost (d: RunDraft, u: number): void {
  const unit = d.unit(u)
  detach(d, u)
  const w = d.editUnit(u)
  w.state = 'pending'
  w.attempt = unit.attempt + 1
  delete w.node
  delete w.notBefore
  delete w.submittedAt
  delete w.startedAt
  requeue(d, u)
}

/** Puts a pending instance at the head of its task's queue. */
export function requeue (d: RunDraft, u: number): void {
  const t = d.unit(u).task
  const tr = d.editTask(t)
  if (tr.queue.length === 0) d.readyTasks.push(t)
  tr.queue = [u, ...tr.queue]
}
