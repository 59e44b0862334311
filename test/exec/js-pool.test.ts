import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ValidationError } from '../../src/core/index.js'
import { createRunner, createRunnerConfig, taskWorkDir, type Runner, type RunContext, type RunnerInit, type RunOutcome } from '../../src/exec/index.js'
import { jsSpec, tempDir, waitFor } from './helpers.js'

let dataDir: string
let cleanup: () => Promise<void>
let runner: Runner | undefined
let n = 0

beforeEach(async () => {
  ({ dir: dataDir, cleanup } = await tempDir())
})

afterEach(async () => {
  await runner?.stop()
  runner = undefined
  await cleanup()
})

function start (init: RunnerInit = {}): Runner {
  runner = createRunner({ killGraceMs: 100, ...init })
  return runner
}

function ctx (spec: RunContext['spec'], more: Partial<RunContext> = {}): RunContext {
  const taskId = more.taskId ?? `t-${++n}`
  return { taskId, attempt: 1, spec, workDir: taskWorkDir(dataDir, taskId, 1), ...more }
}

/** Which worker ran the task (its threadId), and what it said. */
const WHO = 'import { threadId, resourceLimits } from "node:worker_threads"\n'
const COUNTER = `${WHO}let runs = 0
export default (input, ctx) => ({ runs: ++runs, threadId, heapMb: resourceLimits.maxOldGenerationSizeMb, taskId: ctx.taskId, env: process.env.BIDMESH_TASK_ID, aborted: ctx.signal.aborted })`

interface Who { runs: number, threadId: number, heapMb: number, taskId: string, env: string }

async function who (r: Runner, memMb = 32, source = COUNTER): Promise<Who> {
  const outcome = await r.start(ctx(jsSpec({ source, resources: { memMb } }))).done
  expect(outcome).toMatchObject({ kind: 'succeeded' })
  return (outcome as Extract<RunOutcome, { kind: 'succeeded' }>).result as Who
}

describe('js worker pool', () => {
  it('reuses a warm worker across sequential tasks: module state persists, ctx and env are fresh', async () => {
    const cacheDir = join(dataDir, 'js-cache')
    const r = start({ jsCacheDir: cacheDir })
    const runs = [await who(r), await who(r), await who(r)]
    expect(runs.map(x => x.runs)).toEqual([1, 2, 3])
    expect(new Set(runs.map(x => x.threadId)).size).toBe(1)
    for (const x of runs) expect(x.env).toBe(x.taskId)
    expect(new Set(runs.map(x => x.taskId)).size).toBe(3)
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, idle: 1, busy: 0, created: 1, reused: 2 })
    expect(r.logs.get(runs[2]?.taskId ?? '')?.tail().some(l => l.text.startsWith(`reusing worker thread ${runs[0]?.threadId} `))).toBe(true)
    // One file for the three tasks with the same source; stop() removes it.
    expect((await readdir(cacheDir)).filter(f => f.endsWith('.mjs'))).toHaveLength(1)
    await r.stop()
    expect(await readdir(cacheDir)).toEqual([])
  })

  it('gives every heap-limit class its own workers, with that limit', async () => {
    const r = start()
    const small = await who(r, 32)
    const big = await who(r, 64)
    expect(small.heapMb).toBe(32)
    expect(big.heapMb).toBe(64)
    expect(big.threadId).not.toBe(small.threadId)
    expect(await who(r, 32)).toMatchObject({ threadId: small.threadId, runs: 2 })
    expect(await who(r, 64)).toMatchObject({ threadId: big.threadId, runs: 2 })
    expect(r.jsPoolStats()).toMatchObject({ workers: 2, idle: 2 })
  })

  it('returns the worker after a thrown error and after a cooperative cancel', async () => {
    const r = start()
    const first = await who(r)
    expect(await r.start(ctx(jsSpec({ source: 'export default () => { throw new Error("nope") }', resources: { memMb: 32 } }))).done).toMatchObject({ kind: 'failed', error: 'nope' })
    const polite = r.start(ctx(jsSpec({ source: 'export default (input, ctx) => new Promise((resolve, reject) => { ctx.progress(0.5); ctx.signal.onabort = () => reject(ctx.signal.reason) })', resources: { memMb: 32 } }), { onProgress: () => {} }))
    await waitFor(() => polite.progress === 0.5, 5000, 'task running')
    expect(await polite.cancel('enough')).toMatchObject({ kind: 'cancelled', reason: 'enough' })
    const after = await who(r)
    expect(after).toMatchObject({ threadId: first.threadId, runs: 2, aborted: false })
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, created: 1, reused: 3 })
  })

  it('does not reuse the worker of a task that ignored a timeout or a cancel', async () => {
    const r = start()
    const first = await who(r)
    const spin = 'export default (input, ctx) => { ctx.progress(1); for (;;) {} }'
    expect(await r.start(ctx(jsSpec({ source: spin, timeoutMs: 100, resources: { memMb: 32 } }))).done).toMatchObject({ kind: 'timedOut' })
    const second = await who(r)
    expect(second.threadId).not.toBe(first.threadId)
    expect(second.runs).toBe(1)
    const run = r.start(ctx(jsSpec({ source: spin, resources: { memMb: 32 } }), { onProgress: () => {} }))
    await waitFor(() => run.progress === 1, 5000, 'task spinning')
    expect(await run.cancel()).toMatchObject({ kind: 'cancelled' })
    const third = await who(r)
    expect(third.threadId).not.toBe(second.threadId)
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, created: 3 })
  })

  it('does not reuse a worker that ran out of memory', async () => {
    const r = start()
    const first = await who(r, 16)
    const hog = 'export default () => { const keep = []; for (;;) keep.push({ a: [1, 2, 3], s: "x" + keep.length }) }'
    expect(await r.start(ctx(jsSpec({ source: hog, resources: { memMb: 16 } }))).done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/^out of memory/) })
    const next = await who(r, 16)
    expect(next.threadId).not.toBe(first.threadId)
    expect(next.runs).toBe(1)
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, idle: 1 })
  })

  it('does not reuse the worker of a task that left work pending, and says so in its log', async () => {
    const r = start()
    const first = await who(r)
    const run = r.start(ctx(jsSpec({ source: 'export default () => { setInterval(() => {}, 1000); return "ok" }', resources: { memMb: 32 } })))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: 'ok' })
    expect(run.log.tail().map(l => l.text)).toContain('the task left work pending (Timeout x1); its worker is not reused')
    expect(r.jsPoolStats()).toMatchObject({ workers: 0 })
    expect((await who(r)).threadId).not.toBe(first.threadId)
  })

  it('keeps the result of a task whose worker crashes right after it, and replaces the worker', async () => {
    const r = start()
    const first = await who(r)
    const run = r.start(ctx(jsSpec({ source: 'export default () => { Promise.reject(new Error("dangling")); return "fine" }', resources: { memMb: 32 } })))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: 'fine' })
    expect(run.log.tail().some(l => l.stream === 'err' && l.text.startsWith('Error: dangling'))).toBe(true)
    expect((await who(r)).threadId).not.toBe(first.threadId)
  })

  it('drops what an earlier run does through its ctx after it ended', async () => {
    const r = start()
    // An unref'd timer is not seen as pending work: the worker is reused while it is armed.
    const leaky = `${WHO}export default (input, ctx) => { setTimeout(() => { ctx.progress(0.9); ctx.log("late"); ctx.checkpoint({ late: true }).catch(() => {}) }, 100).unref(); return threadId }`
    const first = await r.start(ctx(jsSpec({ source: leaky, resources: { memMb: 32 } }))).done
    const seen: number[] = []
    const saved: Uint8Array[] = []
    const slow = `${WHO}export default async () => { await new Promise(resolve => setTimeout(resolve, 400)); return threadId }`
    const run = r.start(ctx(jsSpec({ source: slow, resources: { memMb: 32 } }), { onProgress: p => seen.push(p), onCheckpoint: async s => { saved.push(s) } }))
    const second = await run.done
    expect(second).toMatchObject({ kind: 'succeeded', result: (first as { result: number }).result })
    expect(seen).toEqual([])
    expect(saved).toEqual([])
    expect(run.log.tail().map(l => l.text)).not.toContain('late')
  })

  it('sends a large output through in order, and reuses the worker after it', async () => {
    const r = start()
    const source = `${WHO}export default () => { for (let i = 0; i < 20000; i++) console.log("line " + i + " " + "x".repeat(20)); return threadId }`
    const runs = [r.start(ctx(jsSpec({ source, resources: { memMb: 32 } })))]
    expect(await runs[0]?.done).toMatchObject({ kind: 'succeeded' })
    runs.push(r.start(ctx(jsSpec({ source, resources: { memMb: 32 } }))))
    const outcomes = await Promise.all(runs.map(async x => await x.done))
    expect(outcomes[1]).toMatchObject({ kind: 'succeeded', result: (outcomes[0] as { result: number }).result })
    const file = await readFile(runs[1]?.log.path ?? '', 'utf8')
    const lines = file.split('\n').filter(l => l.includes(' out line '))
    expect(lines).toHaveLength(20000)
    expect(lines[19999]).toMatch(/ out line 19999 x{20}$/)
  })

  it('ends idle workers after idleTimeoutMs', async () => {
    const r = start({ jsPool: { idleTimeoutMs: 50 } })
    await who(r)
    await waitFor(() => r.jsPoolStats().workers === 0, 5000, 'the idle worker to end')
    expect(r.jsPoolStats()).toMatchObject({ idle: 0, retired: 1 })
  })

  it('idle workers do not keep the node process alive', async () => {
    // A process that runs a task and never calls stop() must still exit on its own.
    const index = pathToFileURL(join(import.meta.dirname, '../../src/exec/index.ts')).href
    const core = pathToFileURL(join(import.meta.dirname, '../../src/core/index.ts')).href
    const script = `import { createRunner, taskWorkDir } from ${JSON.stringify(index)}
      import { parseTaskSpec } from ${JSON.stringify(core)}
      const r = createRunner({ jsPool: { prewarm: 1 }, jsCacheDir: ${JSON.stringify(join(dataDir, 'js-cache'))} })
      const spec = parseTaskSpec({ kind: 'js', name: 'x', source: 'export default () => 1', resources: { memMb: 32 } })
      const o = await r.start({ taskId: 'a', attempt: 1, spec, workDir: taskWorkDir(${JSON.stringify(dataDir)}, 'a', 1) }).done
      console.log(o.kind, JSON.stringify(r.jsPoolStats()))`
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 })
    expect(stdout).toMatch(/^succeeded .*"idle":2/)
  })

  it('stop() ends idle workers', async () => {
    const r = start()
    await who(r, 32)
    await who(r, 64)
    expect(r.jsPoolStats()).toMatchObject({ workers: 2, idle: 2 })
    await r.stop()
    expect(r.jsPoolStats()).toMatchObject({ workers: 0, idle: 0 })
  })

  it('prewarms a default-class worker that the first task uses', async () => {
    const r = start({ jsPool: { prewarm: 1, idleTimeoutMs: 20 } })
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, idle: 1, created: 1 })
    const run = r.start(ctx(jsSpec({ source: COUNTER })))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: { heapMb: 256 } })
    expect(run.log.tail().some(l => l.text.startsWith('reusing worker thread'))).toBe(true)
    // Kept past the idle timeout: a sweep has run once another class's worker is gone.
    await who(r, 32)
    await waitFor(() => r.jsPoolStats().workers === 1, 5000, 'the other class to end')
    expect(r.jsPoolStats()).toMatchObject({ idle: 1, created: 2 })
  })

  it('with the pool off, every task gets a fresh worker that ends with it', async () => {
    const r = start({ jsPool: { enabled: false } })
    const a = await who(r)
    const b = await who(r)
    expect([a.runs, b.runs]).toEqual([1, 1])
    expect(a.threadId).not.toBe(b.threadId)
    expect(r.jsPoolStats()).toMatchObject({ workers: 0, created: 2, reused: 0 })
  })

  it('retires a worker after maxRunsPerWorker runs or past maxModulesPerWorker modules', async () => {
    const r = start({ jsPool: { maxRunsPerWorker: 2, maxModulesPerWorker: 1 } })
    const a = await who(r)
    expect(await who(r)).toMatchObject({ threadId: a.threadId, runs: 2 })
    const b = await who(r)
    expect(b.threadId).not.toBe(a.threadId)
    const other = await who(r, 32, `${COUNTER}\n// another module`)
    expect(other.threadId).toBe(b.threadId)
    expect((await who(r)).threadId).not.toBe(b.threadId)
  })

  it('past maxWorkers, ends the oldest idle worker or makes the task wait for a busy one', async () => {
    const r = start({ jsPool: { maxWorkers: 1 } })
    await who(r, 32)
    await who(r, 64)
    await waitFor(() => r.jsPoolStats().workers === 1, 5000, 'the evicted worker to end')
    expect(r.jsPoolStats()).toMatchObject({ created: 2, retired: 1 })
    const wait = `${WHO}export default async (input, ctx) => { ctx.progress(1); await new Promise(resolve => { ctx.signal.onabort = resolve }); return threadId }`
    const runs = [0, 1].map(() => r.start(ctx(jsSpec({ source: wait, resources: { memMb: 64 } }), { onProgress: () => {} })))
    await waitFor(() => runs.some(x => x.progress === 1), 5000, 'one task running')
    // The second waits for the only worker instead of getting a throwaway thread.
    expect(runs.filter(x => x.progress === 1)).toHaveLength(1)
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, busy: 1 })
    const first = runs.find(x => x.progress === 1)!
    const second = runs.find(x => x !== first)!
    await first.cancel()
    await waitFor(() => second.progress === 1, 5000, 'the waiting task to get the worker')
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, busy: 1, created: 2 })
    // A task cancelled while it waits ends at once, without a worker.
    const third = r.start(ctx(jsSpec({ source: wait, resources: { memMb: 64 } }), { onProgress: () => {} }))
    expect(await third.cancel('no longer wanted')).toMatchObject({ kind: 'cancelled' })
    await second.cancel()
    expect(r.jsPoolStats()).toMatchObject({ workers: 1, idle: 1 })
  })

  it('validates its config', () => {
    expect(createRunnerConfig({ jsPool: { maxWorkers: 3 } }).jsPool).toMatchObject({ enabled: true, maxIdlePerClass: 4, maxWorkers: 3, idleTimeoutMs: 30_000, prewarm: 0 })
    try {
      createRunnerConfig({ jsPool: { enabled: 'yes' as unknown as boolean, maxIdlePerClass: -1, idleTimeoutMs: 0, prewarm: 9, maxWorkers: 2 }, jsCacheDir: '' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError)
      expect((err as ValidationError).issues.map(i => i.path)).toEqual(['jsCacheDir', 'jsPool.enabled', 'jsPool.maxIdlePerClass', 'jsPool.idleTimeoutMs', 'jsPool.prewarm'])
    }
  })
})
