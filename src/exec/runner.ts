import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ConflictError, ValidationError, type TaskSpec } from '../core/index.js'
import { createRunnerConfig, type RunnerConfig, type RunnerInit } from './config.js'
import { RunControl, type Attempt, type Ending } from './control.js'
import { RunnerStoppedError } from './errors.js'
import { runExec } from './exec-runner.js'
import { JsWorkerPool, type JsPoolStats } from './js-pool.js'
import { runJs, type JsRuntime } from './js-runner.js'
import { LogStore, type TaskLog } from './log-store.js'
import { SourceCache } from './source-cache.js'
import type { RunContext, RunHandle, RunInfo, RunOutcome } from './types.js'
import { deferred, raceAbort, reasonText } from './util.js'
import { WORK_FILES } from './workdir.js'

export interface RunnerStopOptions {
  /**
   * When it aborts, tasks still running are killed at once (SIGKILL, `worker.terminate()`)
   * instead of being given the grace period. `stop()` still waits for them to be gone.
   */
  signal?: AbortSignal
}

/**
 * Runs the tasks this node won: `exec` tasks as child processes, `js` tasks in worker threads
 * (warm ones from a pool, see `RunnerInit.jsPool`).
 *
 * @example
 * ```ts
 * const runner = createRunner({ killGraceMs: 5000 })
 * const run = runner.start({ taskId, attempt: 1, spec, workDir: taskWorkDir(dataDir, taskId, 1) })
 * const outcome = await run.done // { kind: 'succeeded', result, durationMs } | { kind: 'failed', … } | …
 * await runner.stop() // on shutdown: interrupts what still runs and waits until it is gone
 * ```
 */
export class Runner {
  /** The output of running and recently finished attempts, for `GET /v1/tasks/:id/logs`. */
  readonly logs: LogStore
  readonly config: Readonly<RunnerConfig>
  private readonly runs = new Map<string, Run>()
  private readonly js: JsRuntime
  private stopping = false
  private hookInstalled = false

  constructor (init: RunnerInit = {}) {
    this.config = createRunnerConfig(init)
    this.logs = new LogStore({
      tailLines: this.config.logTailLines,
      tailChars: this.config.logTailChars,
      maxLineChars: this.config.maxLineChars,
      retainFinished: this.config.retainFinishedLogs,
      now: this.config.now
    })
    this.js = { pool: new JsWorkerPool(this.config), sources: new SourceCache(this.config.jsCacheDir) }
  }

  /**
   * Starts an attempt and returns at once; `done` says how it ended and never rejects. Throws
   * (a fault of the caller) when the runner is stopped, when the task already runs here, or when
   * the context is malformed.
   */
  start (ctx: RunContext): RunHandle {
    if (this.stopping) throw new RunnerStoppedError(ctx.taskId)
    checkContext(ctx)
    const current = this.runs.get(ctx.taskId)
    if (current !== undefined) {
      throw new ConflictError(`task ${ctx.taskId} already runs here (attempt ${current.attempt}); cancel it before starting attempt ${ctx.attempt}`, { taskId: ctx.taskId, attempt: ctx.attempt, running: current.attempt })
    }
    const log = this.logs.create(ctx.taskId, ctx.attempt, join(ctx.workDir, WORK_FILES.log))
    const run = new Run(ctx, this.config, this.js, log, () => {
      this.runs.delete(ctx.taskId)
      if (this.runs.size === 0) this.removeExitHook()
    })
    this.runs.set(ctx.taskId, run)
    this.installExitHook()
    run.begin(this.logs)
    return run
  }

  /** The handle of the attempt of `taskId` running here, if any. */
  get (taskId: string): RunHandle | undefined {
    return this.runs.get(taskId)
  }

  running (): RunInfo[] {
    return [...this.runs.values()].map(r => r.info())
  }

  /** Counters of the warm js workers (see `RunnerInit.jsPool`). */
  jsPoolStats (): JsPoolStats {
    return this.js.pool.stats()
  }

  /**
   * Stops taking tasks, interrupts every running one (outcome `interrupted`: the node should hand
   * them back for recovery) with the usual grace period, and resolves when no child process,
   * process group or worker (idle ones included) of this runner is left.
   */
  async stop (options: RunnerStopOptions = {}): Promise<void> {
    this.stopping = true
    const runs = [...this.runs.values()]
    const force = (): void => { for (const r of runs) r.control.forceKill() }
    if (options.signal?.aborted === true) force()
    else options.signal?.addEventListener('abort', force, { once: true })
    try {
      for (const r of runs) r.control.requestStop({ kind: 'interrupted', reason: 'the node is stopping' })
      await Promise.all(runs.map(async r => await r.done))
      await this.js.pool.close()
      await this.js.sources.close()
    } finally {
      options.signal?.removeEventListener('abort', force)
    }
  }

  // If the node process exits without stop() (process.exit, an uncaught error), its detached
  // process groups would live on: kill them on the way out. Worker threads die with the process.
  private readonly onProcessExit = (): void => {
    for (const r of this.runs.values()) {
      if (r.pid !== undefined) {
        try { process.kill(-r.pid, 'SIGKILL') } catch { /* already gone */ }
      }
    }
  }

  private installExitHook (): void {
    if (this.hookInstalled) return
    process.on('exit', this.onProcessExit)
    this.hookInstalled = true
  }

  private removeExitHook (): void {
    if (!this.hookInstalled) return
    process.off('exit', this.onProcessExit)
    this.hookInstalled = false
  }
}

/** A runner with the given options (all optional, see `RunnerInit`). */
export function createRunner (init: RunnerInit = {}): Runner {
  return new Runner(init)
}

function checkContext (ctx: RunContext): void {
  const issues = []
  if (typeof ctx.taskId !== 'string' || ctx.taskId === '') issues.push({ path: 'taskId', message: 'must be a non-empty string' })
  if (!Number.isInteger(ctx.attempt) || ctx.attempt < 0) issues.push({ path: 'attempt', message: 'must be a non-negative integer' })
  if (typeof ctx.workDir !== 'string' || ctx.workDir === '') issues.push({ path: 'workDir', message: 'must be a directory path' })
  const kind = (ctx.spec as { kind?: unknown } | undefined)?.kind
  if (kind !== 'exec' && kind !== 'js') issues.push({ path: 'spec.kind', message: 'must be exec or js (parse the spec with parseTaskSpec)' })
  if (issues.length > 0) throw new ValidationError('run context', issues)
}

/** One attempt: its stop requests, timeout, cancel signal, checkpoint sequence and outcome. */
class Run implements RunHandle {
  readonly taskId: string
  readonly attempt: number
  readonly kind: TaskSpec['kind']
  readonly startedAt: number
  readonly log: TaskLog
  readonly control = new RunControl()
  private readonly ctx: RunContext
  private readonly config: RunnerConfig
  private readonly js: JsRuntime
  private readonly onEnd: () => void
  private readonly outcome = deferred<RunOutcome>()
  private currentPid: number | undefined
  private currentProgress: number | undefined
  private seq = 0
  private uploadChain: Promise<void> = Promise.resolve()

  constructor (ctx: RunContext, config: RunnerConfig, js: JsRuntime, log: TaskLog, onEnd: () => void) {
    this.ctx = ctx
    this.config = config
    this.js = js
    this.log = log
    this.onEnd = onEnd
    this.taskId = ctx.taskId
    this.attempt = ctx.attempt
    this.kind = ctx.spec.kind
    this.startedAt = config.now()
  }

  get done (): Promise<RunOutcome> {
    return this.outcome.promise
  }

  get pid (): number | undefined {
    return this.currentPid
  }

  get progress (): number | undefined {
    return this.currentProgress
  }

  async cancel (reason = 'cancelled'): Promise<RunOutcome> {
    this.control.requestStop({ kind: 'cancelled', reason })
    return await this.done
  }

  info (): RunInfo {
    return {
      taskId: this.taskId,
      attempt: this.attempt,
      kind: this.kind,
      startedAt: this.startedAt,
      ...(this.currentPid === undefined ? {} : { pid: this.currentPid }),
      ...(this.currentProgress === undefined ? {} : { progress: this.currentProgress })
    }
  }

  begin (logs: LogStore): void {
    const { ctx } = this
    const timeoutMs = ctx.spec.timeoutMs
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => { this.control.requestStop({ kind: 'timedOut', timeoutMs }) }, timeoutMs)
    const onAbort = (): void => { this.control.requestStop({ kind: 'cancelled', reason: reasonText(ctx.signal?.reason, 'cancelled') }) }
    if (ctx.signal?.aborted === true) onAbort()
    else ctx.signal?.addEventListener('abort', onAbort, { once: true })

    void this.execute().then(async ending => {
      clearTimeout(timer)
      ctx.signal?.removeEventListener('abort', onAbort)
      const outcome: RunOutcome = { ...ending, durationMs: Math.max(0, this.config.now() - this.startedAt) }
      this.log.flushPartial()
      this.log.append('sys', `finished: ${describeOutcome(outcome)}`)
      try {
        await logs.finish(this.log)
      } finally {
        this.onEnd()
        this.outcome.resolve(outcome)
      }
    })
  }

  private async execute (): Promise<Ending> {
    const { ctx } = this
    const attempt: Attempt = {
      ctx,
      config: this.config,
      log: this.log,
      control: this.control,
      setPid: pid => { this.currentPid = pid },
      setProgress: p => {
        if (p === this.currentProgress) return
        this.currentProgress = p
        try { ctx.onProgress?.(p) } catch { /* the node's listener must not break the run */ }
      },
      upload: async bytes => await this.upload(bytes)
    }
    try {
      await mkdir(ctx.workDir, { recursive: true, mode: 0o700 })
      this.log.openFile()
      if (ctx.spec.kind === 'exec') return await runExec(attempt, ctx.spec)
      return await runJs(attempt, ctx.spec, this.js)
    } catch (err) {
      // A fault of this node (work dir not writable, disk full), not of the task.
      return { kind: 'failed', error: `the runner could not run the task: ${(err as Error).message}` }
    }
  }

  /** Uploads through `ctx.onCheckpoint`, one at a time, with the next seq. */
  private async upload (bytes: Uint8Array): Promise<void> {
    const { onCheckpoint } = this.ctx
    if (onCheckpoint === undefined) return
    const seq = ++this.seq
    const previous = this.uploadChain
    const mine = (async () => {
      await previous
      // A forced stop does not wait for the node's store, even one that ignores the signal.
      await raceAbort(onCheckpoint(bytes, seq, { signal: this.control.forced }), this.control.forced)
      this.log.append('sys', `checkpoint ${seq} saved (${bytes.byteLength} bytes)`)
    })()
    this.uploadChain = mine.catch(() => {})
    await mine
  }
}

function describeOutcome (o: RunOutcome): string {
  switch (o.kind) {
    case 'succeeded': return `succeeded in ${o.durationMs} ms`
    case 'failed': return `failed in ${o.durationMs} ms: ${o.error}`
    case 'cancelled': return `cancelled after ${o.durationMs} ms: ${o.reason}`
    case 'timedOut': return `timed out after ${o.durationMs} ms (timeoutMs ${o.timeoutMs})`
    case 'interrupted': return `interrupted after ${o.durationMs} ms: ${o.reason}`
  }
}
