import { afterAll, beforeAll, describe, it, expect } from 'vitest'
import type { WorkflowStatus } from '../../src/workflow/index.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { waitFor } from '../helpers/wait.js'
import { loadExample, WORDCOUNT_TOP } from './local-run.js'

describe('the examples on a swarm', () => {
  let swarm: TestSwarm

  beforeAll(async () => {
    swarm = await startSwarm(3, () => ({ allowExec: true, capacity: { cpu: 4, memMb: 4096 } }))
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 3), 'complete views', 20_000)
  }, 60_000)
  afterAll(async () => { await swarm?.stop() }, 60_000)

  /** Submits at node `at` and waits for the end, from that node's point of view. */
  async function runToEnd (body: unknown, at: number): Promise<WorkflowStatus> {
    const wf = swarm.nodes[at]!.workflows
    const { id } = wf.submit(body)
    let last: WorkflowStatus | undefined
    await waitFor(async () => {
      last = await wf.get(id)
      return last !== undefined && last.state !== 'running'
    }, `workflow ${id} to end (last: ${last?.done ?? 0} of ${last?.total ?? '?'} done)`, 60_000, 50)
    return last!
  }

  it('wordcount: prints the top words', async () => {
    const s = await runToEnd(loadExample('wordcount/wordcount.yaml'), 0)
    expect(s.error).toBeUndefined()
    expect(s.state).toBe('succeeded')
    expect(s.total).toBe(6)
    expect(s.result).toEqual({ files: 4, words: 812, distinct: 306, top: WORDCOUNT_TOP })
    expect(Object.keys((s.result as { top: object }).top)).toEqual(Object.keys(WORDCOUNT_TOP))
  }, 90_000)

  it('pi: π within 0.1', async () => {
    const body = loadExample('pi/pi.yaml')
    body.tasks[0].input = { samples: 500_000, chunk: 100_000 }
    const s = await runToEnd(body, 1)
    expect(s.error).toBeUndefined()
    expect(s.state).toBe('succeeded')
    const out = s.result as { pi: number, samples: number }
    expect(out.samples).toBe(8 * 500_000)
    expect(Math.abs(out.pi - Math.PI)).toBeLessThan(0.1)
  }, 90_000)

  it('pipeline: succeeds with one retry of the flaky test step', async () => {
    const s = await runToEnd(loadExample('pipeline/pipeline.yaml'), 2)
    expect(s.error).toBeUndefined()
    expect(s.state).toBe('succeeded')
    expect(s.result).toMatchObject({ package: 'calc-1.0.0.json.gz', testRuns: 2, testsPassed: 3 })
    expect(s.tasks?.map(t => [t.key, t.state, t.attempt])).toEqual([['build', 'succeeded', 1], ['test', 'succeeded', 2], ['package', 'succeeded', 1]])
  }, 90_000)
})
