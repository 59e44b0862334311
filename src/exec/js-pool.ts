import { Worker } from 'node:worker_threads'
import { resourcesSchema } from '../core/index.js'
import type { RunnerConfig } from './config.js'
import { deferred } from './util.js'
import { WORKER_SOURCE } from './worker-source.js'

/**
 * The JS heap (V8 old generation) of a js task: `resources.memMb`, and at least `minHeapMb`.
 * The young generation, code and stack come on top (a few MiB); ArrayBuffers live outside the
 * heap and are not bounded by it.
 */
export function heapLimitMb (memMb: number, minHeapMb: number): number {
  return Math.max(minHeapMb, Math.floor(memMb))
}

/** What the current run of a worker hears from it (see worker-source.ts for the messages). */
export interface RunListener {
  message: (m: { t: string, run: number } & Record<string, unknown>) => void
  error: (err: Error & { code?: string }) => void
  exit: (code: number) => void
}

/** Counters of the js worker pool, for metrics and tests. */
export interface JsPoolStats {
  /** Workers alive: busy, idle and ending, pooled or not. */
  workers: number
  idle: number
  /** Workers running a task. */
  busy: number
  /** Workers started since the runner was created. */
  created: number
  /** Runs that got an idle worker instead of a new one. */
  reused: number
  /** Workers ended after a run or an idle timeout, rather than kept (not counting crashes). */
  retired: number
}

/** One worker thread: runs one task at a time for whoever holds it. */
export class JsWorker {
  readonly heapMb: number
  readonly threadId: number
  /** False for a worker past `maxWorkers` or with the pool off: it ends after its run. */
  readonly pooled: boolean
  runs = 0
  /** Set once the worker is being ended: it no longer counts against `maxWorkers`. */
  retiring = false
  /** Distinct task modules imported, as the worker last said. */
  modules = 0
  exitCode: number | undefined
  /** When it last went idle (performance.now()). */
  idleSince = 0
  private readonly worker: Worker
  private readonly gone = deferred()
  private current: { id: number, on: RunListener } | undefined

  constructor (heapMb: number, config: RunnerConfig, pooled: boolean, onExit: (w: JsWorker) => void) {
    this.heapMb = heapMb
    this.pooled = pooled
    const env: Record<string, string> = {}
    for (const name of config.inheritEnv) {
      const v = process.env[name]
      if (v !== undefined) env[name] = v
    }
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      // The task sees the same small environment as an exec task, not the node's; each run
      // replaces it with its own (BIDMESH_TASK_ID, …).
      env,
      execArgv: config.workerExecArgv,
      stdin: false,
      // Piped, so that nothing reaches the node's own stdout, and never read: the worker captures
      // what its tasks write (worker-source.ts), and reading would keep the node's event loop
      // alive for as long as an idle worker lives.
      stdout: true,
      stderr: true
    })
    this.threadId = this.worker.threadId
    this.worker.on('message', (m: { t: string, run: number } & Record<string, unknown>) => {
      const c = this.current
      if (c !== undefined && m !== null && typeof m === 'object' && m.run === c.id) c.on.message(m)
    })
    // Always listened to: an idle worker's error (a task's leftover timer threw) must not become
    // an uncaught 'error' event of the node. The worker exits right after.
    this.worker.on('error', err => { this.current?.on.error(err) })
    this.worker.once('exit', code => {
      this.exitCode = code
      const c = this.current
      this.current = undefined
      c?.on.exit(code)
      onExit(this)
      this.gone.resolve()
    })
  }

  get alive (): boolean {
    return this.exitCode === undefined
  }

  /** Resolves once the thread has exited. */
  get exited (): Promise<void> {
    return this.gone.promise
  }

  /** Routes the messages of run `id` (and the worker's errors and exit) to `on`. */
  attach (id: number, on: RunListener): void {
    this.current = { id, on }
  }

  detach (): void {
    this.current = undefined
  }

  /** Posts a message; false when the worker is gone (nobody is waiting for it then). */
  post (m: unknown): boolean {
    if (!this.alive) return false
    try {
      this.worker.postMessage(m)
      return true
    } catch {
      return false
    }
  }

  /** A busy worker holds the node's event loop open; an idle one does not. */
  hold (busy: boolean): void {
    if (busy) this.worker.ref()
    else this.worker.unref()
  }

  async terminate (): Promise<void> {
    this.retiring = true
    if (this.alive) void this.worker.terminate()
    await this.gone.promise
  }
}

interface PoolWaiter {
  heapMb: number
  resolve: (got: { worker: JsWorker, reused: boolean }) => void
  reject: (err: Error) => void
}

/** The run was stopped while it waited for a worker. */
export class PoolWaitAborted extends Error {
  constructor () {
    super('stopped while waiting for a worker thread')
    this.name = 'PoolWaitAborted'
  }
}

/**
 * How long an idle worker beyond `maxIdlePerClass` lingers. Between one task's end and the next
 * one's start (the runner creates its work dir first) other tasks end too: ending their workers at
 * once would restart as many a moment later.
 */
const LINGER_MS = 1000

/**
 * Warm worker threads for js tasks, kept per heap-limit class. `acquire` hands out an idle worker
 * of the class (the most recently used: it is the warmest) or starts one; `release` takes it back
 * after a clean run, or ends it.
 */
export class JsWorkerPool {
  private readonly config: RunnerConfig
  private readonly live = new Set<JsWorker>()
  /** Idle workers per heap limit, most recently used last. */
  private readonly idle = new Map<number, JsWorker[]>()
  private readonly defaultHeapMb: number
  private closed = false
  private sweepTimer: ReturnType<typeof setTimeout> | undefined
  private runIds = 0
  private readonly counts = { created: 0, reused: 0, retired: 0 }
  private readonly waiters: PoolWaiter[] = []

  constructor (config: RunnerConfig) {
    this.config = config
    this.defaultHeapMb = heapLimitMb(resourcesSchema.parse({}).memMb, config.minHeapMb)
    const { enabled, prewarm } = config.jsPool
    for (let i = 0; enabled && i < prewarm; i++) {
      try {
        this.makeIdle(this.spawn(this.defaultHeapMb, true))
      } catch {
        // Bad workerExecArgv and the like: the first task that needs a worker reports it.
        break
      }
    }
  }

  /** A new id for a run: messages are keyed by it. */
  nextRunId (): number {
    return ++this.runIds
  }

  /**
   * A worker for one run with heap limit `heapMb`: an idle one of that class, or a new one, or,
   * with `maxWorkers` busy, the next one to come free. Waiting beats a throwaway thread: starting
   * one costs ~60 ms of CPU, ten times a short task, and on a node running many small tasks a
   * storm of them starves every run. `stop` ends the wait (the run was cancelled meanwhile).
   */
  async acquire (heapMb: number, stop?: { onStop: (listener: () => void) => void }): Promise<{ worker: JsWorker, reused: boolean }> {
    if (this.closed) throw new Error('the js worker pool is closed')
    const now = this.tryAcquire(heapMb)
    if (now !== undefined) return now
    const { promise, resolve, reject } = Promise.withResolvers<{ worker: JsWorker, reused: boolean }>()
    const waiter: PoolWaiter = { heapMb, resolve, reject }
    this.waiters.push(waiter)
    stop?.onStop(() => {
      const i = this.waiters.indexOf(waiter)
      if (i >= 0) { this.waiters.splice(i, 1); reject(new PoolWaitAborted()) }
    })
    return await promise
  }

  /** Runs waiting for a worker because `maxWorkers` are busy. */
  get waiting (): number {
    return this.waiters.length
  }

  private tryAcquire (heapMb: number): { worker: JsWorker, reused: boolean } | undefined {
    const stack = this.idle.get(heapMb)
    const w = stack?.pop()
    if (stack?.length === 0) this.idle.delete(heapMb)
    if (w !== undefined) {
      w.hold(true)
      this.counts.reused++
      return { worker: w, reused: true }
    }
    const { enabled, maxWorkers } = this.config.jsPool
    if (enabled && this.pooledCount() >= maxWorkers) {
      this.evictOldestIdle()
      if (this.pooledCount() >= maxWorkers) return undefined
    }
    const worker = this.spawn(heapMb, enabled)
    worker.hold(true)
    return { worker, reused: false }
  }

  /** A pooled worker came free or ended: the longest waiting run gets it, or a new one. */
  private serveWaiters (): void {
    while (this.waiters.length > 0 && !this.closed) {
      const next = this.waiters[0]!
      const got = this.tryAcquire(next.heapMb)
      if (got === undefined) return
      this.waiters.shift()
      next.resolve(got)
    }
  }

  /**
   * Takes a worker back after its run. It goes idle only when `retire` is undefined (the run was
   * clean) and the pool has room; otherwise it ends, and this resolves once it has exited.
   */
  async release (w: JsWorker, retire?: string): Promise<void> {
    w.detach()
    const { enabled, maxIdlePerClass, maxRunsPerWorker, maxModulesPerWorker } = this.config.jsPool
    // Past maxIdlePerClass it still goes idle, for LINGER_MS (see sweep); with none kept, not at all.
    const keep = retire === undefined && !this.closed && enabled && w.pooled && w.alive &&
      w.runs < maxRunsPerWorker && w.modules <= maxModulesPerWorker && maxIdlePerClass > 0
    if (keep) {
      this.makeIdle(w)
      this.serveWaiters()
      return
    }
    if (w.alive) this.counts.retired++
    const ended = w.terminate()
    // A retiring worker no longer counts against maxWorkers: its place can be taken now.
    this.serveWaiters()
    await ended
  }

  stats (): JsPoolStats {
    let idle = 0
    for (const stack of this.idle.values()) idle += stack.length
    let ending = 0
    for (const w of this.live) if (w.retiring) ending++
    return { workers: this.live.size, idle, busy: this.live.size - idle - ending, ...this.counts }
  }

  /**
   * Ends the idle workers, refuses new runs and resolves once every worker has exited. Busy
   * workers are ended by their runs (the runner stops those first).
   */
  async close (): Promise<void> {
    this.closed = true
    for (const w of this.waiters.splice(0)) w.reject(new Error('the js worker pool is closed'))
    clearTimeout(this.sweepTimer)
    this.sweepTimer = undefined
    for (const stack of this.idle.values()) {
      for (const w of stack.splice(0)) void w.terminate()
    }
    this.idle.clear()
    await Promise.all([...this.live].map(async w => { await w.exited }))
  }

  private spawn (heapMb: number, pooled: boolean): JsWorker {
    const w = new JsWorker(heapMb, this.config, pooled, gone => { this.forget(gone) })
    this.live.add(w)
    this.counts.created++
    return w
  }

  private makeIdle (w: JsWorker): void {
    let stack = this.idle.get(w.heapMb)
    if (stack === undefined) {
      stack = []
      this.idle.set(w.heapMb, stack)
    }
    stack.push(w)
    w.hold(false)
    w.idleSince = performance.now()
    this.scheduleSweep()
  }

  /** One timer for all idle workers, running while there are any. */
  private scheduleSweep (): void {
    if (this.sweepTimer !== undefined || this.closed || this.idle.size === 0) return
    const { idleTimeoutMs } = this.config.jsPool
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined
      this.sweep()
      this.scheduleSweep()
    }, Math.min(LINGER_MS, idleTimeoutMs))
    this.sweepTimer.unref()
  }

  /**
   * Ends, oldest first, the idle workers idle for `idleTimeoutMs`, and those beyond
   * `maxIdlePerClass` idle for LINGER_MS. The prewarmed default-class workers stay.
   */
  private sweep (): void {
    const { idleTimeoutMs, maxIdlePerClass, prewarm } = this.config.jsPool
    const now = performance.now()
    for (const [heapMb, stack] of [...this.idle]) {
      const floor = heapMb === this.defaultHeapMb ? prewarm : 0
      for (let i = 0; i < stack.length && stack.length > floor;) {
        const w = stack[i]
        if (w === undefined) break
        const idle = now - w.idleSince
        if (idle >= idleTimeoutMs || (stack.length > maxIdlePerClass && idle >= Math.min(LINGER_MS, idleTimeoutMs))) {
          stack.splice(i, 1)
          this.counts.retired++
          void w.terminate()
        } else {
          i++
        }
      }
      if (stack.length === 0) this.idle.delete(heapMb)
    }
  }

  private takeIdle (w: JsWorker): void {
    const stack = this.idle.get(w.heapMb)
    const i = stack?.indexOf(w) ?? -1
    if (stack !== undefined && i >= 0) stack.splice(i, 1)
    if (stack?.length === 0) this.idle.delete(w.heapMb)
  }

  /** Ends the idle worker that has waited longest, of any class, to make room for a new one. */
  private evictOldestIdle (): void {
    let oldest: JsWorker | undefined
    for (const stack of this.idle.values()) {
      const w = stack[0]
      if (w !== undefined && (oldest === undefined || w.idleSince < oldest.idleSince)) oldest = w
    }
    if (oldest === undefined) return
    this.takeIdle(oldest)
    this.counts.retired++
    void oldest.terminate()
  }

  private pooledCount (): number {
    let n = 0
    for (const w of this.live) if (w.pooled && !w.retiring) n++
    return n
  }

  private forget (w: JsWorker): void {
    this.takeIdle(w)
    this.live.delete(w)
    // A crashed worker frees a place too.
    this.serveWaiters()
  }
}
