import { describe, it, expect } from 'vitest'
import { rankPeers, selectCandidates } from '../../src/bidding/rank.js'
import { planBatch } from '../../src/bidding/batch.js'
import { spread } from '../../src/bidding/spread.js'
import { binpack } from '../../src/bidding/binpack.js'
import { peer, seeded, task } from './fixtures.js'

const cap = { cpu: 8000, memMb: 16384 }
const view = [
  peer('empty', cap),
  peer('half', cap, { free: { cpu: 4000, memMb: 8192 } }),
  peer('full', cap, { free: { cpu: 1000, memMb: 2048 } })
]

describe('placement policies', () => {
  it.each([
    { name: 'spread on an empty peer', policy: spread, free: cap, score: 1 - 1000 / 8000 },
    { name: 'spread on a half-full peer', policy: spread, free: { cpu: 4000, memMb: 8192 }, score: 1 - 5000 / 8000 },
    { name: 'binpack on an empty peer', policy: binpack, free: cap, score: 1000 / 8000 },
    { name: 'binpack filling a peer', policy: binpack, free: { cpu: 1000, memMb: 2048 }, score: 1 },
    { name: 'dominant resource decides', policy: spread, free: { cpu: 8000, memMb: 4096 }, score: 1 - (12288 + 1024) / 16384 }
  ])('$name scores $score', ({ policy, free, score }) => {
    expect(policy.score({ cpu: 1000, memMb: 1024 }, free, cap)).toBeCloseTo(score)
  })
})

describe('ranking', () => {
  it.each([
    { placement: 'spread' as const, order: ['empty', 'half', 'full'] },
    { placement: 'binpack' as const, order: ['full', 'half', 'empty'] }
  ])('$placement orders peers $order', ({ placement, order }) => {
    expect(rankPeers({ cpu: 1000 }, placement, view, seeded(1)).map(r => r.peer)).toEqual(order)
  })

  it('gives locality peers a bonus', () => {
    const ranked = rankPeers({ cpu: 1000 }, 'spread', view, seeded(1), { locality: ['half'], localityBonus: 0.5 })
    expect(ranked.map(r => r.peer)).toEqual(['half', 'empty', 'full'])
  })

  it('breaks ties at random, so equal peers share the load', () => {
    const equal = ['a', 'b', 'c', 'd'].map(id => peer(id, cap))
    const rng = seeded(7)
    const firsts = new Set(Array.from({ length: 40 }, () => rankPeers({ cpu: 1 }, 'spread', equal, rng)[0]?.peer))
    expect(firsts.size).toBe(4)
  })

  it('selects the best d feasible peers (power of d choices)', () => {
    const { peers, feasibility } = selectCandidates(task('t', { cpu: 2000 }), view, 2, seeded(1))
    expect(peers).toEqual(['empty', 'half'])
    expect(feasibility.why).toBe('1 peer lack free cpu')
  })
})

describe('batch planning (Sparrow batch sampling)', () => {
  const ten = Array.from({ length: 10 }, (_, i) => peer(`p${i}`, cap))

  it('probes d·m peer slots for m tasks and sends one call per peer', () => {
    const tasks = Array.from({ length: 20 }, (_, i) => task(`t${i}`, { cpu: 1000, memMb: 1024 }))
    const plan = planBatch(tasks, ten, 2, seeded(3))
    const slots = [...plan.probes.values()].reduce((n, l) => n + l.length, 0)
    expect(slots).toBe(40)
    expect(plan.probes.size).toBe(10)
    // Spread: every peer gets the same share of the probes.
    expect([...plan.probes.values()].map(l => l.length)).toEqual(Array(10).fill(4))
    for (const p of plan.probed) expect(new Set(p.peers).size).toBe(2)
    expect(plan.unprobed).toEqual([])
  })

  it('binpack concentrates probes on the fullest peers', () => {
    const tasks = Array.from({ length: 4 }, (_, i) => task(`t${i}`, { cpu: 1000 }, { placement: 'binpack' }))
    const plan = planBatch(tasks, view, 2, seeded(3))
    // "full" has room for one task (two probes at d = 2); "half" is next fullest and gets a probe
    // of every task; the second distinct peer of the last two tasks is "empty".
    expect(plan.probes.get('full')?.map(t => t.id)).toEqual(['t0', 't1'])
    expect(plan.probes.get('half')?.length).toBe(4)
    expect(plan.probes.get('empty')?.map(t => t.id)).toEqual(['t2', 't3'])
  })

  it('offers a peer about d times what gossip says it can hold, and leaves the rest unprobed', () => {
    const one = [peer('solo', { cpu: 9000, memMb: 18432 })]
    const tasks = Array.from({ length: 10 }, (_, i) => task(`a${i}`, { cpu: 1000, memMb: 4096 }))
    const plan = planBatch(tasks, one, 2, seeded(3))
    expect(plan.probes.get('solo')?.length).toBe(9) // 4.5 fit by memory, times d = 2
    expect(plan.unprobed.map(u => u.task.id)).toEqual(['a9'])
    expect(plan.unprobed[0]?.verdict).toBe('wait')
    expect(plan.unprobed[0]?.why).toMatch(/fully claimed by earlier tasks/)
  })

  it('later classes see what earlier classes claimed', () => {
    const one = [peer('solo', { cpu: 4000, memMb: 8192 })]
    const tasks = [
      task('big', { cpu: 4000 }),
      task('small', { cpu: 1000, memMb: 1 })
    ]
    const plan = planBatch(tasks, one, 1, seeded(3))
    expect(plan.probed.map(p => p.task.id)).toEqual(['big'])
    expect(plan.unprobed.map(u => [u.task.id, u.verdict])).toEqual([['small', 'wait']])
  })

  it('reports infeasible tasks with the filter reason', () => {
    const plan = planBatch([task('gpu', { cpu: 1, gpu: 8 })], view, 2, seeded(3))
    expect(plan.unprobed).toEqual([{ task: expect.objectContaining({ id: 'gpu' }), verdict: 'infeasible', why: 'no peer with gpu >= 8' }])
  })
})
