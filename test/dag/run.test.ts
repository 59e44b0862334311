import { describe, it, expect } from 'vitest'
import { workflow, drive } from './helpers.js'
import { startRun, runSummary, inFlight, taskResult } from '../../src/dag/run.js'
import { nextActions, taskPriorities } from '../../src/dag/next-actions.js'
import { onTaskStarted, onTaskSucceeded, onTaskFailed, onTaskCancelled, onTaskLost, cancelRun } from '../../src/dag/events.js'
import { parseRunState } from '../../src/dag/run-schema.js'
import { emptyEstimates, estimateKey, observeDuration } from '../../src/dag/estimates.js'
import type { RunState } from '../../src/dag/run-types.js'
import { parseWorkflow } from '../../src/dag/validate.js'

const start = (tasks: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): RunState =>
  startRun(workflow(tasks, extra), { id: 'w-1', now: 0 })

const diamond = [
  { name: 'a' },
  { name: 'b', needs: ['a'], inputs: { n: { from: 'a', field: 'n' } } },
  { name: 'c', needs: ['a'], inputs: { all: { from: 'a' } }, input: { k: 'own' } },
  { name: 'd', needs: ['b', 'c'], inputs: { fromB: { from: 'b' }, fromC: { from: 'c', field: 'k' } } }
]

describe('workflow run', () => {
  it('runs a diamond in order and passes results through', () => {
    const { state, waves } = drive(start(diamond), s => {
      const input = s.input as Record<string, unknown> | undefined
      switch (s.task) {
        case 'a': return { ok: true, result: { n: 2 } }
        case 'b': return { ok: true, result: (input?.n as number) * 10 }
        case 'c': return { ok: true, result: { k: input?.k, saw: input?.all } }
        default: return { ok: true, result: input }
      }
    })
    expect(waves.map(w => w.map(s => s.key))).toEqual([['a'], ['b', 'c'], ['d']])
    const [b, c] = waves[1]!
    expect(b?.input).toEqual({ n: 2 })
    expect(c?.input).toEqual({ k: 'own', all: { n: 2 } })
    expect(c?.spec.kind === 'js' ? c.spec.input : undefined).toEqual({ k: 'own', all: { n: 2 } })
    expect(waves[2]![0]?.input).toEqual({ fromB: 20, fromC: 'own' })
    expect(state.status).toBe('succeeded')
    expect(taskResult(state, 'd')).toEqual({ fromB: 20, fromC: 'own' })
    // Only results something reads, or the workflow's output, are kept in the state.
    expect(state.units.filter(u => u.result !== undefined).map(u => u.key)).toEqual(['a', 'b', 'c', 'd'])
    expect(runSummary(state).text).toBe('succeeded: 4 of 4 done')
  })

  it('fans out over an upstream list of 100 and fans in the results in order', () => {
    let state = start([
      { name: 'split' },
      { name: 'map', needs: ['split'], forEach: { from: 'split', field: 'files' } },
      { name: 'sum', needs: ['map'], inputs: { counts: { from: 'map' } } }
    ])
    let next = nextActions(state, { now: 0 })
    expect(next.submit.map(s => s.key)).toEqual(['split'])
    state = onTaskSucceeded(next.state, { key: 'split', attempt: 1, result: { files: Array.from({ length: 100 }, (_, i) => `f${i}`) }, now: 1 }).state
    expect(runSummary(state).total).toBe(102)

    next = nextActions(state, { now: 2 })
    expect(next.submit).toHaveLength(100)
    expect(next.submit[3]).toMatchObject({ key: 'map[3]', task: 'map', index: 3, input: { item: 'f3', index: 3 } })
    expect(next.submit[3]?.spec.name).toBe('map')
    state = next.state
    // Finish them in reverse: the fan-in still gets them in index order.
    for (const s of [...next.submit].reverse()) {
      expect(state.tasks[2]?.state).toBe('waiting')
      state = onTaskSucceeded(state, { key: s.key, attempt: 1, result: (s.input as { index: number }).index * 2, now: 3 }).state
    }
    next = nextActions(state, { now: 4 })
    expect(next.submit.map(s => s.key)).toEqual(['sum'])
    expect(next.submit[0]?.input).toEqual({ counts: Array.from({ length: 100 }, (_, i) => i * 2) })
  })

  it('fans out over a literal list, and an empty list succeeds at once with []', () => {
    const { state, submitted } = drive(start([
      { name: 'gen', forEach: ['x', 'y'] },
      { name: 'none', forEach: [] },
      { name: 'join', needs: ['gen', 'none'], inputs: { g: { from: 'gen' }, n: { from: 'none' } } }
    ]), s => ({ ok: true, result: s.key === 'join' ? s.input : `${(s.input as { item: string }).item}!` }))
    expect(submitted.map(s => s.key)).toEqual(['gen[0]', 'gen[1]', 'join'])
    expect(taskResult(state, 'join')).toEqual({ g: ['x!', 'y!'], n: [] })
    expect(taskResult(state, 'gen[1]')).toBe('y!')
  })

  it('retries with exponential backoff, avoiding the nodes that failed, then succeeds', () => {
    let state = start([{ name: 'flaky', retries: { max: 2, backoffMs: 100, factor: 3 } }])
    let next = nextActions(state, { now: 0 })
    expect(next.submit[0]).toMatchObject({ key: 'flaky', attempt: 1, avoid: [] })
    // The task layer must not retry on its own: the engine owns retries.
    expect(next.submit[0]?.spec.retries.max).toBe(0)
    state = onTaskFailed(next.state, { key: 'flaky', attempt: 1, error: 'exit 1', node: 'n1', now: 10 }).state

    next = nextActions(state, { now: 50 })
    expect(next.submit).toEqual([])
    expect(next.wakeAt).toBe(110)
    next = nextActions(next.state, { now: 110 })
    expect(next.submit[0]).toMatchObject({ key: 'flaky', attempt: 2, avoid: ['n1'] })
    state = onTaskFailed(next.state, { key: 'flaky', attempt: 2, error: 'exit 1', node: 'n2', now: 120 }).state
    expect(nextActions(state, { now: 120 }).wakeAt).toBe(120 + 300)

    // News about an old attempt changes nothing.
    const stale = onTaskSucceeded(state, { key: 'flaky', attempt: 1, result: 1, now: 130 })
    expect(stale.state).toBe(state)
    expect(stale.ignored).toMatch(/attempt 1 is not the current one \(3\)/)

    next = nextActions(state, { now: 420 })
    expect(next.submit[0]).toMatchObject({ attempt: 3, avoid: ['n1', 'n2'] })
    state = onTaskSucceeded(next.state, { key: 'flaky', attempt: 3, result: 'ok', node: 'n3', durationMs: 5, now: 430 }).state
    expect(state.status).toBe('succeeded')
    expect(state.units[0]).toMatchObject({ attempt: 3, failures: 2, node: 'n3', durationMs: 5 })
  })

  it('fail fast: the first permanent failure fails the run and cancels what is in flight', () => {
    let state = start([{ name: 'a' }, { name: 'b' }, { name: 'c', needs: ['a', 'b'] }, { name: 'e', forEach: [1, 2], retries: { max: 3 } }])
    const next = nextActions(state, { now: 0 })
    expect(next.submit.map(s => s.key)).toEqual(['a', 'b', 'e[0]', 'e[1]'])
    state = onTaskStarted(next.state, { key: 'b', attempt: 1, node: 'nb', now: 1 }).state
    const out = onTaskFailed(state, { key: 'a', attempt: 1, error: 'boom', node: 'na', now: 2 })
    expect(out.state.status).toBe('failed')
    expect(out.state.error).toBe('task a failed: boom')
    expect(out.cancel).toEqual([{ key: 'b', attempt: 1, node: 'nb' }, { key: 'e[0]', attempt: 1 }, { key: 'e[1]', attempt: 1 }])
    expect(out.state.tasks.map(t => t.state)).toEqual(['failed', 'cancelled', 'cancelled', 'cancelled'])
    expect(out.state.inFlight).toBe(0)
    expect(nextActions(out.state, { now: 3 }).submit).toEqual([])
    expect(onTaskSucceeded(out.state, { key: 'b', attempt: 1, now: 3 }).ignored).toBe('the run is already failed')
    expect(runSummary(out.state).text).toBe('failed: 0 of 5 done (1 failed, 4 cancelled)')
  })

  it('continue: dependents of a failed task are skipped and independent branches go on', () => {
    const { state } = drive(start([
      { name: 'a' }, { name: 'a2', needs: ['a'] }, { name: 'a3', needs: ['a2'] },
      { name: 'b' }, { name: 'b2', needs: ['b'] }
    ], { failurePolicy: 'continue' }), s => s.task === 'a' ? { ok: false, error: 'bad' } : { ok: true, result: 1 })
    expect(state.status).toBe('failed')
    expect(state.tasks.map(t => t.state)).toEqual(['failed', 'skipped', 'skipped', 'succeeded', 'succeeded'])
    expect(state.tasks[2]?.error).toBe('upstream task a did not succeed')
    const summary = runSummary(state)
    expect(summary.instances).toMatchObject({ succeeded: 2, failed: 1, skipped: 2 })
    expect(summary.text).toBe('failed: 2 of 5 done (1 failed, 2 skipped)')
  })

  it('continue: a failed fan-out instance fails its task and cancels its siblings', () => {
    let state = start([{ name: 'm', forEach: [0, 1, 2] }, { name: 'other' }], { failurePolicy: 'continue' })
    const next = nextActions(state, { now: 0 })
    state = onTaskFailed(next.state, { key: 'm[1]', attempt: 1, error: 'oops', now: 1 }).state
    expect(state.tasks[0]).toMatchObject({ state: 'failed', error: 'm[1]: oops' })
    expect(state.units.map(u => u.state)).toEqual(['cancelled', 'failed', 'cancelled', 'submitted'])
    state = onTaskSucceeded(state, { key: 'other', attempt: 1, now: 2 }).state
    expect(state.status).toBe('failed')
  })

  it('a failure marked not retryable is final even with retries left', () => {
    let state = start([{ name: 'a', retries: { max: 5 } }])
    state = nextActions(state, { now: 0 }).state
    state = onTaskFailed(state, { key: 'a', attempt: 1, error: 'bad spec', retryable: false, now: 1 }).state
    expect(state.status).toBe('failed')
  })

  it('a task cancelled from outside counts as a failure, without retry', () => {
    let state = start([{ name: 'a', retries: { max: 5 } }, { name: 'b', needs: ['a'] }])
    state = nextActions(state, { now: 0 }).state
    const out = onTaskCancelled(state, { key: 'a', attempt: 1, reason: 'user cancelled a', now: 1 })
    expect(out.state.status).toBe('failed')
    expect(out.state.tasks.map(t => t.state)).toEqual(['cancelled', 'cancelled'])
    expect(out.cancel).toEqual([])
  })

  it('cancelRun cancels every task and lists the instances in flight; a second cancel is ignored', () => {
    let state = start([{ name: 'a' }, { name: 'b' }, { name: 'c', needs: ['a'] }], { maxParallel: 1 })
    state = nextActions(state, { now: 0 }).state
    state = onTaskStarted(state, { key: 'a', attempt: 1, node: 'n1', now: 1 }).state
    const out = cancelRun(state, { now: 2 })
    expect(out.cancel).toEqual([{ key: 'a', attempt: 1, node: 'n1' }])
    expect(out.state.status).toBe('cancelled')
    expect(out.state.finishedAt).toBe(2)
    expect(out.state.tasks.every(t => t.state === 'cancelled')).toBe(true)
    expect(cancelRun(out.state, { now: 3 }).ignored).toBe('the run is already cancelled')
    expect(runSummary(out.state)).toMatchObject({ final: true, total: 3, done: 0 })
  })

  it('keeps at most maxParallel in flight', () => {
    const tasks = Array.from({ length: 10 }, (_, i) => ({ name: `t${i}` }))
    const { waves } = drive(start(tasks, { maxParallel: 3 }), () => ({ ok: true }))
    expect(waves.map(w => w.length)).toEqual([3, 3, 3, 1])
  })

  it('hands out the task on the longest remaining path first, by estimated duration', () => {
    const tasks = [{ name: 'short' }, { name: 'x1' }, { name: 'x2', needs: ['x1'] }, { name: 'x3', needs: ['x2'] }]
    const state = start(tasks, { maxParallel: 1 })
    // Without history every task is estimated alike: the chain is the longer path.
    expect(nextActions(state, { now: 0 }).submit.map(s => [s.key, s.priority, s.remainingMs])).toEqual([['x1', 1000, 3000]])
    let est = emptyEstimates()
    est = observeDuration(est, { key: estimateKey('wf', 'short'), node: 'n1', durationMs: 60_000, now: 0 })
    const first = nextActions(state, { now: 0, estimates: est }).submit[0]
    expect(first).toMatchObject({ key: 'short', priority: 1000, remainingMs: 60_000, estimateKey: 'wf/short' })
    // The spec's priority carries it to the auction.
    expect(first?.spec.priority).toBe(1000)
    expect(taskPriorities(state, { estimates: est }).x1).toEqual({ priority: 50, remainingMs: 3000 })
  })

  it('an input that cannot be built fails the task for good, naming the field', () => {
    const { state } = drive(start([
      { name: 'sum', retries: { max: 3 } },
      { name: 'report', needs: ['sum'], inputs: { total: { from: 'sum', field: 'stats.total' } }, retries: { max: 3 } }
    ]), () => ({ ok: true, result: { stats: { count: 1 } } }))
    expect(state.status).toBe('failed')
    expect(state.units[1]).toMatchObject({ state: 'failed', error: 'inputs.total: the result of "sum" has no field "stats.total"' })
  })

  it('an input larger than a task may carry fails the task', () => {
    const { state } = drive(start([{ name: 'big' }, { name: 'use', needs: ['big'], inputs: { v: { from: 'big' } } }]),
      () => ({ ok: true, result: 'x'.repeat(200_000) }))
    expect(state.units[1]?.error).toMatch(/^input: must be JSON of at most/)
  })

  it('a forEach over something that is not a list fails that task', () => {
    const { state } = drive(start([{ name: 'split' }, { name: 'map', needs: ['split'], forEach: { from: 'split', field: 'files' } }]),
      () => ({ ok: true, result: { files: 'nope' } }))
    expect(state.tasks[1]).toMatchObject({ state: 'failed', error: 'forEach: field "files" of the result of "split" is not a list' })
  })

  it('a forEach past the workflow size limit fails that task', () => {
    const { state } = drive(start([{ name: 'split' }, { name: 'map', needs: ['split'], forEach: { from: 'split' } }]),
      () => ({ ok: true, result: Array.from({ length: 10_001 }, () => 0) }))
    expect(state.tasks[1]?.error).toMatch(/10001 instances would take the workflow past 10000 tasks/)
  })

  it('ignores a repeated event, leaving the state as it was', () => {
    let state = start(diamond)
    state = nextActions(state, { now: 0 }).state
    const started = onTaskStarted(state, { key: 'a', attempt: 1, node: 'n1', now: 1 }).state
    expect(onTaskStarted(started, { key: 'a', attempt: 1, node: 'n1', now: 1 }).state).toBe(started)
    const done = onTaskSucceeded(started, { key: 'a', attempt: 1, result: { n: 1 }, now: 2 })
    const again = onTaskSucceeded(done.state, { key: 'a', attempt: 1, result: { n: 999 }, now: 3 })
    expect(again.state).toBe(done.state)
    expect(again.ignored).toBe('a is already succeeded')
    expect(onTaskFailed(done.state, { key: 'a', attempt: 1, error: 'late', now: 3 }).state).toBe(done.state)
    expect(onTaskSucceeded(done.state, { key: 'zzz', attempt: 1, now: 3 }).ignored).toBe('no task instance zzz')
    expect(onTaskSucceeded(done.state, { key: 'a[0]', attempt: 1, now: 3 }).ignored).toBe('no task instance a[0]')
    // The old state is untouched by all of this.
    expect(state.units[0]?.state).toBe('submitted')
  })

  it('a lost submission is handed out again with the next attempt, not counted as a failure', () => {
    let state = start([{ name: 'a' }])
    state = nextActions(state, { now: 0 }).state
    expect(inFlight(state)).toEqual([{ key: 'a', attempt: 1 }])
    state = onTaskLost(state, { key: 'a', attempt: 1, now: 5 }).state
    const next = nextActions(state, { now: 5 })
    expect(next.submit[0]).toMatchObject({ key: 'a', attempt: 2, avoid: [] })
    expect(next.state.units[0]?.failures).toBe(0)
  })

  it('resumes from the stored JSON without running finished tasks again', () => {
    let state = start(diamond)
    let next = nextActions(state, { now: 0 })
    state = onTaskSucceeded(next.state, { key: 'a', attempt: 1, result: { n: 3 }, now: 1 }).state
    next = nextActions(state, { now: 2 })
    state = onTaskSucceeded(next.state, { key: 'b', attempt: 1, result: 30, now: 3 }).state
    // The driver dies; a new one reads the record back.
    const resumed = parseRunState(JSON.parse(JSON.stringify(state)))
    expect(resumed).toEqual(state)
    expect(inFlight(resumed)).toEqual([{ key: 'c', attempt: 1 }])
    // c is still in flight from the old driver: nothing to hand out until it reports, or is found lost.
    expect(nextActions(resumed, { now: 10 }).submit).toEqual([])
    // The new driver finds no trace of c and reports it lost.
    const lost = onTaskLost(resumed, { key: 'c', attempt: 1, now: 11 }).state
    const rest = drive(lost, s => ({ ok: true, result: s.task === 'c' ? { k: 'z' } : s.input }), { now: 11 })
    expect(rest.submitted.map(s => `${s.key}#${s.attempt}`)).toEqual(['c#2', 'd#1'])
    expect(taskResult(rest.state, 'd')).toEqual({ fromB: 30, fromC: 'z' })
  })

  it('accepts news about an attempt that a dead driver handed out before recording it', () => {
    const state = start([{ name: 'a' }, { name: 'b', needs: ['a'] }])
    // nextActions ran and the task was submitted, but that state was never stored.
    const out = onTaskSucceeded(state, { key: 'a', attempt: 1, result: 1, now: 1 })
    expect(out.ignored).toBeUndefined()
    expect(nextActions(out.state, { now: 2 }).submit.map(s => s.key)).toEqual(['b'])
  })

  it('parseRunState rejects a state whose references do not agree', () => {
    let state = start([{ name: 'a' }, { name: 'b', needs: ['a'] }])
    state = nextActions(state, { now: 0 }).state
    const bad = JSON.parse(JSON.stringify(state)) as RunState
    bad.tasks[0]!.first = 5
    expect(() => parseRunState(bad)).toThrow(/tasks\[0\]: instances out of range/)
    expect(() => parseRunState({ ...state, v: 2 })).toThrow(/invalid workflow run state: v/)
    expect(() => parseRunState({ ...state, spec: { ...state.spec, tasks: [] } })).toThrow(/at least one task/)
  })

  it('an exec task gets its built input on the submission only', () => {
    const spec = parseWorkflow({
      name: 'wf', defaults: { kind: 'exec', command: ['run'] },
      tasks: [{ name: 'a' }, { name: 'b', needs: ['a'], inputs: { v: { from: 'a' } } }]
    })
    const { submitted } = drive(startRun(spec, { id: 'w', now: 0 }), () => ({ ok: true, result: 7 }))
    expect(submitted[1]?.input).toEqual({ v: 7 })
    expect(submitted[1]?.spec).not.toHaveProperty('input')
  })

  it('startRun rejects an invalid spec built by hand', () => {
    const spec = workflow([{ name: 'a' }])
    expect(() => startRun({ ...spec, tasks: [{ ...spec.tasks[0]!, needs: ['a'] }] }, { id: 'w', now: 0 })).toThrow(/cycle: a → a/)
  })
})
