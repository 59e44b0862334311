import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { parseWorkflow } from '../../src/dag/validate.js'
import { startRun, runSummary } from '../../src/dag/run.js'
import { nextActions } from '../../src/dag/next-actions.js'
import { onTaskStarted, onTaskSucceeded, onTaskFailed, onTaskCancelled, onTaskLost, cancelRun } from '../../src/dag/events.js'
import { parseRunState } from '../../src/dag/run-schema.js'
import type { RunState, RunUpdate } from '../../src/dag/run-types.js'
import type { WorkflowSpec } from '../../src/core/workflow-spec.js'

/**
 * A random workflow: a random DAG whose spec order is shuffled, with random retries, fan-outs
 * (literal, or over a need's result) and inputs from needs.
 */
const workflows: fc.Arbitrary<WorkflowSpec> = fc.integer({ min: 1, max: 8 }).chain(n => fc.record({
  bits: fc.array(fc.boolean(), { minLength: n * n, maxLength: n * n }),
  perm: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
  retries: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
  fan: fc.array(fc.constantFrom('none', 'none', 'literal', 'from'), { minLength: n, maxLength: n }),
  sizes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
  inputs: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  // A field that may be missing (an empty list has no "0"), or not a list, to fail some builds.
  fields: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  policy: fc.constantFrom('failFast', 'continue'),
  maxParallel: fc.integer({ min: 1, max: 4 })
}).map(r => {
  const needsOf = (i: number): string[] => [...Array(i).keys()].filter(j => r.bits[j * n + i] === true).map(j => `t${j}`)
  const tasks = r.perm.map(i => {
    const needs = needsOf(i)
    const task: Record<string, unknown> = { name: `t${i}`, needs, retries: { max: r.retries[i], backoffMs: 10, factor: 2 } }
    if (r.fan[i] === 'literal') task.forEach = Array.from({ length: r.sizes[i]! }, (_, k) => k)
    const field = r.fields[i] === true ? { field: '0' } : {}
    if (r.fan[i] === 'from' && needs.length > 0) task.forEach = { from: needs[0], ...field }
    if (r.inputs[i] === true && needs.length > 0) task.inputs = { last: { from: needs[needs.length - 1], ...field } }
    return task
  })
  return parseWorkflow({ name: 'p', defaults: { kind: 'js', source: 's' }, failurePolicy: r.policy, maxParallel: r.maxParallel, tasks })
}))

const FINAL_TASK = new Set(['succeeded', 'failed', 'skipped', 'cancelled'])
const FINAL_UNIT = new Set(['succeeded', 'failed', 'cancelled'])

/** Everything that must hold of any state the engine returns. */
function checkInvariants (s: RunState): void {
  const index = new Map(s.spec.tasks.map((t, i) => [t.name, i]))
  const needsOf = (t: number): number[] => s.spec.tasks[t]!.needs.map(n => index.get(n)!)
  const inFlight = s.units.filter(u => u.state === 'submitted' || u.state === 'running').length
  expect(s.inFlight).toBe(inFlight)
  expect(inFlight).toBeLessThanOrEqual(s.spec.maxParallel)
  expect(s.open).toBe(s.tasks.filter(t => !FINAL_TASK.has(t.state)).length)
  expect(new Set(s.readyTasks)).toEqual(new Set(s.tasks.flatMap((t, i) => t.queue.length > 0 ? [i] : [])))
  expect(s.readyTasks.length).toBe(new Set(s.readyTasks).size)
  s.tasks.forEach((t, i) => {
    const needsDone = needsOf(i).every(j => s.tasks[j]!.state === 'succeeded')
    if (t.state === 'active' || t.state === 'succeeded') expect(needsDone).toBe(true)
    // Activation is eager: a running workflow never leaves a task waiting whose needs all succeeded.
    if (t.state === 'waiting' && s.status === 'running') expect(needsDone).toBe(false)
    if (t.state === 'skipped') expect(needsDone).toBe(false)
    for (const u of t.queue) expect(s.units[u]).toMatchObject({ task: i, state: 'pending' })
    for (const u of t.queue) expect(s.units[u]!.notBefore).toBeUndefined()
    if (t.state === 'succeeded' && t.first !== undefined) {
      for (let u = t.first; u < t.first + t.count!; u++) expect(s.units[u]!.state).toBe('succeeded')
    }
  })
  for (const u of s.backoff) expect(s.units[u]!.notBefore).toBeDefined()
  expect(s.backoff.length + s.tasks.reduce((a, t) => a + t.queue.length, 0)).toBe(s.units.filter(u => u.state === 'pending').length)
  if (s.status !== 'running') {
    expect(s.tasks.every(t => FINAL_TASK.has(t.state))).toBe(true)
    expect(s.units.every(u => FINAL_UNIT.has(u.state))).toBe(true)
    expect(s.status === 'succeeded').toBe(s.tasks.every(t => t.state === 'succeeded'))
  }
}

type Event = { kind: 'started' | 'succeeded' | 'failed' | 'cancelled' | 'lost', key: string, attempt: number, now: number }

function apply (s: RunState, e: Event, result?: unknown, retryable = true): RunUpdate {
  switch (e.kind) {
    case 'started': return onTaskStarted(s, { ...e, node: 'n-a' })
    case 'succeeded': return onTaskSucceeded(s, { ...e, result, node: 'n-a', durationMs: 3 })
    case 'failed': return onTaskFailed(s, { ...e, error: 'e', node: `n-${e.attempt}`, retryable })
    case 'cancelled': return onTaskCancelled(s, e)
    case 'lost': return onTaskLost(s, e)
  }
}

describe('workflow run engine (property)', () => {
  it('driven by random events, always ends with every task final and never hands out a task whose needs did not succeed', () => {
    fc.assert(fc.property(workflows, fc.array(fc.nat(), { minLength: 20, maxLength: 200 }), (spec, tape) => {
      let state = startRun(spec, { id: 'w-p', now: 0 })
      let now = 0
      const live = new Map<string, { attempt: number, started: boolean }>()
      const lastAttempt = new Map<string, number>()
      const succeeded = new Set<string>()
      const applied: Event[] = []
      const index = new Map(spec.tasks.map((t, i) => [t.name, i]))

      const take = (u: RunUpdate): void => {
        for (const c of u.cancel) {
          expect(live.get(c.key)?.attempt).toBe(c.attempt)
          live.delete(c.key)
        }
        state = u.state
        checkInvariants(state)
      }

      for (let step = 0; state.status === 'running'; step++) {
        expect(step).toBeLessThan(5000)
        const c = tape[step % tape.length]! + step
        const keys = [...live.keys()]
        const key = keys[c % Math.max(1, keys.length)]
        const choice = keys.length === 0 ? 0 : (c >> 3) % 12
        if (choice <= 1) {
          const next = nextActions(state, { now })
          for (const s of next.submit) {
            // The guarantee under test: every need succeeded, and nothing that succeeded runs again.
            for (const need of spec.tasks[index.get(s.task)!]!.needs) expect(next.state.tasks[index.get(need)!]!.state).toBe('succeeded')
            expect(succeeded.has(s.key)).toBe(false)
            expect(s.attempt).toBeGreaterThan(lastAttempt.get(s.key) ?? 0)
            lastAttempt.set(s.key, s.attempt)
            live.set(s.key, { attempt: s.attempt, started: false })
          }
          take(next)
          if (next.submit.length === 0 && live.size === 0 && state.status === 'running') {
            // Nothing out there and nothing to hand out: only a retry delay may be left to wait for.
            expect(next.wakeAt).toBeDefined()
            now = Math.max(now, next.wakeAt!)
          }
          continue
        }
        const held = live.get(key!)!
        const ev = (kind: Event['kind']): Event => ({ kind, key: key!, attempt: held.attempt, now })
        let e: Event
        if (choice === 2 && !held.started) e = ev('started')
        else if (choice <= 6) e = ev('succeeded')
        else if (choice === 7) e = ev('failed')
        else if (choice === 8 && applied.length > 0) {
          // A repeated event is ignored and changes nothing.
          const old = applied[c % applied.length]!
          const again = apply(state, { ...old, now })
          expect(again.state).toBe(state)
          expect(again.ignored).toBeDefined()
          continue
        } else if (choice === 9) {
          // The driver dies; the next one resumes from the stored record.
          state = parseRunState(JSON.parse(JSON.stringify(state)))
          continue
        } else if (choice === 10 && c % 5 === 0) e = ev('cancelled')
        else if (choice === 10 && c % 5 === 1 && held.attempt < 4) e = ev('lost')
        else if (choice === 10 && c % 5 === 2 && c % 3 === 0) { take(cancelRun(state, { now })); continue } else { now += 5; continue }

        const result = Array.from({ length: c % 4 }, (_, k) => k)
        const out = apply(state, e, result, c % 10 !== 0)
        expect(out.ignored).toBeUndefined()
        applied.push(e)
        if (e.kind === 'started') held.started = true
        else live.delete(e.key)
        if (e.kind === 'succeeded') succeeded.add(e.key)
        take(out)
      }
      checkInvariants(state)
      const summary = runSummary(state)
      expect(summary.final).toBe(true)
      expect(summary.done).toBe(state.units.filter(u => u.state === 'succeeded').length)
      // To replay a failure: DAG_SEED=<seed> DAG_PATH=<path> as fast-check printed them.
    }), { numRuns: 100, ...(process.env.DAG_SEED !== undefined ? { seed: Number(process.env.DAG_SEED), path: process.env.DAG_PATH, endOnFailure: true } : {}) })
  })
})
