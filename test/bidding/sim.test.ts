import { describe, it, expect } from 'vitest'
import { Sim } from './sim.js'
import { task } from './fixtures.js'

const node = (id: string, cpu: number, memMb: number, labels: Record<string, string> = {}): { id: string, capacity: Record<string, number>, labels: Record<string, string> } =>
  ({ id, capacity: { cpu, memMb }, labels })

describe('in-memory auction simulation', () => {
  it.each([
    { seed: 1, tasks: 120, dropRate: 0.05 },
    { seed: 2, tasks: 100, dropRate: 0.25 }
  ])('with lost, late and duplicated messages, places every task once and never overfills a node (seed $seed, drop $dropRate)', ({ seed, tasks, dropRate }) => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, 4000 + 2000 * (i % 3), 8192, { zone: i < 5 ? 'eu' : 'us' }))
    const sim = new Sim({
      seed,
      nodes,
      delay: [1, 12],
      dropRate,
      duplicateRate: 0.03,
      bidder: { bidWindowMs: 10, maxLeaseMs: 1000 },
      auctioneer: { roundTimeoutMs: 60, awardTimeoutMs: 60, awardRetries: 2, leaseMs: 500, backoffBaseMs: 10, backoffMaxMs: 400 },
      runMs: (_t, rng) => 100 + Math.floor(rng() * 300)
    })
    const rng = sim.rng
    let n = 0
    for (let i = 0; i < tasks; i++) {
      const submitter = `n${Math.floor(rng() * 10)}`
      const cpu = [250, 500, 1000, 2000][Math.floor(rng() * 4)] as number
      const more = rng() < 0.2 ? { constraints: { zone: 'us' } } : rng() < 0.2 ? { placement: 'binpack' as const } : {}
      const memMb = [256, 512, 1024][Math.floor(rng() * 3)] as number
      sim.submit(submitter, task(`t${n++}`, { cpu, memMb }, { framework: rng() < 0.5 ? 'A' : 'B', submittedAt: 0, locality: [submitter], ...more }))
    }
    // Tasks no node can ever run stay pending with a reason.
    sim.submit('n0', task('gpu', { cpu: 1000, gpu: 8 }))
    sim.submit('n1', task('mars', { cpu: 100 }, { constraints: { zone: 'mars' } }))

    sim.run(30_000, () => sim.placed.size === tasks)

    expect(sim.violations).toEqual([]) // (a) no node over capacity, (b) no attempt accepted twice, no task placed twice
    expect(sim.counts.dropped).toBeGreaterThan(0)
    // At a high loss rate some awards go unanswered three times: their attempts are fenced and re-bid.
    if (dropRate > 0.2) expect(sim.counts.superseded).toBeGreaterThan(0)
    expect(sim.placed.size).toBe(tasks) // (c) every task that fits somewhere is placed
    for (const [t, p] of sim.placed) expect(sim.accepted.get(`${t}#${p.attempt}`)).toBe(p.peer)
    const left = [...sim.auctioneers.values()].flatMap(a => a.pendingTasks())
    expect(left.map(p => [p.task, p.reason])).toEqual([
      ['gpu', 'no peer with gpu >= 8'],
      ['mars', '10 peers fail constraints']
    ])
  })

  it.each(Array.from({ length: 6 }, (_, i) => ({ seed: 100 + i, dropRate: i % 2 === 0 ? 0.3 : 0.1, bidWindowMs: i < 3 ? 0 : 10 })))(
    'short tasks, resent awards and no window still run each attempt on one node only (seed $seed, drop $dropRate, window $bidWindowMs)',
    ({ seed, dropRate, bidWindowMs }) => {
      const sim = new Sim({
        seed,
        nodes: Array.from({ length: 6 }, (_, i) => node(`n${i}`, 2000 + 2000 * (i % 3), 4096)),
        delay: [1, 20],
        dropRate,
        duplicateRate: 0.05,
        bidder: { bidWindowMs, minLeaseMs: 50 },
        // A short award timeout resends awards whose replies are only slow; tasks end quickly, so
        // resent awards often find the task already finished.
        auctioneer: { roundTimeoutMs: 80, awardTimeoutMs: 30, awardRetries: 1, leaseMs: 300, backoffBaseMs: 5, backoffMaxMs: 200, probes: 1 + (seed % 3) },
        runMs: (_t, rng) => 20 + Math.floor(rng() * 100)
      })
      const tasks = 60
      for (let i = 0; i < tasks; i++) {
        const s = `n${Math.floor(sim.rng() * 6)}`
        sim.submit(s, task(`t${i}`, { cpu: [250, 1000, 2000][i % 3] as number, memMb: 512 }, { framework: i % 2 === 0 ? 'A' : 'B', locality: [s], placement: i % 4 === 0 ? 'binpack' : 'spread' }))
      }
      sim.run(60_000, () => sim.placed.size === tasks)
      expect(sim.violations).toEqual([])
      expect(sim.placed.size).toBe(tasks)
      sim.run(sim.now + 1000)
      for (const b of sim.bidders.values()) expect(b.ledger.allocated()).toEqual({})
    })

  it('DRF under contention: one 9 cpu / 18 GB node, A <1 cpu, 4 GB> and B <3 cpu, 1 GB> get 3 and 2 tasks', () => {
    const sim = new Sim({
      seed: 7,
      nodes: [node('N', 9000, 18432), node('SA', 0, 0), node('SB', 0, 0)],
      delay: [1, 10],
      bidder: { bidWindowMs: 20 },
      auctioneer: { backoffBaseMs: 20, backoffMaxMs: 200 }
    })
    for (let i = 0; i < 20; i++) {
      sim.submit('SA', task(`a${i}`, { cpu: 1000, memMb: 4096 }, { framework: 'A', submittedAt: i }))
      sim.submit('SB', task(`b${i}`, { cpu: 3000, memMb: 1024 }, { framework: 'B', submittedAt: i }))
    }
    sim.run(2000)
    expect(sim.violations).toEqual([])
    expect(sim.runningByFramework('N')).toEqual({ A: 3, B: 2 })
    const why = sim.auctioneers.get('SA')?.pendingTasks()[0]?.reason
    expect(why).toMatch(/lack free cpu|declined: cpu/)
  })

  it('DRF over time: as tasks finish, the freed capacity keeps the node near A 3 : B 2', () => {
    const sim = new Sim({
      seed: 11,
      nodes: [node('N', 9000, 18432), node('SA', 0, 0), node('SB', 0, 0)],
      delay: [1, 5],
      bidder: { bidWindowMs: 20 },
      auctioneer: { backoffBaseMs: 5, backoffMaxMs: 50 },
      runMs: (_t, rng) => 150 + Math.floor(rng() * 100)
    })
    for (let i = 0; i < 200; i++) {
      sim.submit('SA', task(`a${i}`, { cpu: 1000, memMb: 4096 }, { framework: 'A', submittedAt: i }))
      sim.submit('SB', task(`b${i}`, { cpu: 3000, memMb: 1024 }, { framework: 'B', submittedAt: i }))
    }
    const samples = { A: 0, B: 0, n: 0 }
    sim.run(500)
    while (sim.now < 2500) {
      sim.run(sim.now + 10)
      const r = sim.runningByFramework('N')
      samples.A += r.A ?? 0
      samples.B += r.B ?? 0
      samples.n++
    }
    expect(sim.violations).toEqual([])
    const meanA = samples.A / samples.n
    const meanB = samples.B / samples.n
    expect(meanA).toBeGreaterThan(2.3)
    expect(meanA).toBeLessThan(3.7)
    expect(meanB).toBeGreaterThan(1.3)
    expect(meanB).toBeLessThan(2.7)
  })
})
