import { RunDraft } from './draft.js'
import { parseInstanceKey } from './expand.js'
import type { RunState, RunUpdate, UnitState } from './run-types.js'
import { abort, detach, unitCancelled, unitFailed, unitLost, unitSucceeded } from './transitions.js'
import { workflowGraph } from './workflow-graph.js'

/** Names the task instance and attempt an event is about: stale attempts are ignored. */
export interface UnitEvent {
  key: string
  attempt: number
  now: number
}

/** The instance index of `key`, or undefined when no such instance exists (yet). */
export function findUnit (state: RunState, key: string): number | undefined {
  const wg = workflowGraph(state.spec)
  const { task, index } = parseInstanceKey(key)
  const t = wg.graph.index.get(task)
  if (t === undefined || wg.fanOut[t] !== (index !== undefined)) return undefined
  const tr = state.tasks[t]!
  if (tr.first === undefined || (index ?? 0) >= (tr.count ?? 0)) return undefined
  return tr.first + (index ?? 0)
}

const IN_PLAY: readonly UnitState[] = ['pending', 'submitted', 'running']

/**
 * Finds the instance an event is about, or says why the event does not apply. Pending instances
 * are in play too: a driver that died between submitting and recording it leaves its successor
 * a pending instance whose current attempt is in fact out there.
 */
function locate (state: RunState, ev: UnitEvent, allowed: readonly UnitState[] = IN_PLAY): { u: number } | { ignored: string } {
  if (state.status !== 'running') return { ignored: `the run is already ${state.status}` }
  const u = findUnit(state, ev.key)
  if (u === undefined) return { ignored: `no task instance ${ev.key}` }
  const unit = state.units[u]!
  if (ev.attempt !== unit.attempt) return { ignored: `${ev.key}: attempt ${ev.attempt} is not the current one (${unit.attempt})` }
  if (!allowed.includes(unit.state)) return { ignored: `${ev.key} is already ${unit.state}` }
  return { u }
}

function ignored (state: RunState, why: string): RunUpdate {
  return { state, cancel: [], ignored: why }
}

function done (d: RunDraft): RunUpdate {
  return { state: d.finish(), cancel: d.cancel }
}

/** The instance started on `node` (again on another node, after the task layer recovered it). */
export function onTaskStarted (state: RunState, ev: UnitEvent & { node: string }): RunUpdate {
  const at = locate(state, ev)
  if ('ignored' in at) return ignored(state, at.ignored)
  const unit = state.units[at.u]!
  if (unit.state === 'running' && unit.node === ev.node) return ignored(state, `${ev.key} is already running on ${ev.node}`)
  const d = new RunDraft(state, ev.now)
  if (unit.state === 'pending') {
    // Started without being recorded as handed out: take it out of the queue and count it in flight.
    detach(d, at.u)
    d.inFlight++
  }
  const w = d.editUnit(at.u)
  w.state = 'running'
  w.node = ev.node
  delete w.notBefore
  w.startedAt ??= ev.now
  return done(d)
}

/**
 * The instance succeeded with `result`. Its task succeeds with its last instance, which
 * activates the tasks that needed it. A succeeded instance never runs again.
 */
export function onTaskSucceeded (state: RunState, ev: UnitEvent & { result?: unknown, node?: string, durationMs?: number }): RunUpdate {
  const at = locate(state, ev)
  if ('ignored' in at) return ignored(state, at.ignored)
  const d = new RunDraft(state, ev.now)
  unitSucceeded(d, at.u, ev.result, ev.node, ev.durationMs)
  return done(d)
}

/**
 * The instance failed on `node`. It is retried after a backoff while it has retries left and
 * `retryable` is not false (a bad spec or input will not get better); then its task fails and
 * the failure policy applies: `cancel` lists what to stop.
 */
export function onTaskFailed (state: RunState, ev: UnitEvent & { error: string, node?: string, retryable?: boolean }): RunUpdate {
  const at = locate(state, ev)
  if ('ignored' in at) return ignored(state, at.ignored)
  const d = new RunDraft(state, ev.now)
  unitFailed(d, at.u, ev.error, ev.node, ev.retryable !== false)
  return done(d)
}

/** The instance was cancelled from outside the workflow: its task fails as cancelled, without retry. */
export function onTaskCancelled (state: RunState, ev: UnitEvent & { reason?: string }): RunUpdate {
  const at = locate(state, ev)
  if ('ignored' in at) return ignored(state, at.ignored)
  const d = new RunDraft(state, ev.now)
  unitCancelled(d, at.u, ev.reason ?? 'cancelled')
  return done(d)
}

/**
 * The instance was handed out but is gone without a result: its submission was lost, or a new
 * driver finds no trace of it. It is handed out again with the next attempt; this is not a failure.
 */
export function onTaskLost (state: RunState, ev: UnitEvent): RunUpdate {
  const at = locate(state, ev, ['submitted', 'running'])
  if ('ignored' in at) return ignored(state, at.ignored)
  const d = new RunDraft(state, ev.now)
  unitLost(d, at.u)
  return done(d)
}

/** Cancels the whole run: every task not final is cancelled; `cancel` lists the instances to stop. */
export function cancelRun (state: RunState, opts: { now: number, reason?: string }): RunUpdate {
  if (state.status !== 'running') return ignored(state, `the run is already ${state.status}`)
  const d = new RunDraft(state, opts.now)
  abort(d, 'cancelled', opts.reason ?? 'the workflow was cancelled')
  return done(d)
}
