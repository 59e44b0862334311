import { isFinal, type TaskStatus } from '../core/task-state.js'
import type { ClusterView } from '../gossip/cluster-view.js'
import { nearestPeer } from '../store/nearest.js'
import type { TaskRecords } from './task-records.js'

export interface RecoveryDeps {
  self: string
  view: ClusterView
  records: TaskRecords
  /** True when this node owns the task (it decides its retries and recovery). */
  owns: (id: string) => boolean
  /** Takes over a task whose owner is gone: a new attempt, owned here, placed again. */
  adopt: (status: TaskStatus, reason: string) => void
  /** A task already ended, as its result record says: record it without running it again. */
  adoptFinished: (status: TaskStatus) => void
}

export interface RecoveryCounters {
  adoptions: number
  /** Tasks a dead peer listed whose spec no record held: nobody can run them again. */
  unrecoverable: number
}

/**
 * Recovery without a master. When a peer dies, each task it was running or still placing has a
 * leader: the live peer nearest (XOR) to the task id. Every node computes the same leader from
 * its own view, so no one is in charge of everything and no election is needed. The leader acts
 * only when the task's owner is gone too (an owner that lives re-places its own tasks); it reads
 * the task record from the DHT and places the task again as its new owner, one attempt higher.
 */
export class RecoveryLeader {
  readonly counters: RecoveryCounters = { adoptions: 0, unrecoverable: 0 }
  /** The attempt we last looked at per task, so a rescan after another death does no work twice. */
  private readonly considered = new Map<string, number>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly abort = new AbortController()

  constructor (private readonly deps: RecoveryDeps, private readonly pendingGraceMs = 300) {}

  stop (): void {
    this.abort.abort()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /** The peers that may lead: alive or merely suspect (a suspect that is dead gets its own turn). */
  candidates (): string[] {
    return [this.deps.self, ...this.deps.view.entries().filter(e => e.status !== 'dead' && e.peer !== this.deps.self).map(e => e.peer)]
  }

  leaderOf (id: string): string | undefined {
    return nearestPeer(id, this.candidates())
  }

  /**
   * A peer died. Looks again at every dead peer's last advert, not only this one's: when an
   * owner and its executor die a moment apart, the task becomes ours only at the second death.
   */
  onPeerDead (): void {
    for (const e of this.deps.view.entries()) {
      if (e.status !== 'dead') continue
      for (const r of e.advert.running) this.consider(r.id, r.attempt, 0)
      // Tasks the dead peer was still placing: an executor that got the award just before the
      // death tells the leader first (an adopt message); give that a moment to arrive.
      for (const r of e.advert.pending) this.consider(r.id, r.attempt, this.pendingGraceMs)
    }
  }

  private consider (id: string, attempt: number, delayMs: number): void {
    if ((this.considered.get(id) ?? 0) >= attempt) return
    if (this.leaderOf(id) !== this.deps.self || this.deps.owns(id)) return
    this.considered.set(id, attempt)
    if (this.considered.size > 100_000) this.considered.clear()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.takeOver(id, attempt).catch(() => { this.considered.delete(id) })
    }, delayMs)
    this.timers.add(timer)
  }

  private async takeOver (id: string, seenAttempt: number): Promise<void> {
    const signal = this.abort.signal
    const [status, result] = await Promise.all([this.deps.records.loadTask(id, signal), this.deps.records.loadResult(id, signal)])
    if (signal.aborted || this.deps.owns(id)) return
    if (status === undefined) { this.counters.unrecoverable++; return }
    if (isFinal(status.state)) return
    const ownerStatus = this.deps.view.status(status.submitter)
    if (status.submitter !== this.deps.self && ownerStatus !== 'dead' && ownerStatus !== undefined) {
      // An owner that lives re-places its own tasks. Should it die before it has, the rescan
      // at its death must look at this task again.
      this.considered.delete(id)
      return
    }
    const attempt = Math.max(status.attempt, seenAttempt)
    if (result !== undefined && result.attempt >= attempt) {
      // It ended just before its nodes died: record the end; running it again would complete it twice.
      this.deps.adoptFinished({ ...status, attempt: result.attempt, state: result.value.state, node: result.value.node, ...(result.value.result !== undefined ? { result: result.value.result } : {}), ...(result.value.error !== undefined ? { error: result.value.error } : {}) })
      return
    }
    this.counters.adoptions++
    this.deps.adopt({ ...status, attempt }, `owner ${status.submitter} and the node running it are gone`)
  }
}
