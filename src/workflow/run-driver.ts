import type { TaskStatus } from '../core/task-state.js'
import {
  cancelRun, findUnit, inFlight, nextActions, onTaskCancelled, onTaskFailed, onTaskLost, onTaskStarted, onTaskSucceeded,
  type Estimates, type RunState, type RunUpdate, type Submission
} from '../dag/index.js'
import type { TaskService } from '../node/task-service.js'
import type { WorkflowRecord } from './record.js'
import { CoalescingSaver } from './saver.js'
import { workflowTaskId } from './task-ids.js'
import type { WorkflowStateStore } from './state-store.js'
import { workflowStatus, type WorkflowStatus } from './status.js'

/** What one run needs from the node around it. */
export interface RunDriverDeps {
  self: string
  tasks: Pick<TaskService, 'submit' | 'get' | 'cancel'>
  store: WorkflowStateStore
  now: () => number
  /** The node's runtime history; the same object until a duration is observed. */
  estimates: () => Estimates
  /** Records how long a task of this run took, for the critical path of later runs. */
  observe: (estimateKey: string, durationMs: number) => void
  /** Routes the node's task events for `taskId` to this run (or stops routing them). */
  track: (taskId: string, run: RunDriver | undefined) => void
  /** The run reached a final state, or its driver changed. */
  changed: (run: RunDriver) => void
  /** The store holds a newer driver's state: stop driving here. */
  superseded: (run: RunDriver) => void
  /** Failed saves, lookups, submissions: nothing to stop for, but worth a line in a log. */
  log: (message: string) => void
  /** A task the run handed out that was not heard of for this long is looked up. */
  pollAfterMs: number
  /** Lookups in a row that find no trace of a task before it counts as lost. */
  lostAfterMisses: number
}

/** What the run knows about a task instance it handed out and that has not finished. */
interface Handed {
  key: string
  attempt: number
  estimateKey?: string
  heardAt: number
  misses: number
  polling: boolean
}

/**
 * Drives one workflow run on this node: hands out ready task instances through the TaskService,
 * folds what the mesh reports into the pure run state (`src/dag`), and saves that state before
 * every hand-out, so that a driver taking over never hands out an attempt twice.
 */
export class RunDriver {
  private current: RunState
  private seq: number
  /** Instance key → the task id of its newest hand-out (kept after it ends, for status pages). */
  readonly taskIds = new Map<string, { id: string, attempt: number }>()
  /** Task id → the instance it runs, while in flight. */
  private readonly handed = new Map<string, Handed>()
  private readonly saver: CoalescingSaver
  private stepTimer?: ReturnType<typeof setImmediate>
  private wakeTimer?: ReturnType<typeof setTimeout>
  private wakeAt = Number.POSITIVE_INFINITY
  private stopped = false
  lastSaveError?: string

  constructor (private readonly deps: RunDriverDeps, state: RunState, readonly epoch: number, seq = 0) {
    this.current = state
    this.seq = seq
    this.saver = new CoalescingSaver({
      snapshot: () => this.record(),
      write: async (snapshot, signal) => { await deps.store.save(snapshot as WorkflowRecord, AbortSignal.any([signal, AbortSignal.timeout(30_000)])); this.lastSaveError = undefined },
      onError: err => {
        // A newer epoch is in the store: another driver took over while this one was cut off.
        if (err instanceof Error && err.name === 'StaleRecordError') { deps.superseded(this); return }
        this.lastSaveError = err instanceof Error ? err.message : String(err)
        deps.log(`workflow ${state.id}: save failed, retrying: ${this.lastSaveError}`)
      }
    })
  }

  get id (): string { return this.current.id }
  get state (): RunState { return this.current }
  get final (): boolean { return this.current.status !== 'running' }

  /** A new run: saved before its first tasks go out. */
  start (): void {
    this.saver.changed()
    this.scheduleStep()
  }

  /**
   * Takes over from a recorded state: claims the run under this driver's epoch, then follows every
   * instance in flight by its task id (recorded, or derived when the old driver died before the
   * save that would have recorded it). One that nobody knows is handed out again with its next
   * attempt.
   */
  resume (recorded: WorkflowRecord['tasks']): void {
    this.saver.changed()
    for (const u of inFlight(this.current)) {
      const ref = Object.hasOwn(recorded, u.key) ? recorded[u.key] : undefined
      // With no id recorded the task may still have left just before the old driver died: its id
      // is derived, so look for it; lookups that find nobody report it lost (see follow).
      const id = ref !== undefined && ref.attempt === u.attempt ? ref.id : workflowTaskId(this.id, u.key, u.attempt)
      this.follow(id, { key: u.key, attempt: u.attempt, heardAt: 0, misses: 0, polling: false })
    }
    this.scheduleStep()
  }

  status (withTasks = true): WorkflowStatus {
    return workflowStatus(this.current, { driver: this.deps.self, epoch: this.epoch, taskIds: this.taskIds }, withTasks)
  }

  /** Resolves once every change so far is in the store. */
  async saved (): Promise<void> {
    await this.saver.flushed()
  }

  /** Cancels the run and every task of it still in flight. */
  cancel (reason: string): void {
    this.update(cancelRun(this.current, { now: this.deps.now(), reason }))
  }

  /** News of a task this run handed out, from the node's events or a lookup. */
  onTask (status: TaskStatus): void {
    const h = this.handed.get(status.id)
    if (h === undefined || this.stopped) return
    h.heardAt = this.deps.now()
    h.misses = 0
    const ev = { key: h.key, attempt: h.attempt, now: this.deps.now() }
    const node = status.node
    switch (status.state) {
      case 'running':
        if (node !== undefined) this.update(onTaskStarted(this.current, { ...ev, node }))
        return
      case 'succeeded': {
        const durationMs = runTime(status)
        if (durationMs !== undefined && h.estimateKey !== undefined) this.deps.observe(h.estimateKey, durationMs)
        this.unfollow(status.id)
        this.update(onTaskSucceeded(this.current, { ...ev, result: status.result, ...(node !== undefined ? { node } : {}), ...(durationMs !== undefined ? { durationMs } : {}) }))
        return
      }
      case 'failed':
        this.unfollow(status.id)
        this.update(onTaskFailed(this.current, { ...ev, error: status.error ?? 'failed', ...(node !== undefined ? { node } : {}) }))
        return
      case 'cancelled':
        this.unfollow(status.id)
        this.update(onTaskCancelled(this.current, { ...ev, reason: status.history.at(-1)?.reason ?? 'cancelled' }))
    }
  }

  /**
   * The fallback for tasks whose news does not reach this node (their owner died and another
   * peer adopted them, or this driver took over): looks up those not heard of lately.
   */
  poll (maxLookups = 16): void {
    if (this.stopped) return
    const now = this.deps.now()
    const due = [...this.handed].filter(([, h]) => !h.polling && now - h.heardAt >= this.deps.pollAfterMs).slice(0, maxLookups)
    for (const [id, h] of due) {
      h.polling = true
      void this.deps.tasks.get(id, AbortSignal.timeout(5_000)).then(status => {
        h.polling = false
        if (this.handed.get(id) !== h) return
        if (status !== undefined) { this.onTask(status); h.heardAt = this.deps.now(); return }
        h.heardAt = this.deps.now()
        if (++h.misses < this.deps.lostAfterMisses) return
        // Nobody knows the task: it died with its owner before it was placed, or with the node that ran it.
        this.unfollow(id)
        this.update(onTaskLost(this.current, { key: h.key, attempt: h.attempt, now: this.deps.now() }))
      }, (err: unknown) => { h.polling = false; this.deps.log(`workflow ${this.id}: lookup of task ${id} failed: ${String(err)}`) })
    }
  }

  /** Stops driving without touching the tasks (the node stops, or another driver took over). */
  abandon (): void {
    this.stopped = true
    this.halt()
    this.saver.stop()
  }

  private halt (): void {
    if (this.stepTimer !== undefined) clearImmediate(this.stepTimer)
    this.stepTimer = undefined
    clearTimeout(this.wakeTimer)
    this.wakeAt = Number.POSITIVE_INFINITY
    for (const id of this.handed.keys()) this.deps.track(id, undefined)
    this.handed.clear()
  }

  private follow (taskId: string, h: Handed): void {
    this.taskIds.set(h.key, { id: taskId, attempt: h.attempt })
    this.handed.set(taskId, h)
    this.deps.track(taskId, this)
  }

  private unfollow (taskId: string): void {
    this.handed.delete(taskId)
    this.deps.track(taskId, undefined)
  }

  /** Takes an engine update: the new state, and the tasks it says to stop. */
  private update (u: RunUpdate): void {
    if (u.state === this.current) return
    this.current = u.state
    this.saver.changed()
    this.cancelTasks(u.cancel)
    if (this.final) {
      this.halt()
      this.deps.changed(this)
      return
    }
    this.scheduleStep()
  }

  private cancelTasks (refs: RunUpdate['cancel']): void {
    for (const ref of refs) {
      const t = this.taskIds.get(ref.key)
      if (t === undefined || t.attempt !== ref.attempt) continue
      this.unfollow(t.id)
      this.deps.tasks.cancel(t.id, AbortSignal.timeout(10_000)).catch((err: unknown) => { this.deps.log(`workflow ${this.id}: cancelling task ${t.id} failed: ${String(err)}`) })
    }
  }

  /** Many events in one turn (a fan-out finishing) make one pass of the engine. */
  private scheduleStep (): void {
    if (this.stepTimer !== undefined || this.stopped || this.final) return
    this.stepTimer = setImmediate(() => { this.stepTimer = undefined; this.step() })
  }

  private step (): void {
    if (this.stopped || this.final) return
    const na = nextActions(this.current, { now: this.deps.now(), estimates: this.deps.estimates() })
    const submit = na.submit
    this.update(na)
    // Store first: the state that marks them handed out (the change just noted) must be saved
    // before they leave.
    if (submit.length > 0) this.saver.afterSaved(this.saver.version, () => { this.handOut(submit) })
    if (na.wakeAt !== undefined && na.wakeAt < this.wakeAt) {
      clearTimeout(this.wakeTimer)
      this.wakeAt = na.wakeAt
      this.wakeTimer = setTimeout(() => { this.wakeAt = Number.POSITIVE_INFINITY; this.scheduleStep() }, Math.max(0, na.wakeAt - this.deps.now()))
    }
  }

  private handOut (subs: Submission[]): void {
    if (this.stopped) return
    for (const sub of subs) {
      const u = findUnit(this.current, sub.key)
      const unit = u === undefined ? undefined : this.current.units[u]
      // Cancelled or failed while its save was on the way: it never leaves.
      if (unit === undefined || unit.state !== 'submitted' || unit.attempt !== sub.attempt || this.final) continue
      // js tasks carry their input in the spec already; exec tasks get it as input.json.
      const spec = sub.spec.kind === 'exec' && sub.input !== undefined ? { ...sub.spec, input: sub.input } : sub.spec
      let taskId: string
      try {
        taskId = this.deps.tasks.submit(spec, { id: workflowTaskId(this.id, sub.key, sub.attempt), avoid: sub.avoid, workflow: { id: this.id, key: sub.key, attempt: sub.attempt } }).id
      } catch (err) {
        // The task layer refused the spec: trying again will not help.
        this.update(onTaskFailed(this.current, { key: sub.key, attempt: sub.attempt, now: this.deps.now(), error: err instanceof Error ? err.message : String(err), retryable: false }))
        continue
      }
      this.follow(taskId, { key: sub.key, attempt: sub.attempt, estimateKey: sub.estimateKey, heardAt: this.deps.now(), misses: 0, polling: false })
    }
    // Record the task ids, for a driver that takes over.
    this.saver.changed()
  }

  private record (): WorkflowRecord {
    const tasks: WorkflowRecord['tasks'] = {}
    for (const [id, h] of this.handed) tasks[h.key] = { id, attempt: h.attempt }
    return { epoch: this.epoch, seq: ++this.seq, driver: this.deps.self, tasks, state: this.current }
  }
}

/** How long the current attempt ran: from its last start to its end. */
function runTime (s: TaskStatus): number | undefined {
  const start = s.history.findLast(h => h.state === 'running' && h.attempt === s.attempt)
  return start === undefined ? undefined : Math.max(0, s.updatedAt - start.at)
}
