import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { ExecutionLog, sleeperSpec, waitAllFinal } from '../helpers/tasks.js'
import { waitFor } from '../helpers/wait.js'

describe('placing tasks by auction on a 5-node swarm with unequal capacities', () => {
  let swarm: TestSwarm
  const cpus = [1, 2, 3, 4, 6]

  beforeAll(async () => {
    swarm = await startSwarm(5, i => ({ capacity: { cpu: cpus[i]!, memMb: 1024 * cpus[i]! }, labels: { idx: String(i) } }))
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 5), 'complete views', 30_000)
  }, 60_000)

  afterAll(async () => { await swarm?.stop() })

  it('runs 200 tasks submitted round robin at every peer: all succeed, each once, no node over capacity', async () => {
    const log = new ExecutionLog(swarm.nodes)
    const owners = Array.from({ length: 200 }, (_, i) => {
      const node = swarm.nodes[i % 5]!
      return { node, id: node.scheduler.submit(sleeperSpec(i, 20, { resources: { cpu: 0.5, memMb: 128 } })).id }
    })
    const final = await waitAllFinal(owners, 90_000)
    log.stop()
    expect(final.filter(s => s.state !== 'succeeded').map(s => `${s.id}: ${s.state} ${s.error ?? ''}`)).toEqual([])
    expect(final.map(s => s.result)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    const twice = final.filter(s => log.runs.get(s.id)?.length !== 1).map(s => ({ id: s.id, runs: log.runs.get(s.id), history: s.history, stats: swarm.nodes.map(n => n.scheduler.debugStats()) }))
    expect(twice).toEqual([])
    for (const n of swarm.nodes) {
      const peak = n.scheduler.peakUsage()
      expect(peak.cpu ?? 0).toBeLessThanOrEqual(n.capacity.cpu!)
      expect(peak.memMb ?? 0).toBeLessThanOrEqual(n.capacity.memMb!)
    }
    // More than one node did work: the auction spreads load.
    expect(new Set(final.map(s => s.node)).size).toBeGreaterThan(1)
  }, 120_000)
})

describe('racing auctions', () => {
  let swarm: TestSwarm

  beforeAll(async () => {
    swarm = await startSwarm(5, () => ({ capacity: { cpu: 4, memMb: 4096 } }))
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 5), 'complete views', 30_000)
  }, 60_000)

  afterAll(async () => { await swarm?.stop() })

  it('50 tasks at once at 5 peers on a cluster that fits 20: at most 20 run at a time, the rest wait, all finish', async () => {
    const log = new ExecutionLog(swarm.nodes)
    const owners = Array.from({ length: 50 }, (_, i) => {
      const node = swarm.nodes[i % 5]!
      return { node, id: node.scheduler.submit(sleeperSpec(i, 600)).id }
    })
    // While the first wave runs, the rest are pending with a reason.
    await waitFor(() => log.running >= 20, '20 tasks running at once', 30_000, 10)
    const pending = owners.map(o => o.node.scheduler.tasks.get(o.id)!).filter(s => s.state === 'pending')
    expect(pending.length).toBeGreaterThan(0)
    const final = await waitAllFinal(owners, 90_000)
    log.stop()
    expect(log.maxRunning).toBe(20)
    expect(final.every(s => s.state === 'succeeded')).toBe(true)
    for (const s of final) expect(log.runs.get(s.id)).toHaveLength(1)
    for (const n of swarm.nodes) expect(n.scheduler.peakUsage().cpu).toBeLessThanOrEqual(4000)
  }, 120_000)

  it('a task no peer can hold stays pending with its reason, and runs when a big enough node joins', async () => {
    const owner = swarm.nodes[2]!
    const { id } = owner.scheduler.submit(sleeperSpec('big', 0, { resources: { cpu: 1, memMb: 64, gpu: 2 } }))
    await waitFor(() => /gpu/.test(owner.scheduler.tasks.get(id)?.pendingReason ?? ''), 'a pending reason that names gpu', 10_000)
    expect(owner.scheduler.tasks.get(id)?.state).toBe('pending')
    const big = await swarm.add({ capacity: { cpu: 2, memMb: 2048, gpu: 2 } })
    await waitFor(() => owner.scheduler.tasks.get(id)?.state === 'succeeded', 'the task to run on the new node', 30_000)
    expect(owner.scheduler.tasks.get(id)?.node).toBe(big.peerId)
  }, 60_000)
})
