import { describe, it, expect } from 'vitest'
import { progressiveFill, type FillRequest } from '../../src/bidding/fill.js'
import { drfOrder } from '../../src/bidding/order.js'
import { HoldLedger } from '../../src/bidding/hold-ledger.js'
import { dominantFraction, type Resources } from '../../src/core/resources.js'

const capacity = { cpu: 9000, memMb: 18432 }
const requests = (framework: string, n: number, demand: Resources, submittedAt = 0): FillRequest[] =>
  Array.from({ length: n }, (_, i) => ({ task: `${framework}${i}`, framework, priority: 0, submittedAt: submittedAt + i, demand }))

describe('DRF progressive filling', () => {
  it('grants the DRF allocation of the paper: A 3 tasks, B 2 tasks', () => {
    // Ghodsi et al.: A <1 cpu, 4 GB>, B <3 cpu, 1 GB> on <9 cpu, 18 GB>.
    const ledger = new HoldLedger(capacity)
    const all = [...requests('B', 10, { cpu: 3000, memMb: 1024 }), ...requests('A', 10, { cpu: 1000, memMb: 4096 })]
    const { granted, refused } = progressiveFill(all, (_f, extra) => dominantFraction(extra, capacity),
      r => ledger.hold(r.task, r.demand, 0, 100, r.framework).ok)
    const count = (f: string): number => granted.filter(r => r.framework === f).length
    expect([count('A'), count('B')]).toEqual([3, 2])
    expect(refused).toHaveLength(15)
    // Equal dominant shares: A has 12/18 memory, B 6/9 cpu.
    expect(dominantFraction({ cpu: 3000, memMb: 12288 }, capacity)).toBeCloseTo(dominantFraction({ cpu: 6000, memMb: 2048 }, capacity))
  })

  it('starts with the framework whose mesh-wide share is lowest', () => {
    const all = [...requests('rich', 3, { cpu: 1000 }), ...requests('poor', 3, { cpu: 1000 })]
    // rich starts at 0.5; each grant adds 1/9: poor catches up only after three grants.
    const order: string[] = []
    progressiveFill(all, (f, extra) => (f === 'rich' ? 0.5 : 0) + (extra.cpu ?? 0) / 9000, r => { order.push(r.task); return true })
    expect(order).toEqual(['poor0', 'poor1', 'poor2', 'rich0', 'rich1', 'rich2'])
  })

  it('is work-conserving: a framework whose head does not fit still gets smaller requests', () => {
    const free = { cpu: 2000 }
    let used = 0
    const all: FillRequest[] = [
      { task: 'big', framework: 'A', priority: 5, submittedAt: 0, demand: { cpu: 3000 } },
      { task: 'small', framework: 'A', priority: 0, submittedAt: 0, demand: { cpu: 1000 } }
    ]
    const { granted } = progressiveFill(all, () => 0, r => {
      if (used + (r.demand.cpu ?? 0) > free.cpu) return false
      used += r.demand.cpu ?? 0
      return true
    })
    expect(granted.map(r => r.task)).toEqual(['small'])
  })

  it('orders a queue by share, then priority, then age; NaN shares go last', () => {
    const items = [
      { task: 'b-old', framework: 'B', priority: 0, submittedAt: 1 },
      { task: 'a-low', framework: 'A', priority: 0, submittedAt: 5 },
      { task: 'a-high', framework: 'A', priority: 9, submittedAt: 9 },
      { task: 'c', framework: 'C', priority: 99, submittedAt: 0 },
      { task: 'a-older', framework: 'A', priority: 0, submittedAt: 2 }
    ]
    const shares: Record<string, number> = { A: 0.1, B: 0.2, C: Number.NaN }
    expect(drfOrder(items, f => shares[f] ?? 0).map(i => i.task)).toEqual(['a-high', 'a-older', 'a-low', 'b-old', 'c'])
  })
})
