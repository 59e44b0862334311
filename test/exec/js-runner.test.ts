import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRunner, decodeCheckpoint, encodeCheckpoint, taskWorkDir, type Runner, type RunContext } from '../../src/exec/index.js'
import { jsSpec, tempDir, waitFor } from './helpers.js'

let dataDir: string
let cleanup: () => Promise<void>
let runner: Runner
let n = 0

beforeEach(async () => {
  ({ dir: dataDir, cleanup } = await tempDir())
  runner = createRunner({ killGraceMs: 200, moduleBaseDir: join(dataDir, 'modules') })
})

afterEach(async () => {
  await runner.stop()
  await cleanup()
})

function ctx (spec: RunContext['spec'], more: Partial<RunContext> = {}): RunContext {
  const taskId = more.taskId ?? `t-${++n}`
  const attempt = more.attempt ?? 1
  return { taskId, attempt, spec, workDir: taskWorkDir(dataDir, taskId, attempt), ...more }
}

describe('js tasks', () => {
  it('runs inline source with (input, ctx) and returns its result', async () => {
    const source = 'export default async (input, ctx) => ({ sum: input.a + input.b, id: ctx.taskId, attempt: ctx.attempt, same: ctx.input === input, dir: ctx.workDir, env: process.env.BIDMESH_TASK_ID })'
    const c = ctx(jsSpec({ source, input: { a: 2, b: 3 } }), { attempt: 4 })
    const outcome = await runner.start(c).done
    expect(outcome).toMatchObject({ kind: 'succeeded', result: { sum: 5, id: c.taskId, attempt: 4, same: true, dir: c.workDir, env: c.taskId } })
  })

  it('loads a module by path relative to moduleBaseDir, and calls a named export', async () => {
    await mkdir(join(dataDir, 'modules', 'lib'), { recursive: true })
    await writeFile(join(dataDir, 'modules', 'lib', 'double.mjs'), 'export function double (input) { return input * 2 }\n')
    expect(await runner.start(ctx(jsSpec({ module: 'lib/double.mjs', export: 'double', input: 21 }))).done).toMatchObject({ kind: 'succeeded', result: 42 })
    expect(await runner.start(ctx(jsSpec({ module: join(dataDir, 'modules', 'lib', 'double.mjs'), export: 'double', input: 1 }))).done).toMatchObject({ kind: 'succeeded', result: 2 })
  })

  it('fails with a clear message on a missing module or export', async () => {
    expect(await runner.start(ctx(jsSpec({ module: 'nope.mjs' }))).done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/^cannot load module nope\.mjs: .*nope\.mjs/) })
    expect(await runner.start(ctx(jsSpec({ source: 'export function run () {}', export: 'main' }))).done).toMatchObject({ kind: 'failed', error: 'the inline source has no function export "main" (it has: run)' })
  })

  it('a thrown error fails the task with its message; the stack goes to the log', async () => {
    const run = runner.start(ctx(jsSpec({ source: 'export default () => { throw new RangeError("too big") }' })))
    expect(await run.done).toMatchObject({ kind: 'failed', error: 'too big' })
    expect(run.log.tail().some(l => l.stream === 'err' && l.text.startsWith('RangeError: too big'))).toBe(true)
  })

  it('sends console.log, console.error and ctx.log to the task log', async () => {
    const source = 'export default (input, ctx) => { console.log("hello %s", "world"); console.error("careful"); ctx.log("n =", 3, { a: 1 }); return null }'
    const run = runner.start(ctx(jsSpec({ source })))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: null })
    const lines = run.log.tail().filter(l => l.stream !== 'sys').map(l => `${l.stream} ${l.text}`)
    expect(lines).toEqual(expect.arrayContaining(['out hello world', 'err careful', 'out n = 3 { a: 1 }']))
  })

  it('reports progress', async () => {
    const seen: number[] = []
    const source = 'export default (input, ctx) => { ctx.progress(0.25); ctx.progress(0.5); ctx.progress(7); return "ok" }'
    const run = runner.start(ctx(jsSpec({ source }), { onProgress: p => seen.push(p) }))
    expect(await run.done).toMatchObject({ kind: 'succeeded' })
    expect(seen).toEqual([0.25, 0.5, 1])
  })

  it('cancel aborts ctx.signal; a cooperative task ends at once', async () => {
    const source = 'export default (input, ctx) => new Promise((resolve, reject) => { ctx.progress(0.1); ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)) })'
    const run = runner.start(ctx(jsSpec({ source }), { onProgress: () => {} }))
    await waitFor(() => run.progress === 0.1, 5000, 'task running')
    const started = Date.now()
    expect(await run.cancel('user asked')).toMatchObject({ kind: 'cancelled', reason: 'user asked' })
    expect(Date.now() - started).toBeLessThan(2000)
    expect(run.log.tail().some(l => l.text.includes('terminating the worker'))).toBe(false)
  })

  it('a task that ignores the abort is terminated after the grace period; timeouts too', async () => {
    const run = runner.start(ctx(jsSpec({ source: 'export default () => { for (;;) {} }', timeoutMs: 300 })))
    expect(await run.done).toMatchObject({ kind: 'timedOut', timeoutMs: 300 })
    expect(run.log.tail().map(l => l.text)).toContain('still running after 200 ms; terminating the worker')
  })

  it('checkpoint/restore round trip: the second attempt restores the first attempt\'s state', async () => {
    let saved: { state: Uint8Array, seq: number } | undefined
    const source = `export default async (input, ctx) => {
      const prev = await ctx.restore()
      let i = prev === undefined ? 0 : prev.i
      for (; i < input.n; i++) {
        if (ctx.attempt === 1 && i === 3) throw new Error('node died')
        await ctx.checkpoint({ i: i + 1, note: 'after ' + i })
      }
      return { i, resumedFrom: prev === undefined ? null : prev.i, restoredNow: (await ctx.restore()).i }
    }`
    const spec = jsSpec({ source, input: { n: 5 } })
    const onCheckpoint = async (state: Uint8Array, seq: number): Promise<void> => { saved = { state, seq } }
    const first = await runner.start(ctx(spec, { taskId: 't-roundtrip', attempt: 1, onCheckpoint })).done
    expect(first).toMatchObject({ kind: 'failed', error: 'node died' })
    expect(saved?.seq).toBe(3)
    expect(decodeCheckpoint(saved?.state ?? new Uint8Array())).toEqual({ i: 3, note: 'after 2' })
    const second = await runner.start(ctx(spec, { taskId: 't-roundtrip', attempt: 2, checkpoint: saved?.state, onCheckpoint })).done
    expect(second).toMatchObject({ kind: 'succeeded', result: { i: 5, resumedFrom: 3, restoredNow: 5 } })
    expect(saved?.seq).toBe(2) // seq starts again in every attempt
  })

  it('checkpoints bytes, and rejects state that is not JSON', async () => {
    const uploads: Uint8Array[] = []
    const source = `export default async (input, ctx) => {
      const before = await ctx.restore()
      await ctx.checkpoint(new Uint8Array([1, 2, 3]))
      const errors = []
      for (const bad of [new Map(), { f: () => 1 }, { n: NaN }]) {
        try { await ctx.checkpoint(bad) } catch (err) { errors.push(err.message) }
      }
      return { before: Array.from(before), errors }
    }`
    const run = runner.start(ctx(jsSpec({ source }), { checkpoint: encodeCheckpoint(new Uint8Array([9])), onCheckpoint: async s => { uploads.push(s) } }))
    const outcome = await run.done
    expect(outcome).toMatchObject({ kind: 'succeeded', result: { before: [9] } })
    const errors = (outcome as { result: { errors: string[] } }).result.errors
    expect(errors).toHaveLength(3)
    expect(errors[0]).toMatch(/is a Map; only JSON values or a Uint8Array are allowed/)
    expect(errors[1]).toMatch(/must be a JSON value or a Uint8Array/)
    expect(errors[2]).toMatch(/NaN/)
    expect(uploads.map(u => decodeCheckpoint(u))).toEqual([new Uint8Array([1, 2, 3])])
  })

  it('a failing upload rejects ctx.checkpoint in the task', async () => {
    const source = 'export default async (input, ctx) => { try { await ctx.checkpoint({ a: 1 }) } catch (err) { return err.message } }'
    const run = runner.start(ctx(jsSpec({ source }), { onCheckpoint: async () => { throw new Error('no quorum') } }))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: 'no quorum' })
  })

  it('fails with a clear message when the task runs out of its memory', async () => {
    const source = 'export default () => { const keep = []; for (;;) keep.push({ a: [1, 2, 3], s: "x" + keep.length }) }'
    const run = runner.start(ctx(jsSpec({ source, resources: { memMb: 16 } })))
    expect(await run.done).toMatchObject({ kind: 'failed', error: 'out of memory: the task used up its JS heap of 16 MiB (resources.memMb = 16)' })
  })

  it('fails on a result that is not JSON, and on an early process.exit', async () => {
    expect(await runner.start(ctx(jsSpec({ source: 'export default () => ({ when: new Date(0) })' }))).done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/^result\.when is a Date/) })
    expect(await runner.start(ctx(jsSpec({ source: 'export default () => process.exit(3)' }))).done).toMatchObject({ kind: 'failed', exitCode: 3, error: 'the worker exited with code 3 before the task returned' })
  })

  it('ends when the task returns even if it left a timer running', async () => {
    const run = runner.start(ctx(jsSpec({ source: 'export default () => { setInterval(() => {}, 1000); return "done" }' })))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: 'done' })
    expect(runner.running()).toEqual([])
  })
})
