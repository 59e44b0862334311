import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwarmMemberInfo } from '../helpers/cli.js'
import { bidmesh } from '../helpers/cli.js'
import {
  counterReport, counterSpec, describeStatus, execCounterSpec, RECOVERY_TIMEOUT_MS, startProcessSwarm, submitTask, waitForTask,
  type CounterInput, type ProcessSwarm
} from '../helpers/recovery.js'

/**
 * Issue 5, tests 1, 5 and 7: a task whose node is SIGKILLed resumes elsewhere from its last
 * checkpoint. One 5-node swarm serves the three tests; each kills one node. Tasks run only on
 * nodes other than the one the test talks to, so that the observer and the task's submitter
 * outlive the kill (losing the submitter is recovery.both-ends.test.ts).
 */
describe('resume after SIGKILL (5 node processes)', () => {
  let swarm: ProcessSwarm

  beforeAll(async () => { swarm = await startProcessSwarm(5, 'recovery-resume') }, 90_000)
  afterAll(async () => { await swarm?.stop() })

  /** The first alive node observes and submits; the task may run on any other alive node. */
  function roles (): { observer: SwarmMemberInfo, constraints: Record<string, string[]> } {
    const [observer, ...others] = swarm.alive()
    if (observer === undefined || others.length < 2) throw new Error('the swarm has too few nodes left for this test')
    return { observer, constraints: { 'swarm.index': others.map(m => String(m.index)) } }
  }

  function markerDir (name: string): string {
    const dir = join(swarm.dir, name)
    mkdirSync(dir, { recursive: true })
    return dir
  }

  it('a js task killed mid-run finishes elsewhere from its last checkpoint, re-doing at most the step in flight', async () => {
    const { observer, constraints } = roles()
    const input: CounterInput = { dir: markerDir('js'), n: 40, stepMs: 150 }
    const { id } = await submitTask(observer.api, counterSpec('count-js', input, { constraints }))
    const before = await waitForTask(observer.api, id, t => t.state === 'running' && t.attempt === 1 && (t.checkpoint?.seq ?? 0) >= 5,
      'attempt 1 to run and report checkpoint seq >= 5')
    const victim = swarm.member(before.node!)
    swarm.kill(victim)
    // `bidmesh task ID` shows the last checkpoint: seq, size and age (whichever attempt wrote it).
    const shown = await bidmesh(['task', id, '--api', observer.api])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout.replace(/ {2,}/g, ' ')).toMatch(/\ncheckpoint seq \d+( of attempt \d+)?, \d+ B, saved \d+[smh] ago\n/)

    const after = await waitForTask(observer.api, id, t => t.state === 'succeeded' || t.state === 'failed' || t.state === 'cancelled',
      'the task to end after its node was killed', RECOVERY_TIMEOUT_MS)
    const report = counterReport(input.dir, id)
    const detail = `status: ${describeStatus(after)}\nattempts: ${JSON.stringify(report.attempts)}\nsteps: ${JSON.stringify([...report.stepsByAttempt])}`
    expect(after.state, detail).toBe('succeeded')
    expect(after.node, detail).not.toBe(victim.peerId)
    expect(after.attempt, detail).toBeGreaterThanOrEqual(2)
    expect(after.recoveries, detail).toBeGreaterThanOrEqual(1)
    expect(after.retries, detail).toBe(0)
    const result = after.result as { total: number, attempt: number, startedAt: number }
    expect(result.total, detail).toBe(40)
    expect(result.attempt, detail).toBe(after.attempt)
    // It restored at least the checkpoint the status showed before the kill...
    expect(result.startedAt, detail).toBeGreaterThanOrEqual(before.checkpoint!.seq)
    // ...every step ran, and the only step done twice is the one whose checkpoint was in flight.
    expect(new Set([...report.stepsByAttempt.values()].flat()).size, detail).toBe(40)
    const lastOfFirst = Math.max(...(report.stepsByAttempt.get(1) ?? [0]))
    expect(lastOfFirst - result.startedAt, detail).toBeLessThanOrEqual(1)
    expect(report.redone.length, detail).toBeLessThanOrEqual(1)
    expect(report.done, detail).toEqual([[String(after.attempt), String(swarm.member(after.node!).pid)]])

    // Retries and recoveries are counted apart: a node loss spends no retry.
    const cli = await bidmesh(['task', id, '--api', observer.api])
    expect(cli.code, cli.stderr).toBe(0)
    const text = cli.stdout.replace(/ {2,}/g, ' ')
    expect(text).toContain('retries 0 of 0 for task failures')
    expect(text).toMatch(/recoveries [1-9]\d* for lost nodes/)
  }, 90_000)

  it('a checkpoint survives the loss of the node that wrote it (quorum 2)', async () => {
    const { observer, constraints } = roles()
    // Attempt 1 saves 64 KiB and then waits to be killed; a later attempt returns what it restored.
    const source = `
import { createHash } from 'node:crypto'
export default async (input, ctx) => {
  const saved = await ctx.restore()
  if (saved === undefined) {
    await ctx.checkpoint({ blob: 'x'.repeat(64 * 1024 - 40) + input.token })
    await new Promise((resolve, reject) => { ctx.signal.addEventListener('abort', () => { reject(new Error('stopped')) }) })
  }
  return { attempt: ctx.attempt, length: saved.blob.length, sha256: createHash('sha256').update(saved.blob).digest('hex') }
}`
    const token = `token-${Date.now()}`
    const blob = 'x'.repeat(64 * 1024 - 40) + token
    const spec = { name: 'replicas', kind: 'js', source, input: { token }, resources: { cpu: 0.5, memMb: 64 }, constraints, checkpoint: { quorum: 2 } }
    const { id } = await submitTask(observer.api, spec)
    const before = await waitForTask(observer.api, id, t => t.state === 'running' && t.checkpoint?.seq === 1, 'the checkpoint to be saved')
    expect(before.checkpoint!.bytes).toBeGreaterThanOrEqual(blob.length)
    const writer = swarm.member(before.node!)
    swarm.kill(writer)

    const after = await waitForTask(observer.api, id, t => t.state === 'succeeded' || t.state === 'failed', 'the task to end after the writer was killed')
    expect(after.state, describeStatus(after)).toBe('succeeded')
    expect(after.node).not.toBe(writer.peerId)
    expect(after.result).toEqual({ attempt: after.attempt, length: blob.length, sha256: createHash('sha256').update(blob).digest('hex') })
  }, 90_000)

  it('an exec task that checkpoints through $BIDMESH_CHECKPOINT_FILE resumes the same way', async () => {
    const { observer, constraints } = roles()
    // A step every 400 ms, the file watched every 50 ms: each step's checkpoint is uploaded
    // (a still file for one poll, then the put) well before the next step writes the file.
    const input: CounterInput = { dir: markerDir('exec'), n: 20, stepMs: 400 }
    const { id } = await submitTask(observer.api, execCounterSpec('count-exec', input, { constraints, checkpoint: { intervalMs: 50, quorum: 1 } }))
    const before = await waitForTask(observer.api, id, t => t.state === 'running' && t.attempt === 1 && (t.checkpoint?.seq ?? 0) >= 4,
      'attempt 1 to run and report checkpoint seq >= 4')
    const victim = swarm.member(before.node!)
    swarm.kill(victim)

    const after = await waitForTask(observer.api, id, t => t.state === 'succeeded' || t.state === 'failed', 'the exec task to end after its node was killed')
    const report = counterReport(input.dir, id)
    const detail = `status: ${describeStatus(after)}\nattempts: ${JSON.stringify(report.attempts)}\nsteps: ${JSON.stringify([...report.stepsByAttempt])}`
    expect(after.state, detail).toBe('succeeded')
    expect(after.attempt, detail).toBeGreaterThanOrEqual(2)
    expect(after.recoveries, detail).toBeGreaterThanOrEqual(1)
    const result = after.result as { total: number, attempt: number, startedAt: number }
    expect(result.total, detail).toBe(20)
    expect(result.attempt, detail).toBe(after.attempt) // $BIDMESH_ATTEMPT
    // The checkpoint file was written back before the new attempt started: it did not start over.
    expect(result.startedAt, detail).toBeGreaterThanOrEqual(before.checkpoint!.seq)
    expect(new Set([...report.stepsByAttempt.values()].flat()).size, detail).toBe(20)
    // At most the step written but not yet uploaded when the node died is done again.
    const lastOfFirst = Math.max(...(report.stepsByAttempt.get(1) ?? [0]))
    expect(lastOfFirst - result.startedAt, detail).toBeLessThanOrEqual(1)
    expect(report.done.length, detail).toBe(1)
  }, 90_000)
})
