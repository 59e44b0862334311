import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwarmMemberInfo } from '../helpers/cli.js'
import { SLEEPER } from '../helpers/tasks.js'
import {
  counterReport, counterSpec, describeStatus, getJson, startProcessSwarm, submitTask, taskAt, waitForTask,
  type CounterInput, type ProcessSwarm
} from '../helpers/recovery.js'
import type { TaskLogLine } from '../../src/node/task-service.js'

/**
 * Issue 5, test 2: the submitter and the executor are SIGKILLed together. The running task
 * resumes from its checkpoint, a task the submitter had accepted but not yet placed is adopted,
 * and both end with their status, result and logs readable at every survivor.
 */
describe('losing both ends (5 node processes)', () => {
  let swarm: ProcessSwarm

  beforeAll(async () => { swarm = await startProcessSwarm(5, 'recovery-both-ends') }, 90_000)
  afterAll(async () => { await swarm?.stop() })

  it('kill the submitter and the executor at once: the running task resumes, the waiting one is adopted, every survivor reads the results', async () => {
    const node = (i: number): SwarmMemberInfo => { const m = swarm.members[i]; if (m === undefined) throw new Error(`no node ${i}`); return m }
    const [a, n1, n2, n3, n4] = [node(0), node(1), node(2), node(3), node(4)]
    const dir = join(swarm.dir, 'markers')
    mkdirSync(dir, { recursive: true })

    // Node 3 is filled by a blocker submitted elsewhere, so that a task pinned to it waits, unplaced, at A.
    const blocker = await submitTask(n1.api, { name: 'blocker', kind: 'js', source: SLEEPER, input: { ms: 8_000, value: 'blocked' }, resources: { cpu: 2, memMb: 64 }, constraints: { 'swarm.index': String(n3.index) } })
    await waitForTask(n1.api, blocker.id, t => t.state === 'running', 'the blocker to run on node 3')

    // The running task: on node 2 or 4, whichever dies, the other can take it.
    const input: CounterInput = { dir, n: 30, stepMs: 150 }
    const running = await submitTask(a.api, counterSpec('both-ends', input, { constraints: { 'swarm.index': [String(n2.index), String(n4.index)] } }))
    const waiting = await submitTask(a.api, { name: 'adoptee', kind: 'js', source: SLEEPER, input: { ms: 200, value: 'adopted' }, resources: { cpu: 1, memMb: 64 }, constraints: { 'swarm.index': String(n3.index) } })
    const before = await waitForTask(a.api, running.id, t => t.state === 'running' && (t.checkpoint?.seq ?? 0) >= 3, 'the counter to run and checkpoint seq >= 3')
    const stillWaiting = await taskAt(a.api, waiting.id)
    expect(stillWaiting.state, describeStatus(stillWaiting)).toBe('pending')
    const blockerNow = await taskAt(n1.api, blocker.id)
    expect(blockerNow.state, 'the blocker ended before the kill: make it longer').toBe('running')

    const executor = swarm.member(before.node!)
    expect([n2.peerId, n4.peerId]).toContain(executor.peerId)
    swarm.kill(a)
    swarm.kill(executor)
    const survivors = swarm.alive()
    expect(survivors).toHaveLength(3)

    const observer = survivors[0]!
    const done = await waitForTask(observer.api, running.id, t => t.state === 'succeeded' || t.state === 'failed', 'the counter to end after both ends died')
    const report = counterReport(dir, running.id)
    const detail = `status: ${describeStatus(done)}\nattempts: ${JSON.stringify(report.attempts)}`
    expect(done.state, detail).toBe('succeeded')
    expect(done.attempt, detail).toBeGreaterThanOrEqual(2)
    const result = done.result as { total: number, attempt: number, startedAt: number }
    expect(result.total, detail).toBe(30)
    expect(result.startedAt, detail).toBeGreaterThanOrEqual(before.checkpoint!.seq)
    expect(report.done.length, detail).toBe(1)

    const adopted = await waitForTask(observer.api, waiting.id, t => t.state === 'succeeded' || t.state === 'failed', 'the unplaced task to be adopted and run')
    expect(adopted.state, describeStatus(adopted)).toBe('succeeded')
    expect(adopted.result).toBe('adopted')
    expect(adopted.node).toBe(n3.peerId)

    // Every survivor answers for both tasks, with the same outcome, and serves the log of the last attempt.
    for (const m of survivors) {
      const r = await taskAt(m.api, running.id)
      expect({ node: m.index, state: r.state, attempt: r.attempt, result: r.result }).toEqual({ node: m.index, state: 'succeeded', attempt: done.attempt, result })
      const w = await taskAt(m.api, waiting.id)
      expect({ node: m.index, state: w.state, result: w.result }).toEqual({ node: m.index, state: 'succeeded', result: 'adopted' })
      const logs = await getJson<{ lines: TaskLogLine[] }>(m.api, `/v1/tasks/${encodeURIComponent(running.id)}/logs?tail=50`)
      expect(logs.lines.map(l => l.text), `logs at node ${m.index}`).toContain(`attempt ${done.attempt} from step ${result.startedAt}`)
    }
  }, 90_000)
})
