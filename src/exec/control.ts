import type { RunContext, RunOutcome } from './types.js'
import type { RunnerConfig } from './config.js'
import type { TaskLog } from './log-store.js'

/** Why the runner asks a task to stop; the first request wins. */
export type StopRequest =
  | { kind: 'cancelled', reason: string }
  | { kind: 'timedOut', timeoutMs: number }
  | { kind: 'interrupted', reason: string }

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A run's outcome before the runner stamps its duration. */
export type Ending = DistributiveOmit<RunOutcome, 'durationMs'>

/** The stop requests of one run, shared by the runner (which makes them) and a task runner. */
export class RunControl {
  private current: StopRequest | undefined
  private readonly listeners: Array<(r: StopRequest) => void> = []
  private readonly force = new AbortController()

  get request (): StopRequest | undefined {
    return this.current
  }

  /** Aborted when the task must die now, without a grace period (a forced runner stop). */
  get forced (): AbortSignal {
    return this.force.signal
  }

  requestStop (r: StopRequest): void {
    if (this.current !== undefined) return
    this.current = r
    for (const l of this.listeners.splice(0)) l(r)
  }

  /** Calls `listener` once on the first stop request (at once if there was one already). */
  onStop (listener: (r: StopRequest) => void): void {
    if (this.current !== undefined) listener(this.current)
    else this.listeners.push(listener)
  }

  forceKill (): void {
    this.force.abort()
  }
}

/** What a task runner (exec or js) gets for one attempt. */
export interface Attempt {
  ctx: RunContext
  config: RunnerConfig
  log: TaskLog
  control: RunControl
  setPid: (pid: number) => void
  setProgress: (p: number) => void
  /** Uploads a checkpoint through `ctx.onCheckpoint` with the next seq; uploads never overlap. */
  upload: (bytes: Uint8Array) => Promise<void>
}

/** The ending for a stop request. */
export function stopEnding (r: StopRequest): Ending {
  return r.kind === 'timedOut' ? { kind: 'timedOut', timeoutMs: r.timeoutMs } : { kind: r.kind, reason: r.reason }
}

export function describeStop (r: StopRequest): string {
  return r.kind === 'timedOut' ? `timed out after ${r.timeoutMs} ms` : `${r.kind}: ${r.reason}`
}
