import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { JsTaskSpec } from '../core/index.js'
import { decodeCheckpoint, encodeCheckpoint, toJson } from './codec.js'
import { describeStop, stopEnding, type Attempt, type Ending } from './control.js'
import { heapLimitMb, PoolWaitAborted, type JsWorker, type JsWorkerPool } from './js-pool.js'
import type { CachedSource, SourceCache } from './source-cache.js'
import { deferred, within } from './util.js'

/** What js tasks share across runs: the warm workers and the inline sources on disk. */
export interface JsRuntime {
  pool: JsWorkerPool
  sources: SourceCache
}

/** The end of a run, as first seen: what the task said or what happened to its worker. */
type Settled =
  | { by: 'result', value: unknown }
  | { by: 'error', message: string }
  | { by: 'exit', code: number }
  /** A stop request came first: it decides the outcome, whatever the task does next. */
  | { by: 'stop' }

type LogItem = ['out' | 'err', string | Uint8Array]

/** WINDOW_CHARS of worker-source.ts: output in flight from a worker at most. */
const LOG_WINDOW_CHARS = 256 * 1024

/**
 * Runs a js task in a worker thread of its heap-limit class: loads its module (or its inline
 * source, see SourceCache), calls the export with `(input, ctx)`, relays output, progress and
 * checkpoints. Resolves once the worker is back in the pool (a clean run) or has exited.
 */
export async function runJs (a: Attempt, spec: JsTaskSpec, js: JsRuntime): Promise<Ending> {
  const { ctx, config, control } = a
  let restore: unknown
  if (ctx.checkpoint !== undefined) {
    try {
      restore = decodeCheckpoint(ctx.checkpoint)
    } catch (err) {
      // Starting over silently could repeat side effects the checkpoint was there to prevent.
      return { kind: 'failed', error: `cannot restore the checkpoint: ${(err as Error).message}` }
    }
  }
  let source: CachedSource | undefined
  let url: string
  let what: string
  if (spec.source !== undefined) {
    source = await js.sources.acquire(spec.source)
    url = source.url
    what = 'the inline source'
  } else {
    const m = spec.module ?? ''
    url = m.startsWith('file:') ? m : pathToFileURL(isAbsolute(m) ? m : resolve(config.moduleBaseDir, m)).href
    what = `module ${m}`
  }
  try {
    if (control.request !== undefined) return stopEnding(control.request)
    const heapMb = heapLimitMb(spec.resources.memMb, config.minHeapMb)
    let got
    try {
      got = await js.pool.acquire(heapMb, control)
    } catch (err) {
      if (err instanceof PoolWaitAborted && control.request !== undefined) return stopEnding(control.request)
      throw err
    }
    const { worker, reused } = got
    a.log.append('sys', `${reused ? 'reusing' : 'started'} worker thread ${worker.threadId} (heap limit ${heapMb} MiB): ${what}${source === undefined ? '' : ` (${source.path})`}`)
    const { ending, retire } = await drive(a, spec, worker, js.pool.nextRunId(), { url, what, heapMb, restore })
    await js.pool.release(worker, retire)
    return ending
  } finally {
    source?.release()
  }
}

/** One run on `w`: the ending, and why the worker must not be reused (undefined: it may be). */
async function drive (a: Attempt, spec: JsTaskSpec, w: JsWorker, run: number, m: { url: string, what: string, heapMb: number, restore: unknown }): Promise<{ ending: Ending, retire: string | undefined }> {
  const { ctx, config, log, control } = a
  const env: Record<string, string> = {}
  for (const name of config.inheritEnv) {
    const v = process.env[name]
    if (v !== undefined) env[name] = v
  }
  env.BIDMESH_TASK_ID = ctx.taskId
  env.BIDMESH_ATTEMPT = String(ctx.attempt)
  env.BIDMESH_WORK_DIR = ctx.workDir

  let settled: Settled | undefined
  let crash: Settled | undefined
  let done: { pending: string } | undefined
  let terminated = false
  const finished = deferred()
  const uploads = new Set<Promise<void>>()
  const terminate = (): void => {
    if (terminated) return
    terminated = true
    void w.terminate()
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const terminateLater = (why: string): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      log.append('sys', `${why} after ${config.killGraceMs} ms; terminating the worker`)
      terminate()
    }, config.killGraceMs)
  }
  const settle = (s: Settled): void => {
    if (settled !== undefined) return
    settled = s
    // The worker says 'done' right after the result, once its output is out: if it falls
    // silent instead, it is stuck, and must not hold the run (nor be reused).
    if (s.by === 'result' || s.by === 'error') terminateLater('the worker has not finished the run')
  }

  const settleWith = (end: Record<string, unknown>): void => {
    if (end.t === 'result') {
      settle({ by: 'result', value: end.value })
    } else {
      if (typeof end.stack === 'string' && end.stack !== '') log.append('err', end.stack)
      settle({ by: 'error', message: String(end.message) })
    }
  }
  let unacked = 0
  let draining = false
  const ack = (): void => {
    if (unacked === 0) return
    w.post({ t: 'logAck', run, n: unacked })
    unacked = 0
  }

  w.attach(run, {
    message: msg => {
      // After the result the worker is sending the rest of the output: only silence means stuck.
      if ((settled?.by === 'result' || settled?.by === 'error') && msg.t !== 'done') terminateLater('the worker has not finished the run')
      switch (msg.t) {
        case 'log': {
          let ok = true
          for (const [stream, chunk] of msg.items as LogItem[]) {
            ok = log.write(stream, chunk) && ok
            unacked += chunk.length
          }
          // The worker stops sending at WINDOW_CHARS unacknowledged: while the log file is behind,
          // output waits in the worker's heap (bounded by its limit) rather than in the node's.
          // Acks go in halves of the window, so a task that prints little never waits for one.
          if (!ok && !draining) {
            draining = true
            void log.drained().then(() => { draining = false; ack() })
          } else if (!draining && unacked >= LOG_WINDOW_CHARS / 2) {
            ack()
          }
          break
        }
        case 'progress': {
          const p = msg.p as number
          if (Number.isFinite(p)) a.setProgress(Math.min(1, Math.max(0, p)))
          break
        }
        case 'checkpoint': {
          const p = checkpoint(a, msg.state).then(error => { w.post({ t: 'ack', run, id: msg.id, error }) })
          uploads.add(p)
          void p.finally(() => uploads.delete(p))
          break
        }
        case 'result':
        case 'error':
          settleWith(msg)
          break
        case 'done':
          done = { pending: String(msg.pending) }
          w.modules = Number(msg.modules)
          finished.resolve()
          break
      }
    },
    // The worker's death is decided at its exit, when Node has delivered every message it posted
    // before: a result sent before a crash (an unhandled rejection right after the task
    // returned) still wins, as it did when the worker exited with its task.
    error: err => {
      if (crash !== undefined) return
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        crash = { by: 'error', message: `out of memory: the task used up its JS heap of ${m.heapMb} MiB (resources.memMb = ${spec.resources.memMb})` }
      } else {
        if (err.stack !== undefined) log.append('err', err.stack)
        crash = { by: 'error', message: err.message }
      }
    },
    exit: code => {
      settle(crash ?? { by: 'exit', code })
      finished.resolve()
    }
  })

  control.onStop(r => {
    if (settled !== undefined) return
    settle({ by: 'stop' })
    log.append('sys', `${describeStop(r)}; aborting ctx.signal`)
    w.post({ t: 'abort', run, reason: describeStop(r) })
    terminateLater('still running')
  })
  if (control.forced.aborted) terminate()
  else control.forced.addEventListener('abort', terminate, { once: true })

  w.runs++
  const started = w.post({ t: 'run', run, taskId: ctx.taskId, attempt: ctx.attempt, workDir: ctx.workDir, url: m.url, what: m.what, exportName: spec.export, input: ctx.input !== undefined ? ctx.input : spec.input, restore: m.restore, env })
  if (!started) {
    // It died between runs, or cannot take the message: either way the run ends with it.
    terminate()
    await w.exited
    settle({ by: 'exit', code: w.exitCode ?? -1 })
    finished.resolve()
  }

  await finished.promise
  clearTimeout(timer)
  control.forced.removeEventListener('abort', terminate)
  // Checkpoints the task was awaiting when it ended still count: let them land.
  if (uploads.size > 0) await within(Promise.all(uploads), config.killGraceMs, control.forced)

  let retire: string | undefined
  if (done === undefined || terminated || !w.alive) retire = 'ended'
  else if (done.pending !== '') {
    retire = 'left work pending'
    log.append('sys', `the task left work pending (${done.pending}); its worker is not reused`)
  }
  return { ending: ending(a, settled ?? { by: 'exit', code: -1 }), retire }
}

function ending (a: Attempt, s: Settled): Ending {
  const { config, control } = a
  if (s.by === 'stop' && control.request !== undefined) return stopEnding(control.request)
  if (s.by === 'result') {
    let json: string
    try {
      json = toJson(s.value, 'result')
    } catch (err) {
      return { kind: 'failed', error: (err as Error).message }
    }
    if (Buffer.byteLength(json) > config.maxResultBytes) {
      return { kind: 'failed', error: `the result is ${Buffer.byteLength(json)} bytes of JSON, more than the limit of ${config.maxResultBytes}` }
    }
    return { kind: 'succeeded', result: JSON.parse(json) }
  }
  if (s.by === 'error') return { kind: 'failed', error: s.message }
  if (s.by === 'stop') return { kind: 'failed', error: 'stopped' } // unreachable: a stop is always requested first
  return { kind: 'failed', error: `the worker exited with code ${s.code} before the task returned`, exitCode: s.code }
}

/** Encodes and uploads a checkpoint of a js task; resolves with the error text for the task, if any. */
async function checkpoint (a: Attempt, state: unknown): Promise<string | undefined> {
  try {
    const bytes = encodeCheckpoint(state)
    if (bytes.byteLength > a.config.maxCheckpointBytes) {
      return `checkpoint is ${bytes.byteLength} bytes encoded, more than the limit of ${a.config.maxCheckpointBytes}`
    }
    await a.upload(bytes)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}
