import { afterEach, describe, expect, it } from 'vitest'
import { drfPlace } from '../../src/fairness/index.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { sleeperSpec } from '../helpers/tasks.js'
import { waitFor } from '../helpers/wait.js'

const NODE = { cpu: 9, memMb: 18 * 1024 }
const A = { cpu: 1, memMb: 4096 }
const B = { cpu: 3, memMb: 1024 }

/**
 * Two frameworks keep more long tasks queued than the cluster holds; the mesh's dominant shares
 * (as every node's fairness ledger sees them) must track the central DRF placement.
 */
async function contend (swarm: TestSwarm, weights: { A: number, B: number }): Promise<{ measured: Record<string, number>, reference: Record<string, number>, raw: Record<string, number> }> {
  const [a, b] = swarm.nodes
  if (weights.A !== 1) a!.scheduler.setWeight('A', weights.A)
  await waitFor(() => swarm.nodes.every(n => n.scheduler.ledger.weight('A') === weights.A), 'the weight to reach every node', 10_000)
  // Short tasks and a deep queue: capacity frees all the time, and each freed slot is contended.
  for (let i = 0; i < 120; i++) {
    // binpack is the distributed form of drfPlace's best fit: spread would scatter A's small
    // tasks so that no node keeps room for B's large ones.
    a!.scheduler.submit(sleeperSpec(i, 1200, { framework: 'A', resources: A, placement: 'binpack' }))
    b!.scheduler.submit(sleeperSpec(i, 1200, { framework: 'B', resources: B, placement: 'binpack' }))
  }
  const observer = swarm.nodes[0]!
  const ledger = observer.scheduler.ledger
  // Steady state: the cluster is as full as DRF allows (one of the two resources nearly used up).
  await waitFor(() => {
    const cap = ledger.totalCapacity()
    const used = (f: string, r: string): number => ledger.usage(f)[r] ?? 0
    return (used('A', 'memMb') + used('B', 'memMb')) / cap.memMb! > 0.7 || (used('A', 'cpu') + used('B', 'cpu')) / cap.cpu! > 0.85
  }, 'the cluster to fill', 20_000, 20)
  // The first fill is first come, first served; DRF takes over as tasks end and freed room goes
  // to the lowest share. Let a few generations turn over, then measure the steady state.
  await new Promise(resolve => setTimeout(resolve, 4500))
  const samples: Array<Record<string, number>> = []
  // Each node's own allocation, read at the same instant: the truth, not gossip about it.
  const share = (f: string, w: number): number => {
    const total = swarm.nodes.reduce((acc, n) => {
      const u = n.scheduler.advertBody().usageByFramework[f] ?? {}
      return { cpu: acc.cpu + (u.cpu ?? 0), memMb: acc.memMb + (u.memMb ?? 0) }
    }, { cpu: 0, memMb: 0 })
    const cap = ledger.totalCapacity()
    return Math.max(total.cpu / cap.cpu!, total.memMb / cap.memMb!) / w
  }
  for (let i = 0; i < 60; i++) {
    samples.push({ A: share('A', weights.A), B: share('B', weights.B) })
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  // The steady state is the allocation the mesh holds most of the time; the median ignores the
  // brief dips while freed room changes hands (bench/auction.ts reports the mean error).
  const median = (f: string): number => {
    const sorted = samples.map(x => x[f]!).sort((x, y) => x - y)
    return sorted[Math.floor(sorted.length / 2)]!
  }
  const nodes = swarm.nodes.map(n => ({ id: n.peerId, capacity: n.capacity }))
  const reference = drfPlace(nodes, [
    { name: 'A', demand: { cpu: A.cpu * 1000, memMb: A.memMb }, weight: weights.A },
    { name: 'B', demand: { cpu: B.cpu * 1000, memMb: B.memMb }, weight: weights.B }
  ]).dominantShares
  const raw = { A: median('A') * weights.A, B: median('B') * weights.B }
  return { measured: { A: median('A'), B: median('B') }, reference, raw }
}

// A measurement of a live system on a loaded 2-core machine: about one run in eight settles, for
// most of its window, one task away from DRF (B waits out a transition). Two retries keep that
// noise out of CI without widening the 0.05 bound; bench/auction.ts reports the mean error.
describe('DRF under contention (2 nodes of 9 cpu / 18 GB)', { retry: 2 }, () => {
  let swarm: TestSwarm | undefined

  afterEach(async () => { await swarm?.stop() })

  const start = async (): Promise<TestSwarm> => {
    const s = await startSwarm(2, () => ({ capacity: NODE }))
    await waitFor(() => s.nodes.every(n => n.view.alive().length === 2), 'complete views', 20_000)
    return s
  }

  it('each framework\'s dominant share is within 0.05 of the central drfPlace', async () => {
    swarm = await start()
    const { measured, reference } = await contend(swarm, { A: 1, B: 1 })
    expect(Math.abs(measured.A! - reference.A!)).toBeLessThanOrEqual(0.05)
    expect(Math.abs(measured.B! - reference.B!)).toBeLessThanOrEqual(0.05)
  }, 60_000)

  it('with weights 2:1 the shares follow 2:1', async () => {
    swarm = await start()
    const { measured, reference, raw } = await contend(swarm, { A: 2, B: 1 })
    expect(Math.abs(measured.A! - reference.A!)).toBeLessThanOrEqual(0.05)
    expect(Math.abs(measured.B! - reference.B!)).toBeLessThanOrEqual(0.05)
    // Unweighted, A holds about twice B's share.
    expect(raw.A! / raw.B!).toBeGreaterThan(1.5)
  }, 60_000)
})
