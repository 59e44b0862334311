import { applyTransition, isFinal, newTaskStatus, type TaskStatus, type TransitionInput } from '../core/task-state.js'
import type { TaskSpec } from '../core/task-spec.js'

/**
 * The tasks this node knows first-hand: those submitted here (this node is their owner and
 * decides retries and recovery) and those running here (a copy, for logs and listings).
 * Finished tasks are kept up to `keepFinished`, oldest dropped first.
 */
export class TaskTable {
  private readonly tasks = new Map<string, TaskStatus>()
  private finished: string[] = []

  constructor (private readonly self: string, private readonly keepFinished = 10_000) {}

  create (id: string, spec: TaskSpec, now: number): TaskStatus {
    const status = newTaskStatus(id, spec, this.self, now)
    this.tasks.set(id, status)
    return status
  }

  /** Records a copy of a task owned elsewhere (this node runs it). */
  adopt (status: TaskStatus): void {
    const mine = this.tasks.get(status.id)
    if (mine !== undefined && mine.submitter === this.self) return
    this.tasks.set(status.id, status)
  }

  get (id: string): TaskStatus | undefined {
    return this.tasks.get(id)
  }

  /** Tasks this node owns. */
  owned (): TaskStatus[] {
    return [...this.tasks.values()].filter(t => t.submitter === this.self)
  }

  all (): TaskStatus[] {
    return [...this.tasks.values()]
  }

  /** Applies a transition (throws ConflictError for stale or impossible ones) and stores the result. */
  apply (id: string, t: TransitionInput): TaskStatus {
    const current = this.tasks.get(id)
    if (current === undefined) throw new Error(`unknown task ${id}`)
    return this.set(applyTransition(current, t))
  }

  set (status: TaskStatus): TaskStatus {
    this.tasks.set(status.id, status)
    if (isFinal(status.state)) {
      this.finished.push(status.id)
      if (this.finished.length > this.keepFinished * 1.1) {
        const drop = this.finished.slice(0, this.finished.length - this.keepFinished)
        this.finished = this.finished.slice(drop.length)
        for (const d of drop) {
          const t = this.tasks.get(d)
          if (t !== undefined && isFinal(t.state)) this.tasks.delete(d)
        }
      }
    }
    return status
  }
}
