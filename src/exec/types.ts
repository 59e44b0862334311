import type { TaskSpec } from '../core/index.js'
import type { TaskLog } from './log-store.js'

/** Options the node passes to `onCheckpoint`. */
export interface CheckpointUploadOptions {
  /**
   * Aborted when the runner is being stopped by force (`stop(signal)` with an aborted signal):
   * the upload should give up rather than hold the shutdown.
   */
  signal: AbortSignal
}

/** Everything the runner needs to run one attempt of one task. */
export interface RunContext {
  taskId: string
  /** 1 on the first run; the node fences stale copies by this number. */
  attempt: number
  spec: TaskSpec
  /**
   * The attempt's own directory, e.g. `<dataDir>/tasks/<id>/<attempt>` (see `taskWorkDir`).
   * The runner creates it; the node removes old ones when it likes.
   */
  workDir: string
  /**
   * The task's JSON input. For js tasks it replaces `spec.input` (a workflow passes the outputs
   * of the tasks it needs here). Exec specs have no input field: when given, it is written to
   * `<workDir>/input.json` and named by `$BIDMESH_INPUT_FILE`.
   * @default spec.input for js tasks, none for exec tasks
   */
  input?: unknown
  /** The newest checkpoint to restore (already fetched by the node), if any. */
  checkpoint?: Uint8Array | undefined
  /**
   * Persists a checkpoint (the node writes it to the DHT). `seq` starts at 1 in every attempt and
   * grows by one per upload; uploads of one run never overlap. A rejection is reported to a js
   * task (its `ctx.checkpoint()` rejects) and logged for an exec task (retried on next change).
   */
  onCheckpoint?: (state: Uint8Array, seq: number, options: CheckpointUploadOptions) => Promise<void>
  /** Progress in [0, 1], as reported by a js task through `ctx.progress(p)`. */
  onProgress?: (p: number) => void
  /** Aborting it cancels the run (same as `RunHandle.cancel`). */
  signal?: AbortSignal
}

/**
 * How a run ended. Expected outcomes are values; the runner throws only on faults of its caller
 * (starting a task twice, starting after `stop()`).
 */
export type RunOutcome =
  | { kind: 'succeeded', result: unknown, exitCode?: number, durationMs: number }
  | { kind: 'failed', error: string, exitCode?: number, signal?: string, durationMs: number }
  /** `cancel()` or the context's signal: the user no longer wants the task. */
  | { kind: 'cancelled', reason: string, durationMs: number }
  | { kind: 'timedOut', timeoutMs: number, durationMs: number }
  /**
   * The runner was stopped (node shutdown) before the task finished. Not the task's fault and not
   * the user's wish: the node should hand the task back for recovery elsewhere (attempt + 1).
   */
  | { kind: 'interrupted', reason: string, durationMs: number }

export type RunOutcomeKind = RunOutcome['kind']

/** A running (or just finished) attempt. */
export interface RunHandle {
  readonly taskId: string
  readonly attempt: number
  readonly kind: TaskSpec['kind']
  /** When the run started, by the runner's clock. */
  readonly startedAt: number
  /** The task's output: bounded in-memory tail, follow, and the file with everything. */
  readonly log: TaskLog
  /** Resolves once the run has ended and left nothing behind (process group gone, worker exited). */
  readonly done: Promise<RunOutcome>
  /** The process id of an exec task once spawned (it is also its process group id). */
  readonly pid: number | undefined
  /** The last progress a js task reported, if any. */
  readonly progress: number | undefined
  /**
   * Asks the task to stop: SIGTERM to the process group / abort of `ctx.signal`, then SIGKILL /
   * `worker.terminate()` after the grace period. The outcome is `cancelled` unless the run had
   * already ended. Idempotent; returns `done`.
   */
  cancel: (reason?: string) => Promise<RunOutcome>
}

/** A summary of one running attempt, for listings and adverts. */
export interface RunInfo {
  taskId: string
  attempt: number
  kind: TaskSpec['kind']
  startedAt: number
  pid?: number
  progress?: number
}
