import { ValidationError, type FieldIssue } from '../core/index.js'

/** Options of the task runner. Every field is optional; `createRunnerConfig` fills the defaults. */
export interface RunnerInit {
  /**
   * How long a task may take to stop after SIGTERM (exec) or the abort of `ctx.signal` (js)
   * before it is killed with SIGKILL / `worker.terminate()`.
   * @default 5000
   */
  killGraceMs?: number
  /**
   * The directory a relative `spec.module` of a js task is resolved against.
   * @default process.cwd()
   */
  moduleBaseDir?: string
  /**
   * Names of the node's environment variables an exec task inherits. Nothing else leaks in from
   * the node (its secrets stay out); `spec.env` and the `BIDMESH_*` variables are added on top.
   * @default ['PATH', 'HOME', 'LANG']
   */
  inheritEnv?: string[]
  /**
   * Lines of output kept in memory per task for `tail` and `follow` (the log file has them all).
   * @default 1000
   */
  logTailLines?: number
  /**
   * Characters of output kept in memory per task; the oldest lines go first.
   * @default 1048576
   */
  logTailChars?: number
  /**
   * A line longer than this many characters is cut into pieces, so that a task printing without
   * newlines cannot grow the runner's memory.
   * @default 16384
   */
  maxLineChars?: number
  /**
   * Logs of finished tasks kept in memory (newest first) so that `logs <id>` works after the end.
   * @default 100
   */
  retainFinishedLogs?: number
  /**
   * Lines of stdout in the result of an exec task that writes no result file.
   * @default 20
   */
  stdoutTailLines?: number
  /**
   * The largest result (the exec result file, or the JSON of a js return value). Beyond it the run
   * fails with a clear error rather than flooding the DHT.
   * @default 1048576
   */
  maxResultBytes?: number
  /**
   * The largest checkpoint. Set it to the store's record limit so that a task hears about an
   * oversized checkpoint at once.
   * @default 1048576
   */
  maxCheckpointBytes?: number
  /**
   * The smallest JS heap (V8 old generation) given to a js task, whatever its `resources.memMb`.
   * Below about 16 MiB a worker cannot even load its module.
   * @default 16
   */
  minHeapMb?: number
  /**
   * Node flags for js task workers. Empty by default so that the node's own flags (inspector,
   * loaders of a test runner) do not leak into tasks.
   * @default []
   */
  workerExecArgv?: string[]
  /**
   * The clock for `startedAt` and `durationMs`.
   * @default Date.now
   */
  now?: () => number
}

export type RunnerConfig = Required<RunnerInit>

export const defaultRunnerConfig: Readonly<Omit<RunnerConfig, 'moduleBaseDir' | 'now'>> = Object.freeze({
  killGraceMs: 5000,
  inheritEnv: ['PATH', 'HOME', 'LANG'],
  logTailLines: 1000,
  logTailChars: 1024 * 1024,
  maxLineChars: 16 * 1024,
  retainFinishedLogs: 100,
  stdoutTailLines: 20,
  maxResultBytes: 1024 * 1024,
  maxCheckpointBytes: 1024 * 1024,
  minHeapMb: 16,
  workerExecArgv: []
})

/** Fills the defaults of `init` and validates it; throws a ValidationError naming every bad field. */
export function createRunnerConfig (init: RunnerInit = {}): RunnerConfig {
  const config: RunnerConfig = {
    ...defaultRunnerConfig,
    moduleBaseDir: process.cwd(),
    now: Date.now,
    ...stripUndefined(init)
  }
  validateRunnerConfig(config)
  return config
}

export function validateRunnerConfig (config: RunnerConfig): void {
  const issues: FieldIssue[] = []
  const int = (path: keyof RunnerConfig, min: number, max: number): void => {
    const v = config[path]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issues.push({ path, message: `must be an integer from ${min} to ${max}, got ${String(v)}` })
    }
  }
  int('killGraceMs', 0, 600_000)
  int('logTailLines', 1, 1_000_000)
  int('logTailChars', 1024, 1024 * 1024 * 1024)
  int('maxLineChars', 80, 16 * 1024 * 1024)
  int('retainFinishedLogs', 0, 1_000_000)
  int('stdoutTailLines', 0, 10_000)
  int('maxResultBytes', 1, 1024 * 1024 * 1024)
  int('maxCheckpointBytes', 1, 1024 * 1024 * 1024)
  int('minHeapMb', 4, 1024 * 1024)
  if (typeof config.moduleBaseDir !== 'string' || config.moduleBaseDir === '') {
    issues.push({ path: 'moduleBaseDir', message: 'must be a directory path' })
  }
  if (!Array.isArray(config.inheritEnv) || !config.inheritEnv.every(n => typeof n === 'string' && n !== '' && !n.includes('='))) {
    issues.push({ path: 'inheritEnv', message: 'must be a list of environment variable names' })
  }
  if (!Array.isArray(config.workerExecArgv) || !config.workerExecArgv.every(a => typeof a === 'string')) {
    issues.push({ path: 'workerExecArgv', message: 'must be a list of strings' })
  }
  if (typeof config.now !== 'function') issues.push({ path: 'now', message: 'must be a function returning milliseconds' })
  if (issues.length > 0) throw new ValidationError('runner config', issues)
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
