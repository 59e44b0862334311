import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it, expect } from 'vitest'
import { parseTaskSpec } from '../../src/core/task-spec.js'
import { decodeCheckpoint } from '../../src/exec/codec.js'
import { Runner } from '../../src/exec/runner.js'
import { waitFor } from '../helpers/wait.js'
import { importSource, loadExample, runLocally } from './local-run.js'

interface Part { index: number, samples: number, inside: number, attempt: number, resumedAt: number | null }
interface PiResult { pi: number, error: number, samples: number, inside: number, resumed: Array<{ sampler: number, attempt: number, at: number }> }
type TaskFn<I, O> = (input: I, ctx: unknown) => Promise<O>
interface SamplerInput { samples: number, chunk: number, item: number, index: number }

const body = loadExample('pi/pi.yaml')
const [sampleTask, reduceTask] = body.tasks as Array<{ source: string, input?: Record<string, unknown> }>

let dir: string
let sample: TaskFn<SamplerInput, Part>
let reduce: TaskFn<{ parts: Part[] }, PiResult>


/** A `ctx` as the worker gives it, recording what the task does with it. */
function fakeCtx (opts: { attempt?: number, restore?: unknown, onCheckpoint?: (state: any, n: number) => void } = {}): { ctx: unknown, saved: any[], logs: string[], abort: AbortController } {
  const saved: any[] = []
  const logs: string[] = []
  const abort = new AbortController()
  const ctx = {
    attempt: opts.attempt ?? 1,
    signal: abort.signal,
    log: (...args: unknown[]) => { logs.push(args.join(' ')) },
    progress: () => {},
    checkpoint: async (state: unknown) => { saved.push(structuredClone(state)); opts.onCheckpoint?.(state, saved.length) },
    restore: async () => structuredClone(opts.restore)
  }
  return { ctx, saved, logs, abort }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bidmesh-pi-'))
  sample = (await importSource<{ default: typeof sample }>(dir, 'sample', sampleTask!.source)).default
  reduce = (await importSource<{ default: typeof reduce }>(dir, 'reduce', reduceTask!.source)).default
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('examples/pi task code', () => {
  const input: SamplerInput = { samples: 400_000, chunk: 100_000, item: 3, index: 2 }

  it('samples, checkpointing after every chunk', async () => {
    const { ctx, saved, logs } = fakeCtx()
    const out = await sample(input, ctx)
    expect(out).toMatchObject({ index: 2, samples: 400_000, attempt: 1, resumedAt: null })
    expect(Math.abs(4 * out.inside / out.samples - Math.PI)).toBeLessThan(0.02)
    expect(saved.map(s => s.done)).toEqual([100_000, 200_000, 300_000, 400_000])
    expect(logs).toEqual(['sampler 2: attempt 1, starting 400000 samples'])
  })

  it('resumes from its checkpoint and ends exactly where an uninterrupted run does', async () => {
    const whole = await sample(input, fakeCtx().ctx)
    // Attempt 1 is cut off after its second checkpoint, as a node killed mid-run would be.
    const first = fakeCtx({ onCheckpoint: (_s, n) => { if (n === 2) first.abort.abort(new Error('node lost')) } })
    await expect(sample(input, first.ctx)).rejects.toThrow('node lost')
    const last = first.saved.at(-1)
    expect(last.done).toBe(200_000)

    const second = fakeCtx({ attempt: 2, restore: last })
    const resumed = await sample(input, second.ctx)
    expect(second.logs).toEqual(['sampler 2: attempt 2, resuming from checkpoint at 200000 of 400000 samples'])
    expect(second.saved.map(s => s.done)).toEqual([300_000, 400_000])
    expect(resumed).toEqual({ ...whole, attempt: 2, resumedAt: 200_000 })
  })

  it('reduces the parts to π and names the samplers that resumed', async () => {
    const { ctx, logs } = fakeCtx()
    const out = await reduce({
      parts: [
        { index: 0, samples: 100, inside: 79, attempt: 1, resumedAt: null },
        { index: 1, samples: 100, inside: 78, attempt: 2, resumedAt: 40 }
      ]
    }, ctx)
    expect(out).toEqual({ pi: 3.14, error: Math.abs(3.14 - Math.PI), samples: 200, inside: 157, resumed: [{ sampler: 1, attempt: 2, at: 40 }] })
    expect(logs[1]).toBe('sampler 1 resumed on attempt 2 at 40 samples')
  })

  it('resumes in a real worker thread from the checkpoint bytes the node kept', async () => {
    const runner = new Runner({ jsCacheDir: join(dir, 'js-cache'), killGraceMs: 1000 })
    try {
      const spec = parseTaskSpec({ ...body.defaults, name: 'sample', source: sampleTask!.source })
      let kept: Uint8Array | undefined
      const first = runner.start({
        taskId: 'pi-1',
        attempt: 1,
        spec,
        input: { samples: 2_000_000_000, chunk: 200_000, item: 1, index: 0 },
        workDir: join(dir, 'w1'),
        onCheckpoint: async bytes => { kept = bytes }
      })
      // Cut the first attempt off once it has saved some progress.
      await waitFor(() => kept !== undefined, 'a first checkpoint', 10_000)
      expect((await first.cancel('node lost')).kind).toBe('cancelled')
      const at = (decodeCheckpoint(kept!) as { done: number }).done
      expect(at).toBeGreaterThan(0)

      const second = runner.start({
        taskId: 'pi-1',
        attempt: 2,
        spec,
        input: { samples: at + 400_000, chunk: 200_000, item: 1, index: 0 },
        workDir: join(dir, 'w2'),
        checkpoint: kept,
        onCheckpoint: async () => {}
      })
      const out = await second.done
      expect(out.kind).toBe('succeeded')
      expect(out.kind === 'succeeded' ? out.result : undefined).toMatchObject({ samples: at + 400_000, attempt: 2, resumedAt: at })
      expect(second.log.tail().map(l => l.text)).toContain(`sampler 0: attempt 2, resuming from checkpoint at ${at} of ${at + 400_000} samples`)
    } finally {
      await runner.stop()
    }
  })

  it('runs as a workflow (engine + runner, no mesh): π within 0.1', async () => {
    const small = structuredClone(body)
    small.tasks[0].input = { samples: 200_000, chunk: 50_000 }
    const run = await runLocally(small)
    expect(run.state.status).toBe('succeeded')
    const out = run.result('reduce') as PiResult
    expect(out.samples).toBe(8 * 200_000)
    expect(Math.abs(out.pi - Math.PI)).toBeLessThan(0.1)
    expect(out.resumed).toEqual([])
  })
})
