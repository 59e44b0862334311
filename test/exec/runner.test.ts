import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConflictError, ValidationError } from '../../src/core/index.js'
import { createRunner, createRunnerConfig, RunnerStoppedError, taskWorkDir, resolveInside, heapLimitMb, type RunContext } from '../../src/exec/index.js'
import { allGone, execSpec, groupMembers, jsSpec, tempDir, waitFor } from './helpers.js'

let dataDir: string
let cleanup: () => Promise<void>

beforeEach(async () => {
  ({ dir: dataDir, cleanup } = await tempDir())
})

afterEach(async () => {
  await cleanup()
})

function ctx (taskId: string, spec: RunContext['spec'], more: Partial<RunContext> = {}): RunContext {
  return { taskId, attempt: 1, spec, workDir: taskWorkDir(dataDir, taskId, 1), ...more }
}

describe('Runner', () => {
  it('stop() interrupts every task and leaves no process, group or worker behind', async () => {
    const exitListeners = process.listenerCount('exit')
    const runner = createRunner({ killGraceMs: 200 })
    const tree = runner.start(ctx('t-tree', execSpec(['sh', '-c', 'sleep 30 & sleep 30'])))
    const stubborn = runner.start(ctx('t-stubborn', execSpec(['sh', '-c', 'trap "" TERM; sleep 30'])))
    const spin = runner.start(ctx('t-spin', jsSpec({ source: 'export default (input, ctx) => { ctx.progress(0.5); for (;;) {} }' }), { onProgress: () => {} }))
    const polite = runner.start(ctx('t-polite', jsSpec({ source: 'export default (input, ctx) => new Promise((resolve, reject) => { ctx.progress(0.5); ctx.signal.onabort = () => resolve("stopped early") })' }), { onProgress: () => {} }))
    const pids = [await waitFor(() => tree.pid), await waitFor(() => stubborn.pid)]
    const members = await waitFor(async () => {
      const m = [...await groupMembers(pids[0] ?? 0), ...await groupMembers(pids[1] ?? 0)]
      return m.length >= 5 ? m : undefined
    }, 5000, 'all processes')
    await waitFor(() => spin.progress === 0.5 && polite.progress === 0.5, 5000, 'workers running')
    expect(runner.running().map(r => r.taskId).sort()).toEqual(['t-polite', 't-spin', 't-stubborn', 't-tree'])
    expect(process.listenerCount('exit')).toBe(exitListeners + 1)

    await runner.stop()

    for (const run of [tree, stubborn, spin, polite]) {
      expect(await run.done).toMatchObject({ kind: 'interrupted', reason: 'the node is stopping' })
    }
    expect(await allGone(members)).toBe(true)
    expect(runner.running()).toEqual([])
    expect(process.listenerCount('exit')).toBe(exitListeners)
    expect(() => runner.start(ctx('t-late', execSpec(['true'])))).toThrow(RunnerStoppedError)
  })

  it('stop() with an aborted signal kills at once, without the grace period', async () => {
    const runner = createRunner({ killGraceMs: 60_000 })
    const run = runner.start(ctx('t-stubborn', execSpec(['sh', '-c', 'trap "" TERM; sleep 30'])))
    const js = runner.start(ctx('t-spin', jsSpec({ source: 'export default (input, ctx) => { ctx.progress(1); for (;;) {} }' }), { onProgress: () => {} }))
    const pid = await waitFor(() => run.pid)
    await waitFor(() => js.progress === 1)
    const ac = new AbortController()
    const stopping = runner.stop({ signal: ac.signal })
    ac.abort()
    await stopping
    expect(await run.done).toMatchObject({ kind: 'interrupted' })
    expect(await js.done).toMatchObject({ kind: 'interrupted' })
    await waitFor(async () => (await groupMembers(pid)).length === 0, 2000, 'empty group')
  })

  it('a forced stop does not wait for a checkpoint upload that hangs', async () => {
    const runner = createRunner({ killGraceMs: 200 })
    let called = false
    const script = 'echo x > "$BIDMESH_CHECKPOINT_FILE"; sleep 30'
    const run = runner.start(ctx('t-hung', execSpec(['sh', '-c', script], { checkpoint: { intervalMs: 10 } }), {
      onCheckpoint: async () => { called = true; await new Promise(() => {}) }
    }))
    await waitFor(() => called, 5000, 'upload started')
    expect(runner.running()).toEqual([expect.objectContaining({ taskId: 't-hung', kind: 'exec', pid: run.pid })])
    await runner.stop({ signal: AbortSignal.abort() })
    expect(await run.done).toMatchObject({ kind: 'interrupted' })
  })

  it('refuses to run a task twice at once, and starts the next attempt after the first ends', async () => {
    const runner = createRunner({ killGraceMs: 200 })
    try {
      const first = runner.start(ctx('t-dup', execSpec(['sleep', '30'])))
      expect(() => runner.start(ctx('t-dup', execSpec(['true']), { attempt: 2 }))).toThrow(ConflictError)
      expect(await first.cancel('superseded by attempt 2')).toMatchObject({ kind: 'cancelled', reason: 'superseded by attempt 2' })
      expect(await first.cancel()).toMatchObject({ kind: 'cancelled', reason: 'superseded by attempt 2' })
      const second = runner.start({ ...ctx('t-dup', execSpec(['true'])), attempt: 2, workDir: taskWorkDir(dataDir, 't-dup', 2) })
      expect(await second.done).toMatchObject({ kind: 'succeeded' })
      expect(runner.logs.get('t-dup')?.attempt).toBe(2)
    } finally {
      await runner.stop()
    }
  })

  it('a cancel after the task ended does not change its outcome', async () => {
    const runner = createRunner()
    const run = runner.start(ctx('t-quick', execSpec(['true'])))
    const outcome = await run.done
    expect(await run.cancel('too late')).toBe(outcome)
    await runner.stop()
  })

  it('fails a task whose work dir cannot be created, as a value', async () => {
    const runner = createRunner()
    await writeFile(join(dataDir, 'a-file'), '')
    const outcome = await runner.start({ ...ctx('t-nodir', execSpec(['true'])), workDir: join(dataDir, 'a-file', 't') }).done
    expect(outcome).toMatchObject({ kind: 'failed', error: expect.stringMatching(/^the runner could not run the task: /) })
    await runner.stop()
  })

  it('validates its config and the run context', () => {
    expect(() => createRunnerConfig({ killGraceMs: -1, inheritEnv: ['A=B'] })).toThrow(ValidationError)
    try {
      createRunnerConfig({ killGraceMs: -1, logTailLines: 0 })
    } catch (err) {
      expect((err as ValidationError).issues.map(i => i.path)).toEqual(['killGraceMs', 'logTailLines'])
    }
    expect(createRunnerConfig({ killGraceMs: undefined }).killGraceMs).toBe(5000)
    const runner = createRunner()
    expect(() => runner.start({ taskId: '', attempt: 1, spec: execSpec(['true']), workDir: dataDir })).toThrow(ValidationError)
  })

  it('work dirs: ids must be plain names, cwd must stay inside', () => {
    expect(taskWorkDir('/data', 't-1', 2)).toBe('/data/tasks/t-1/2')
    expect(() => taskWorkDir('/data', '../etc', 1)).toThrow(ValidationError)
    expect(() => taskWorkDir('/data', 'a/b', 1)).toThrow(ValidationError)
    expect(resolveInside('/w', undefined)).toBe('/w')
    expect(resolveInside('/w', 'a/./b/../c')).toBe('/w/a/c')
    expect(resolveInside('/w', '..x')).toBe('/w/..x')
    expect(resolveInside('/w', '..')).toBeUndefined()
    expect(resolveInside('/w', 'a/../../w2')).toBeUndefined()
    expect(resolveInside('/w', '/etc')).toBeUndefined()
  })

  it('maps memMb to the heap limit with a floor', () => {
    expect(heapLimitMb(256, 16)).toBe(256)
    expect(heapLimitMb(0, 16)).toBe(16)
    expect(heapLimitMb(100.7, 16)).toBe(100)
  })
})
