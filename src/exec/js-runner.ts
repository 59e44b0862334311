import { writeFile } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { JsTaskSpec } from '../core/index.js'
import { decodeCheckpoint, encodeCheckpoint, toJson } from './codec.js'
import { describeStop, stopEnding, type Attempt, type Ending } from './control.js'
import { deferred, pipeToLog, within } from './util.js'
import { WORK_FILES } from './workdir.js'
import { WORKER_SOURCE } from './worker-source.js'

/**
 * The JS heap (V8 old generation) of a js task: `resources.memMb`, and at least `minHeapMb`.
 * The young generation, code and stack come on top (a few MiB); ArrayBuffers live outside the
 * heap and are not bounded by it.
 */
export function heapLimitMb (memMb: number, minHeapMb: number): number {
  return Math.max(minHeapMb, Math.floor(memMb))
}

/** Messages a task's worker posts (see worker-source.ts). */
type WorkerMessage =
  | { t: 'progress', p: number }
  | { t: 'checkpoint', id: number, state: unknown }
  | { t: 'result', value: unknown }
  | { t: 'error', message: string, name?: string, stack?: string }

/** The end of a worker, as first seen: what it said or what happened to it. */
type Settled =
  | { by: 'result', value: unknown }
  | { by: 'error', message: string }
  | { by: 'exit', code: number }
  /** A stop request came first: it decides the outcome, whatever the task does next. */
  | { by: 'stop' }

/**
 * Runs a js task in a worker thread with a heap limit: loads its module (or its inline source,
 * written to `task.mjs` in the work dir), calls the export with `(input, ctx)`, relays progress and
 * checkpoints. Resolves only once the worker has exited.
 */
export async function runJs (a: Attempt, spec: JsTaskSpec): Promise<Ending> {
  const { ctx, config, log, control } = a
  let url: string
  let what: string
  if (spec.source !== undefined) {
    // A file rather than a data: URL: it can import node: modules and absolute URLs the same on
    // every Node version, and stack traces name a file one can open.
    const file = join(ctx.workDir, WORK_FILES.source)
    await writeFile(file, spec.source)
    url = pathToFileURL(file).href
    what = 'the inline source'
  } else {
    const m = spec.module ?? ''
    url = m.startsWith('file:') ? m : pathToFileURL(isAbsolute(m) ? m : resolve(config.moduleBaseDir, m)).href
    what = `module ${m}`
  }
  let restore: unknown
  if (ctx.checkpoint !== undefined) {
    try {
      restore = decodeCheckpoint(ctx.checkpoint)
    } catch (err) {
      // Starting over silently could repeat side effects the checkpoint was there to prevent.
      return { kind: 'failed', error: `cannot restore the checkpoint: ${(err as Error).message}` }
    }
  }
  const input = ctx.input !== undefined ? ctx.input : spec.input
  if (control.request !== undefined) return stopEnding(control.request)

  const heapMb = heapLimitMb(spec.resources.memMb, config.minHeapMb)
  const env: Record<string, string> = {}
  for (const name of config.inheritEnv) {
    const v = process.env[name]
    if (v !== undefined) env[name] = v
  }
  env.BIDMESH_TASK_ID = ctx.taskId
  env.BIDMESH_ATTEMPT = String(ctx.attempt)
  env.BIDMESH_WORK_DIR = ctx.workDir

  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { url, what, exportName: spec.export, input, restore, taskId: ctx.taskId, attempt: ctx.attempt, workDir: ctx.workDir },
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
    // The task sees the same small environment as an exec task, not the node's.
    env,
    execArgv: config.workerExecArgv,
    stdin: false,
    stdout: true,
    stderr: true
  })
  log.append('sys', `started worker thread ${worker.threadId} (heap limit ${heapMb} MiB): ${what}`)

  let settled: Settled | undefined
  const settle = (s: Settled): void => { settled ??= s }
  const exited = deferred()
  const streamsEnded = Promise.all([worker.stdout, worker.stderr].map(async s => {
    const ended = deferred()
    s.once('end', () => { ended.resolve() })
    s.once('close', () => { ended.resolve() })
    await ended.promise
  }))
  pipeToLog(worker.stdout, log, 'out')
  pipeToLog(worker.stderr, log, 'err')

  const uploads = new Set<Promise<void>>()
  worker.on('message', (m: WorkerMessage) => {
    switch (m.t) {
      case 'progress':
        if (Number.isFinite(m.p)) a.setProgress(Math.min(1, Math.max(0, m.p)))
        break
      case 'checkpoint': {
        const p = checkpoint(a, m.state).then(error => {
          // The worker may be gone by now: then nobody waits for the answer.
          try { worker.postMessage({ t: 'ack', id: m.id, error }) } catch { /* exited */ }
        })
        uploads.add(p)
        void p.finally(() => uploads.delete(p))
        break
      }
      case 'result':
        settle({ by: 'result', value: m.value })
        break
      case 'error':
        if (m.stack !== undefined && m.stack !== '') log.append('err', m.stack)
        settle({ by: 'error', message: m.message })
        break
    }
  })
  worker.on('error', (err: Error & { code?: string }) => {
    if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      settle({ by: 'error', message: `out of memory: the task used up its JS heap of ${heapMb} MiB (resources.memMb = ${spec.resources.memMb})` })
    } else {
      if (err.stack !== undefined) log.append('err', err.stack)
      settle({ by: 'error', message: err.message })
    }
  })
  worker.once('exit', code => {
    settle({ by: 'exit', code })
    exited.resolve()
  })

  let graceTimer: ReturnType<typeof setTimeout> | undefined
  let ended = false
  const terminate = (): void => { if (!ended) void worker.terminate() }
  control.onStop(r => {
    if (ended || settled !== undefined) return
    settle({ by: 'stop' })
    log.append('sys', `${describeStop(r)}; aborting ctx.signal`)
    worker.postMessage({ t: 'abort', reason: describeStop(r) })
    graceTimer = setTimeout(() => {
      log.append('sys', `still running after ${config.killGraceMs} ms; terminating the worker`)
      terminate()
    }, config.killGraceMs)
  })
  if (control.forced.aborted) terminate()
  else control.forced.addEventListener('abort', terminate, { once: true })

  await exited.promise
  ended = true
  clearTimeout(graceTimer)
  control.forced.removeEventListener('abort', terminate)
  // Output posted just before the exit is still in flight; a bounded wait for it.
  await within(streamsEnded, 1000, control.forced)
  // Checkpoints the task was awaiting when it ended still count: let them land.
  await within(Promise.all(uploads), config.killGraceMs, control.forced)

  const s = settled ?? { by: 'exit', code: -1 }
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
