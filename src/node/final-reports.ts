import type { TaskUpdate } from './task-wire.js'

export interface FinalReportsDeps {
  /** Sends an update to a peer (fire and forget: this class does the retrying). */
  send: (to: string, msg: TaskUpdate) => void
  /** Who owns the task now: the owner may change while a report waits (the first one died). */
  ownerOf: (task: string, attempt: number) => string | undefined
  /** @default 1000 */
  intervalMs?: number
  /** After this many sends the report is given up (the owner stays silent for minutes). @default 300 */
  maxTries?: number
}

/**
 * The end of an attempt, reported to its owner until the owner acknowledges it. A message on an
 * open stream is cheap but not certain: a stream that closes under it (a duplicate connection
 * pruned, a peer briefly suspected) loses what was in flight. An owner that never hears of a
 * completion keeps the task `running` forever, or runs it again when the executor later dies.
 */
export class FinalReports {
  private readonly pending = new Map<string, { msg: TaskUpdate, tries: number, timer: ReturnType<typeof setTimeout> }>()

  constructor (private readonly deps: FinalReportsDeps) {}

  report (to: string, msg: TaskUpdate): void {
    const key = `${msg.task}/${msg.attempt}`
    clearTimeout(this.pending.get(key)?.timer)
    this.deps.send(to, msg)
    this.schedule(key, msg, 1)
  }

  /** The owner has it. */
  onAck (task: string, attempt: number): void {
    const key = `${task}/${attempt}`
    clearTimeout(this.pending.get(key)?.timer)
    this.pending.delete(key)
  }

  /** Reports still waiting for an acknowledgement. */
  unacked (): TaskUpdate[] {
    return [...this.pending.values()].map(p => p.msg)
  }

  /** Sends a waiting report again now (its owner just changed). */
  resend (task: string, attempt: number): void {
    const p = this.pending.get(`${task}/${attempt}`)
    const to = this.deps.ownerOf(task, attempt)
    if (p !== undefined && to !== undefined) this.deps.send(to, p.msg)
  }

  stop (): void {
    for (const p of this.pending.values()) clearTimeout(p.timer)
    this.pending.clear()
  }

  private schedule (key: string, msg: TaskUpdate, tries: number): void {
    if (tries >= (this.deps.maxTries ?? 300)) { this.pending.delete(key); return }
    const timer = setTimeout(() => {
      const to = this.deps.ownerOf(msg.task, msg.attempt)
      if (to === undefined) { this.pending.delete(key); return }
      this.deps.send(to, msg)
      this.schedule(key, msg, tries + 1)
    }, this.deps.intervalMs ?? 1000)
    timer.unref?.()
    this.pending.set(key, { msg, tries, timer })
  }
}
