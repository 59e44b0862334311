import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { ExecutionLog } from '../helpers/tasks.js'
import { waitFor } from '../helpers/wait.js'
import { JS_DEFAULTS, MARKING, waitWorkflowFinal } from './helpers.js'

/** Each task returns when it started and ended, so that the order can be checked from results. */
const TIMED = (body: string): string => `export default async (input) => {
  const t0 = Date.now()
  await new Promise(r => setTimeout(r, 100))
  const value = (${body})(input)
  return { value, t0, t1: Date.now(), input }
}`

describe('workflows on a 3-node swarm', () => {
  let swarm: TestSwarm
  const marks = mkdtempSync(join(tmpdir(), 'bidmesh-wf-marks-'))

  beforeAll(async () => {
    swarm = await startSwarm(3)
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 3), 'complete views', 30_000)
  }, 60_000)

  afterAll(async () => {
    await swarm?.stop()
    rmSync(marks, { recursive: true, force: true })
  })

  it('runs a diamond in order and passes results through', async () => {
    const driver = swarm.nodes[1]!
    const submitted = driver.workflows.submit({
      name: 'diamond',
      defaults: JS_DEFAULTS,
      tasks: [
        { name: 'a', source: TIMED('() => ({ n: 2 })') },
        { name: 'b', needs: ['a'], inputs: { x: { from: 'a', field: 'value.n' } }, source: TIMED('i => i.x * 10') },
        { name: 'c', needs: ['a'], inputs: { x: { from: 'a', field: 'value.n' } }, source: TIMED('i => i.x + 1') },
        { name: 'd', needs: ['b', 'c'], inputs: { b: { from: 'b' }, c: { from: 'c' } }, source: TIMED('i => i.b.value + i.c.value') }
      ]
    })
    expect(submitted.state).toBe('running')
    expect(submitted.driver).toBe(driver.peerId)
    expect(submitted.total).toBe(4)
    const final = await waitWorkflowFinal(driver, submitted.id, 30_000)
    expect(final.state).toBe('succeeded')
    expect(final.counts).toEqual({ pending: 0, running: 0, succeeded: 4, failed: 0, skipped: 0, cancelled: 0 })
    const d = final.result as { value: number, t0: number, input: { b: { t1: number, t0: number, input: { x: number } }, c: { t1: number, t0: number } } }
    expect(d.value).toBe(23)
    expect(d.input.b.input.x).toBe(2)
    // d started after both b and c ended; b and c took their input from a.
    expect(d.t0).toBeGreaterThanOrEqual(Math.max(d.input.b.t1, d.input.c.t1))
    expect(final.tasks!.map(t => [t.key, t.state, t.attempt])).toEqual([['a', 'succeeded', 1], ['b', 'succeeded', 1], ['c', 'succeeded', 1], ['d', 'succeeded', 1]])
    // Every task ran as a task of the mesh, tagged with its workflow.
    for (const t of final.tasks!) {
      const task = await driver.scheduler.get(t.taskId!)
      expect(task?.workflow).toEqual({ id: submitted.id, key: t.key, attempt: 1 })
    }
    // The state is in the DHT: another node reads the same outcome.
    const elsewhere = await waitWorkflowFinal(swarm.nodes[0]!, submitted.id, 10_000)
    expect(elsewhere.state).toBe('succeeded')
    expect(elsewhere.result).toEqual(final.result)
  }, 60_000)

  it('fans out 100 instances over an upstream list, then fans in their results as a list', async () => {
    const driver = swarm.nodes[0]!
    const { id } = driver.workflows.submit({
      name: 'squares',
      defaults: JS_DEFAULTS,
      maxParallel: 100,
      tasks: [
        { name: 'split', source: 'export default async () => ({ items: Array.from({ length: 100 }, (_, i) => i) })' },
        { name: 'square', needs: ['split'], forEach: { from: 'split', field: 'items' }, source: 'export default async (input) => input.item * input.item' },
        { name: 'sum', needs: ['square'], inputs: { xs: { from: 'square' } }, source: 'export default async (input) => ({ n: input.xs.length, sum: input.xs.reduce((a, b) => a + b, 0), first: input.xs.slice(0, 4) })' }
      ]
    })
    const final = await waitWorkflowFinal(driver, id, 60_000)
    expect(final.state).toBe('succeeded')
    expect(final.total).toBe(102)
    expect(final.done).toBe(102)
    expect(final.result).toEqual({ n: 100, sum: 328_350, first: [0, 1, 4, 9] })
    expect(final.tasks!.filter(t => t.name === 'square').map(t => t.key)).toEqual(Array.from({ length: 100 }, (_, i) => `square[${i}]`))
    // The fan-out spread over the mesh rather than queueing on the driver.
    expect(new Set(final.tasks!.map(t => t.node)).size).toBeGreaterThan(1)
  }, 90_000)

  it('retries a task that fails on its first attempt, away from the node it failed on, then succeeds', async () => {
    const driver = swarm.nodes[2]!
    const flaky = `export default async (input) => {
      const fs = await import('node:fs')
      const marker = input.dir + '/flaky-tried'
      if (!fs.existsSync(marker)) { fs.writeFileSync(marker, '1'); throw new Error('first attempt fails') }
      return 'second attempt ok'
    }`
    const { id } = driver.workflows.submit({
      name: 'flaky',
      defaults: JS_DEFAULTS,
      tasks: [{ name: 'flaky', source: flaky, input: { dir: marks }, retries: { max: 2, backoffMs: 50 } }]
    })
    const final = await waitWorkflowFinal(driver, id, 30_000)
    expect(final.state).toBe('succeeded')
    expect(final.result).toBe('second attempt ok')
    const task = final.tasks![0]!
    expect(task.attempt).toBe(2)
    const firstTry = (await driver.workflows.get(id))!.tasks![0]!
    expect(firstTry.state).toBe('succeeded')
    // The second attempt ran as a new task that avoided the node of the failed one.
    const second = await driver.scheduler.get(task.taskId!)
    expect(second?.workflow).toEqual({ id, key: 'flaky', attempt: 2 })
    expect(second?.avoid.length).toBe(1)
    expect(second?.node).not.toBe(second?.avoid[0])
  }, 60_000)

  const FAIL = 'export default async () => { throw new Error("broken for good") }'
  const SLEEP = (ms: number): string => `export default async (input, ctx) => { await new Promise(r => { const t = setTimeout(r, ${ms}); ctx.signal?.addEventListener('abort', () => { clearTimeout(t); r() }) }); return 'slept' }`

  it('failFast: a permanent failure fails the run and cancels the rest, running tasks included', async () => {
    const driver = swarm.nodes[0]!
    const { id } = driver.workflows.submit({
      name: 'fail-fast',
      defaults: JS_DEFAULTS,
      failurePolicy: 'failFast',
      tasks: [
        { name: 'slow', source: SLEEP(30_000) },
        { name: 'gate', source: SLEEP(300) },
        { name: 'broken', needs: ['gate'], source: FAIL, retries: { max: 1, backoffMs: 10 } },
        { name: 'after', needs: ['broken'], source: SLEEP(0) }
      ]
    })
    const final = await waitWorkflowFinal(driver, id, 30_000)
    expect(final.state).toBe('failed')
    expect(final.error).toMatch(/broken for good/)
    const byKey = Object.fromEntries(final.tasks!.map(t => [t.key, t]))
    expect(byKey.broken).toMatchObject({ state: 'failed', attempt: 2 })
    expect(byKey.gate!.state).toBe('succeeded')
    expect(byKey.slow!.state).toBe('cancelled')
    expect(byKey.after!.state).toBe('cancelled')
    // The slow task was running on the mesh: it was cancelled there, not left to run for 30 s.
    await waitFor(async () => (await driver.scheduler.get(byKey.slow!.taskId!))?.state === 'cancelled', 'the slow task to be cancelled', 10_000)
  }, 60_000)

  it('continue: independent branches finish, dependents of the failure are skipped, the run fails', async () => {
    const driver = swarm.nodes[1]!
    const { id } = driver.workflows.submit({
      name: 'carry-on',
      defaults: JS_DEFAULTS,
      failurePolicy: 'continue',
      tasks: [
        { name: 'broken', source: FAIL },
        { name: 'needs-broken', needs: ['broken'], source: SLEEP(0) },
        { name: 'then-that', needs: ['needs-broken'], source: SLEEP(0) },
        { name: 'left', source: SLEEP(200) },
        { name: 'left-after', needs: ['left'], source: SLEEP(0) }
      ]
    })
    const final = await waitWorkflowFinal(driver, id, 30_000)
    expect(final.state).toBe('failed')
    expect(Object.fromEntries(final.tasks!.map(t => [t.key, t.state]))).toEqual({
      broken: 'failed', 'needs-broken': 'skipped', 'then-that': 'skipped', left: 'succeeded', 'left-after': 'succeeded'
    })
    expect(final.counts).toMatchObject({ succeeded: 2, failed: 1, skipped: 2 })
  }, 60_000)

  it('cancelling a workflow at another node cancels its running tasks', async () => {
    const driver = swarm.nodes[2]!
    const log = new ExecutionLog(swarm.nodes)
    const ended: string[] = []
    const offs = swarm.nodes.map(n => n.events.on('task:executed', e => { ended.push(`${e.task}:${e.outcome}`) }))
    const { id } = driver.workflows.submit({
      name: 'to-cancel',
      defaults: JS_DEFAULTS,
      tasks: [
        { name: 'one', source: MARKING, input: { dir: marks, tag: 'cancel-one', ms: 30_000 } },
        { name: 'two', source: MARKING, input: { dir: marks, tag: 'cancel-two', ms: 30_000 } },
        { name: 'three', needs: ['one', 'two'], source: SLEEP(0) }
      ]
    })
    await waitFor(async () => (await driver.workflows.get(id))?.counts.running === 2, 'both tasks to run', 20_000)
    // "running" is the node's word; the bodies mark their start themselves.
    await waitFor(() => readdirSync(marks).filter(f => f.startsWith('cancel-')).length === 2, 'both task bodies to start', 20_000)
    const ids = (await driver.workflows.get(id))!.tasks!.filter(t => t.state === 'running').map(t => t.taskId!)
    // The request goes from node 0 to the driver over gossip; the answer is the recorded state.
    const after = await swarm.nodes[0]!.workflows.cancel(id)
    expect(after.state).toBe('cancelled')
    expect(after.counts).toMatchObject({ cancelled: 3, running: 0 })
    for (const taskId of ids) {
      await waitFor(async () => (await driver.scheduler.get(taskId))?.state === 'cancelled', `task ${taskId} to be cancelled`, 10_000)
      await waitFor(() => ended.includes(`${taskId}:cancelled`), `the executor of ${taskId} to stop it`, 10_000)
    }
    for (const off of offs) off()
    log.stop()
    expect(readdirSync(marks).filter(f => f.startsWith('cancel-')).length).toBe(2)
    expect((await driver.workflows.get(id))!.state).toBe('cancelled')
  }, 60_000)
})
