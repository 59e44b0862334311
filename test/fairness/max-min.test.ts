import '../../src/polyfill.js'
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { maxMinFair } from '../../src/fairness/index.js'

/**
 * Water-filling the slow way: share what is left equally (by weight) among the unsatisfied, take
 * back what exceeds a demand, repeat until nothing changes.
 */
function slowMaxMin (capacity: number, demands: Record<string, number>, weights: Record<string, number> = {}): Record<string, number> {
  const alloc: Record<string, number> = Object.fromEntries(Object.keys(demands).map(u => [u, 0]))
  for (let round = 0; round < 1000; round++) {
    const hungry = Object.keys(demands).filter(u => (alloc[u] ?? 0) < (demands[u] ?? 0) - 1e-12)
    const left = capacity - Object.values(alloc).reduce((a, b) => a + b, 0)
    if (hungry.length === 0 || left <= 1e-12) break
    const weight = hungry.reduce((a, u) => a + (weights[u] ?? 1), 0)
    for (const u of hungry) alloc[u] = Math.min(demands[u] ?? 0, (alloc[u] ?? 0) + left * (weights[u] ?? 1) / weight)
  }
  return alloc
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))

describe('maxMinFair', () => {
  it('shares 100 among demands 35, 10, 25, 45 as 32.5, 10, 25, 32.5', () => {
    expect(maxMinFair(100, { A: 35, B: 10, C: 25, D: 45 })).toEqual({ A: 32.5, B: 10, C: 25, D: 32.5 })
  })

  it.each<{ name: string, capacity: number, demands: Record<string, number>, weights?: Record<string, number>, want: Record<string, number> }>([
    // A rises 3 times as fast as B: at level 25 B has 25 and A 75.
    { name: 'weights set the rate of filling', capacity: 100, demands: { A: 100, B: 100 }, weights: { A: 3 }, want: { A: 75, B: 25 } },
    // A is satisfied at 30 (level 10 × 3); B and C share the remaining 70 by weights 1 and 1.
    { name: 'a satisfied heavy user leaves the rest to others', capacity: 100, demands: { A: 30, B: 50, C: 50 }, weights: { A: 3 }, want: { A: 30, B: 35, C: 35 } },
    { name: 'everyone fits: everyone gets its demand exactly', capacity: 0.6, demands: { A: 0.1, B: 0.2, C: 0.3 }, want: { A: 0.1, B: 0.2, C: 0.3 } },
    { name: 'zero capacity gives nothing', capacity: 0, demands: { A: 1, B: 2 }, want: { A: 0, B: 0 } },
    { name: 'a user that asks for nothing gets nothing', capacity: 10, demands: { A: 0, B: 20 }, want: { A: 0, B: 10 } },
    { name: 'no users', capacity: 10, demands: {}, want: {} },
    { name: 'odd names are plain users', capacity: 9, demands: { constructor: 9, ['__proto__']: 9, toString: 9 }, want: { constructor: 3, ['__proto__']: 3, toString: 3 } }
  ])('$name', ({ capacity, demands, weights, want }) => {
    const got = maxMinFair(capacity, demands, weights)
    expect(Object.keys(got)).toEqual(Object.keys(want))
    for (const [u, v] of Object.entries(want)) expect(got[u]).toBeCloseTo(v, 12)
  })

  it.each<{ name: string, run: () => unknown, path: string }>([
    { name: 'negative capacity', run: () => maxMinFair(-1, { A: 1 }), path: 'capacity' },
    { name: 'infinite capacity', run: () => maxMinFair(Number.POSITIVE_INFINITY, { A: 1 }), path: 'capacity' },
    { name: 'NaN demand', run: () => maxMinFair(1, { A: Number.NaN }), path: 'demands.A' },
    { name: 'negative demand', run: () => maxMinFair(1, { A: -2 }), path: 'demands.A' },
    { name: 'weight for an unknown user', run: () => maxMinFair(1, { A: 1 }, { Z: 2 }), path: 'weights.Z' },
    { name: 'zero weight', run: () => maxMinFair(1, { A: 1 }, { A: 0 }), path: 'weights.A' },
    { name: 'infinite weight', run: () => maxMinFair(1, { A: 1 }, { A: Number.POSITIVE_INFINITY }), path: 'weights.A' }
  ])('rejects $name, naming $path', ({ run, path }) => {
    expect(run).toThrow(expect.objectContaining({ name: 'ValidationError', issues: [expect.objectContaining({ path })] }))
  })

  const instance = fc.record({
    capacity: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 200, noNaN: true })),
    demands: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.oneof(fc.integer({ min: 0, max: 80 }), fc.double({ min: 0, max: 80, noNaN: true })), { minKeys: 1 }),
    weightSeed: fc.array(fc.constantFrom(0.5, 1, 2, 3, 7), { minLength: 6, maxLength: 6 })
  }).map(({ capacity, demands, weightSeed }) => ({
    capacity,
    demands,
    weights: Object.fromEntries(Object.keys(demands).map((u, i) => [u, weightSeed[i] ?? 1]))
  }))

  it('equals the slow reference, never exceeds a demand, and sums to at most the capacity (property)', () => {
    fc.assert(fc.property(instance, fc.boolean(), ({ capacity, demands, weights }, weighted) => {
      const w = weighted ? weights : undefined
      const got = maxMinFair(capacity, demands, w)
      const want = slowMaxMin(capacity, demands, w)
      return Object.keys(demands).every(u => {
        const g = got[u] ?? Number.NaN
        return close(g, want[u] ?? Number.NaN) && g <= (demands[u] ?? 0) && g >= 0
      }) && sum(got) <= capacity && close(sum(got), Math.min(capacity, sum(demands)))
    }), { numRuns: 300 })
  })

  it('is max-min fair: whoever is short of its demand is at the highest weighted level (property)', () => {
    fc.assert(fc.property(instance, ({ capacity, demands, weights }) => {
      const got = maxMinFair(capacity, demands, weights)
      const level = (u: string): number => (got[u] ?? 0) / (weights[u] ?? 1)
      const top = Math.max(...Object.keys(demands).map(level))
      return Object.keys(demands).every(u => (got[u] ?? 0) >= (demands[u] ?? 0) - 1e-9 || close(level(u), top))
    }), { numRuns: 200 })
  })
})
