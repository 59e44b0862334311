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
   * Warm worker threads for js tasks, reused from one task to the next (see `JsPoolInit`).
   * @default { enabled: true, maxIdlePerClass: 4, maxWorkers: 32, idleTimeoutMs: 30000, prewarm: 0, maxRunsPerWorker: 10000, maxModulesPerWorker: 64 }
   */
  jsPool?: JsPoolInit
  /**
   * Where the inline `source` of js tasks is written, one file per distinct source named by its
   * SHA-256 (`<sha256>.mjs`), so that tasks with the same source import the same module. The node
   * should pass `<dataDir>/js-cache`. The runner creates it (mode 0700) and removes the files it
   * wrote on `stop()`, so no two runners should share one.
   * @default a private directory made with mkdtemp in os.tmpdir(), removed on stop()
   */
  jsCacheDir?: string
  /**
   * The clock for `startedAt` and `durationMs`.
   * @default Date.now
   */
  now?: () => number
}

/**
 * The pool of warm js workers. A worker serves one task at a time and is pooled per heap-limit
 * class (`heapLimitMb(resources.memMb, minHeapMb)`), so a task never runs under a looser memory
 * limit than it asked for. Tasks that reuse a worker share its module cache and globals: js
 * tasks are trusted code (see README.md).
 */
export interface JsPoolInit {
  /**
   * False: every js task gets a fresh worker that ends with it (the behaviour before the pool;
   * tens of milliseconds of CPU per task).
   * @default true
   */
  enabled?: boolean
  /**
   * Idle workers kept per heap-limit class (until `idleTimeoutMs`). Beyond this, an idle worker
   * ends after a second without a task, so that the jitter between one task's end and the next
   * one's start does not end and restart workers. 0: no worker is kept.
   * @default 4
   */
  maxIdlePerClass?: number
  /**
   * The most workers alive at once, busy and idle: how many js tasks run at the same instant on
   * this node. To start one past the limit the least recently used idle worker ends; when none
   * is idle the task waits (FIFO) for the next worker to come free. A throwaway thread per
   * extra task would cost ~60 ms of CPU each, and a burst of small tasks would starve them all.
   * @default 32
   */
  maxWorkers?: number
  /**
   * An idle worker ends after this long without a task.
   * @default 30000
   */
  idleTimeoutMs?: number
  /**
   * Workers of the default class (a spec's default `resources.memMb`) started with the runner and
   * kept even when idle past `idleTimeoutMs`, so that the first tasks start warm.
   * @default 0
   */
  prewarm?: number
  /**
   * A worker ends after this many tasks, which bounds slow leaks of long-lived module state.
   * @default 10000
   */
  maxRunsPerWorker?: number
  /**
   * A worker ends once it has imported more distinct task modules than this: ES modules are never
   * unloaded, so a worker serving many different sources would otherwise grow without bound.
   * @default 64
   */
  maxModulesPerWorker?: number
}

export type JsPoolConfig = Required<JsPoolInit>

export type RunnerConfig = Required<Omit<RunnerInit, 'jsPool' | 'jsCacheDir'>> & {
  jsPool: JsPoolConfig
  jsCacheDir: string | undefined
}

export const defaultJsPoolConfig: Readonly<JsPoolConfig> = Object.freeze({
  enabled: true,
  maxIdlePerClass: 4,
  maxWorkers: 32,
  idleTimeoutMs: 30_000,
  prewarm: 0,
  maxRunsPerWorker: 10_000,
  maxModulesPerWorker: 64
})

export const defaultRunnerConfig: Readonly<Omit<RunnerConfig, 'moduleBaseDir' | 'now' | 'jsCacheDir'>> = Object.freeze({
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
  workerExecArgv: [],
  jsPool: defaultJsPoolConfig
})

/** Fills the defaults of `init` and validates it; throws a ValidationError naming every bad field. */
export function createRunnerConfig (init: RunnerInit = {}): RunnerConfig {
  const { jsPool, ...rest } = init
  const config: RunnerConfig = {
    ...defaultRunnerConfig,
    moduleBaseDir: process.cwd(),
    jsCacheDir: undefined,
    now: Date.now,
    ...stripUndefined(rest),
    jsPool: { ...defaultJsPoolConfig, ...stripUndefined(jsPool ?? {}) }
  }
  validateRunnerConfig(config)
  return config
}

export function validateRunnerConfig (config: RunnerConfig): void {
  const issues: FieldIssue[] = []
  const check = (path: string, v: unknown, min: number, max: number): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      issues.push({ path, message: `must be an integer from ${min} to ${max}, got ${String(v)}` })
    }
  }
  const int = (path: Exclude<keyof RunnerConfig, 'jsPool'>, min: number, max: number): void => { check(path, config[path], min, max) }
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
  if (config.jsCacheDir !== undefined && (typeof config.jsCacheDir !== 'string' || config.jsCacheDir === '')) {
    issues.push({ path: 'jsCacheDir', message: 'must be a directory path (or left out for a private temp dir)' })
  }
  const pool = config.jsPool as Partial<JsPoolConfig> | undefined
  if (pool === null || typeof pool !== 'object') {
    issues.push({ path: 'jsPool', message: 'must be an object' })
  } else {
    if (typeof pool.enabled !== 'boolean') issues.push({ path: 'jsPool.enabled', message: `must be true or false, got ${String(pool.enabled)}` })
    check('jsPool.maxIdlePerClass', pool.maxIdlePerClass, 0, 1024)
    check('jsPool.maxWorkers', pool.maxWorkers, 1, 4096)
    check('jsPool.idleTimeoutMs', pool.idleTimeoutMs, 1, 24 * 3_600_000)
    check('jsPool.prewarm', pool.prewarm, 0, 1024)
    if (typeof pool.prewarm === 'number' && pool.prewarm > Math.min(pool.maxIdlePerClass ?? 0, pool.maxWorkers ?? 0)) {
      issues.push({ path: 'jsPool.prewarm', message: `must be at most maxIdlePerClass and maxWorkers, got ${pool.prewarm}` })
    }
    check('jsPool.maxRunsPerWorker', pool.maxRunsPerWorker, 1, 1e9)
    check('jsPool.maxModulesPerWorker', pool.maxModulesPerWorker, 1, 1e6)
  }
  if (typeof config.now !== 'function') issues.push({ path: 'now', message: 'must be a function returning milliseconds' })
  if (issues.length > 0) throw new ValidationError('runner config', issues)
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
