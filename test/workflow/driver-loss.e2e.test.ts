import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkflowStatus } from '../../src/workflow/index.js'
import { bidmesh, killCliSwarm, startCliSwarm, waitForSwarmFormed, type SwarmMemberInfo } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'
import { MARKING } from './helpers.js'

describe('SIGKILL of the node driving a workflow (4-process swarm)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-e2e-wf-'))
  const marks = join(dir, 'marks')
  let child: ChildProcess
  let members: SwarmMemberInfo[]

  beforeAll(async () => {
    mkdirSync(marks)
    ;({ child, members } = await startCliSwarm(4, join(dir, 'swarm'), ['--cpu', '2', '--mem', '2048']))
    await waitForSwarmFormed(members, 4)
  }, 90_000)

  afterAll(async () => {
    killCliSwarm(child, members)
    rmSync(dir, { recursive: true, force: true })
  })

  let lastError = ''
  /** Polls go to the API directly: a CLI process per poll would be slower than the workflow. */
  async function status (api: string, id: string): Promise<WorkflowStatus | undefined> {
    const res = await fetch(`${api}/v1/workflows/${id}`, { signal: AbortSignal.timeout(15_000) })
    if (res.ok) return await res.json() as WorkflowStatus
    lastError = `${res.status} ${await res.text()}`
    return undefined
  }

  it('a survivor takes over: the workflow completes, no finished task runs again, every survivor reads its status', async () => {
    const task = (ms: number): Record<string, unknown> => ({ source: MARKING, input: { dir: marks, ms } })
    const file = join(dir, 'chain.json')
    writeFileSync(file, JSON.stringify({
      name: 'survivor',
      defaults: { kind: 'js', resources: { cpu: 0.5, memMb: 64 } },
      tasks: [
        { name: 'a', ...task(200), input: { dir: marks, ms: 200, tag: 'a' } },
        { name: 'fan', needs: ['a'], forEach: [0, 1, 2, 3, 4, 5], ...task(0), input: { dir: marks, ms: 1500, tag: 'fan' } },
        { name: 'b', needs: ['fan'], ...task(0), input: { dir: marks, ms: 1500, tag: 'b' } },
        { name: 'c', needs: ['b'], ...task(0), input: { dir: marks, ms: 200, tag: 'c', value: 'the end' } }
      ]
    }))
    const driver = members[0]!
    const submitted = await bidmesh(['workflow', 'submit', file, '--json', '--api', driver.api])
    expect(submitted.code).toBe(0)
    const first = JSON.parse(submitted.stdout) as WorkflowStatus
    expect(first.driver).toBe(driver.peerId)
    const id = first.id

    // Mid-workflow, as another node reads it from the recorded state: some tasks done, some running.
    let before: WorkflowStatus | undefined
    await waitFor(async () => {
      before = await status(members[1]!.api, id)
      return before !== undefined && before.done >= 3 && before.counts.running > 0
    }, `the workflow to be under way (last: ${before?.text ?? lastError})`, 30_000, 100)
    const finishedBefore = before!.tasks!.filter(t => t.state === 'succeeded').map(t => t.key)
    process.kill(driver.pid, 'SIGKILL')

    let final: WorkflowStatus | undefined
    await waitFor(async () => {
      final = await status(members[1]!.api, id)
      return final?.state === 'succeeded'
    }, `the workflow to complete after the takeover (last: ${final?.text ?? '-'})`, 90_000, 250)
    expect(final!.epoch).toBeGreaterThanOrEqual(2)
    expect(final!.driver).not.toBe(driver.peerId)
    expect(final!.result).toBe('the end')
    expect(final!.done).toBe(9)

    // Every survivor reads the same outcome, through the CLI as a user would.
    for (const m of members.slice(1)) {
      const r = await bidmesh(['workflow', 'status', id, '--json', '--api', m.api])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ state: 'succeeded', result: 'the end', epoch: final!.epoch })
    }

    // Tasks that had finished before the kill ran exactly once; every task ran.
    const runs = new Map<string, number>()
    for (const f of readdirSync(marks)) { const key = f.split('.')[0]!; runs.set(key, (runs.get(key) ?? 0) + 1) }
    const fileKey = (key: string): string => key.replace(/\[(\d+)\]$/, '$1')
    expect(finishedBefore.length).toBeGreaterThanOrEqual(3)
    for (const key of finishedBefore) expect({ key, runs: runs.get(fileKey(key)) }).toEqual({ key, runs: 1 })
    for (const t of final!.tasks!) expect(runs.get(fileKey(t.key)) ?? 0).toBeGreaterThanOrEqual(1)
  }, 150_000)
})
