import { remainingByIndex } from './critical-path.js'
import { RunDraft } from './draft.js'
import { estimateMs, type Estimates } from './estimates.js'
import { buildInput, concreteSpec } from './expand.js'
import type { RunState, RunUpdate, Submission } from './run-types.js'
import { requeue, unitFailed } from './transitions.js'
import { workflowGraph, type WorkflowGraph } from './workflow-graph.js'

export interface NextActionsOptions {
  now: number
  /** Runtime history; without it every task is estimated at `fallbackEstimateMs`. */
  estimates?: Estimates
  /** The estimate of a task with no history (default `DEFAULT_ESTIMATE_MS`). */
  fallbackEstimateMs?: number
}

export interface NextActions extends RunUpdate {
  /** Instances to submit now, highest critical-path priority first; retries that are due included. */
  submit: Submission[]
  /** When a retry delay ends: call again then (absent when no retry is waiting). */
  wakeAt?: number
}

interface Priorities {
  estimates: Estimates | undefined
  fallback: number | undefined
  remaining: number[]
  longest: number
}

// One entry per run graph: recomputed (O(tasks + edges)) only when another estimates object is
// passed, so a driver that keeps its estimates object between changes pays for it once.
const priorityCache = new WeakMap<WorkflowGraph, Priorities>()

function priorities (wg: WorkflowGraph, estimates: Estimates | undefined, fallback: number | undefined): Priorities {
  const hit = priorityCache.get(wg)
  if (hit !== undefined && hit.estimates === estimates && hit.fallback === fallback) return hit
  const remaining = remainingByIndex(wg.graph, i => estimateMs(estimates, wg.estimateKeys[i]!, fallback), wg.order)
  const p: Priorities = { estimates, fallback, remaining, longest: Math.max(0, ...remaining) }
  priorityCache.set(wg, p)
  return p
}

/** The critical-path priority of every task, 0..1000, by the same estimates `nextActions` uses. */
export function taskPriorities (state: RunState, opts: Omit<NextActionsOptions, 'now'> = {}): Record<string, { priority: number, remainingMs: number }> {
  const wg = workflowGraph(state.spec)
  const p = priorities(wg, opts.estimates, opts.fallbackEstimateMs)
  return Object.fromEntries(wg.graph.names.map((name, i) => [name, { priority: scale(p, i), remainingMs: p.remaining[i]! }]))
}

function scale (p: Priorities, t: number): number {
  return p.longest > 0 ? Math.round(1000 * p.remaining[t]! / p.longest) : 0
}

/**
 * What to submit now: ready instances up to `maxParallel` in flight, the task on the longest
 * remaining path first (ties: spec order), due retries first within their task. The instances
 * returned are marked submitted in the new state: store that state before submitting them, so
 * that a driver taking over never hands out the same attempt twice. An instance whose input
 * cannot be built (a missing field, too large) fails for good and the failure policy applies.
 */
export function nextActions (state: RunState, opts: NextActionsOptions): NextActions {
  if (state.status !== 'running') return { state, cancel: [], submit: [] }
  const d = new RunDraft(state, opts.now)
  const wg = d.wg

  // Retries whose delay is over rejoin the head of their task's queue.
  if (state.backoff.some(u => state.units[u]!.notBefore! <= opts.now)) {
    const due = state.backoff.filter(u => state.units[u]!.notBefore! <= opts.now)
    d.backoff = state.backoff.filter(u => state.units[u]!.notBefore! > opts.now)
    for (const u of due.reverse()) { delete d.editUnit(u).notBefore; requeue(d, u) }
  }

  const p = priorities(wg, opts.estimates, opts.fallbackEstimateMs)
  const order = [...d.peekReadyTasks()].sort((a, b) => (p.remaining[b]! - p.remaining[a]!) || (a - b))
  const memo = new Map()
  const picked: Array<{ u: number, submission: Submission }> = []
  let capacity = state.spec.maxParallel - d.inFlight

  for (const t of order) {
    if (capacity <= 0 || d.status !== 'running') break
    const queue = d.task(t).queue
    if (queue.length === 0) continue
    const batch = queue.slice(0, capacity)
    d.editTask(t).queue = queue.slice(batch.length)
    if (batch.length === queue.length) d.readyTasks = d.peekReadyTasks().filter(x => x !== t)
    const priority = scale(p, t)
    const task = state.spec.tasks[t]!
    for (const u of batch) {
      // An earlier instance of this batch may have failed its task and cancelled the rest.
      if (d.unit(u).state !== 'pending' || d.status !== 'running') continue
      const unit = d.unit(u)
      const input = buildInput(d.current, wg, t, unit.index, memo)
      const spec = input.ok ? concreteSpec(task, input.value, priority) : input
      if (!spec.ok) {
        // Taken out of the queue already: park it as handed out so the failure path detaches it.
        const w = d.editUnit(u); w.state = 'submitted'; d.inFlight++
        unitFailed(d, u, spec.error, undefined, false)
        continue
      }
      const w = d.editUnit(u)
      w.state = 'submitted'
      w.submittedAt = opts.now
      d.inFlight++
      capacity--
      picked.push({ u, submission: {
        key: unit.key,
        task: task.name,
        ...(unit.index !== undefined ? { index: unit.index } : {}),
        attempt: unit.attempt,
        spec: spec.spec,
        input: input.ok ? input.value : undefined,
        priority,
        remainingMs: p.remaining[t]!,
        avoid: unit.avoid,
        estimateKey: wg.estimateKeys[t]!
      } })
    }
  }

  // A failure in this pass may have ended the run or cancelled siblings handed out in this very
  // pass: those never left, so they are neither submitted nor to be cancelled.
  const handed = new Set(picked.map(p => `${p.submission.key}#${p.submission.attempt}`))
  const submit = picked.filter(p => d.unit(p.u).state === 'submitted').map(p => p.submission)
  const cancel = d.cancel.filter(c => !handed.has(`${c.key}#${c.attempt}`))
  let wakeAt: number | undefined
  for (const u of d.peekBackoff()) wakeAt = Math.min(wakeAt ?? Infinity, d.unit(u).notBefore!)
  const out: NextActions = { state: d.finish(), cancel, submit }
  if (wakeAt !== undefined) out.wakeAt = wakeAt
  return out
}
