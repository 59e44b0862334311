import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  DEFAULT_ESTIMATE_MS, ESTIMATE_ALPHA, MAX_ESTIMATE_KEYS, MAX_ESTIMATE_NODES,
  emptyEstimates, estimateKey, estimateMs, mergeEstimates, observeDuration, parseEstimates, trimEstimates, type Estimates
} from '../../src/dag/estimates.js'

describe('runtime estimates', () => {
  it('uses the default before any history, then the first duration, then an exponentially weighted mean', () => {
    const key = estimateKey('wc', 'map')
    let e = emptyEstimates()
    expect(estimateMs(e, key)).toBe(DEFAULT_ESTIMATE_MS)
    expect(estimateMs(e, key, 42)).toBe(42)
    e = observeDuration(e, { key, node: 'n1', durationMs: 100, now: 1 })
    expect(estimateMs(e, key)).toBe(100)
    e = observeDuration(e, { key, node: 'n1', durationMs: 200, now: 2 })
    expect(estimateMs(e, key)).toBeCloseTo(100 + ESTIMATE_ALPHA * 100)
    expect(e.keys[key]?.n1).toEqual({ mean: 130, n: 2, at: 2 })
  })

  it('ignores a duration that is not a finite non-negative number', () => {
    const e = emptyEstimates()
    expect(observeDuration(e, { key: 'k', node: 'n', durationMs: Number.NaN, now: 1 })).toBe(e)
    expect(observeDuration(e, { key: 'k', node: 'n', durationMs: -1, now: 1 })).toBe(e)
  })

  it('combines the nodes weighted by their history, capped at 10 runs', () => {
    let e = emptyEstimates()
    for (let i = 0; i < 30; i++) e = observeDuration(e, { key: 'k', node: 'busy', durationMs: 100, now: i })
    e = observeDuration(e, { key: 'k', node: 'new', durationMs: 1200, now: 99 })
    expect(estimateMs(e, 'k')).toBeCloseTo((10 * 100 + 1 * 1200) / 11)
  })

  it('survives a JSON round trip and keeps "__proto__" as data', () => {
    const e = observeDuration(emptyEstimates(), { key: '__proto__', node: 'n', durationMs: 5, now: 1 })
    expect(Object.getPrototypeOf(e.keys)).toBe(Object.prototype)
    expect(estimateMs(JSON.parse(JSON.stringify(e)) as Estimates, '__proto__')).toBe(5)
    expect(estimateMs(mergeEstimates(emptyEstimates(), e), '__proto__')).toBe(5)
  })

  it('parseEstimates rejects a bad record', () => {
    expect(() => parseEstimates({ v: 1, keys: { k: { n: { mean: -1, n: 1, at: 0 } } } })).toThrow(/keys\.k\.n\.mean/)
    expect(() => parseEstimates({ v: 2, keys: {} })).toThrow(/invalid estimates/)
  })

  // Random estimates built the only way a node builds them: each node observing its own runs.
  const observations = fc.array(fc.record({
    key: fc.constantFrom('a', 'b', 'c'),
    node: fc.constantFrom('n1', 'n2', 'n3'),
    durationMs: fc.integer({ min: 0, max: 1000 }),
    now: fc.integer({ min: 0, max: 100 })
  }), { maxLength: 12 })
  const build = (obs: Array<{ key: string, node: string, durationMs: number, now: number }>): Estimates =>
    obs.reduce((e, o) => observeDuration(e, o), emptyEstimates())
  // Compared as strings: deep equality on records of thousands of entries is slow.
  const canonical = (e: Estimates): string => JSON.stringify(Object.entries(e.keys).sort(([a], [b]) => a < b ? -1 : 1).map(([k, s]) => [k, Object.entries(s).sort(([a], [b]) => a < b ? -1 : 1)]))

  it('merge is commutative, associative and idempotent (property)', () => {
    fc.assert(fc.property(observations, observations, observations, (x, y, z) => {
      const [a, b, c] = [build(x), build(y), build(z)]
      expect(canonical(mergeEstimates(a, b))).toBe(canonical(mergeEstimates(b, a)))
      expect(canonical(mergeEstimates(mergeEstimates(a, b), c))).toBe(canonical(mergeEstimates(a, mergeEstimates(b, c))))
      expect(canonical(mergeEstimates(a, a))).toBe(canonical(a))
      expect(canonical(parseEstimates(JSON.parse(JSON.stringify(a))))).toBe(canonical(a))
    }))
  })

  it('merge keeps its laws when cutting each key to its most experienced nodes (property)', () => {
    // Records past both limits, built from a seed (fast-check generating thousands of entries is slow).
    const record = fc.integer().map(seed => {
      let x = seed | 0
      const rand = (m: number): number => { x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0; return ((x >>> 0) % m) }
      const keys: Record<string, Record<string, { mean: number, n: number, at: number }>> = {}
      // A few hot keys seen by many nodes, and more keys than a record keeps.
      const put = (key: number): void => {
        (keys[`k${key}`] ??= {})[`n${rand(MAX_ESTIMATE_NODES + 4)}`] = { mean: rand(1000), n: 1 + rand(4), at: rand(4) }
      }
      for (let i = 0; i < 200; i++) put(rand(10))
      for (let i = 0; i < MAX_ESTIMATE_KEYS + 40; i++) put(10 + 2 * i + rand(2))
      // What parseEstimates does to a received record, without its (slow, here pointless) schema pass.
      return trimEstimates(mergeEstimates(emptyEstimates(), { v: 1, keys }))
    })
    fc.assert(fc.property(record, record, record, (a, b, c) => {
      expect(Object.keys(a.keys).length).toBe(MAX_ESTIMATE_KEYS)
      const ab = mergeEstimates(a, b)
      expect(Object.keys(trimEstimates(ab).keys).length).toBe(MAX_ESTIMATE_KEYS)
      for (const s of Object.values(ab.keys)) expect(Object.keys(s).length).toBeLessThanOrEqual(MAX_ESTIMATE_NODES)
      expect(canonical(ab)).toBe(canonical(mergeEstimates(b, a)))
      expect(canonical(mergeEstimates(ab, c))).toBe(canonical(mergeEstimates(a, mergeEstimates(b, c))))
      expect(canonical(mergeEstimates(ab, ab))).toBe(canonical(ab))
    }), { numRuns: 5 })
  })
})
