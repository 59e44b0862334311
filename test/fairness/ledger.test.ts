import '../../src/polyfill.js'
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import type { NodeAdvert } from '../../src/core/advert.js'
import { isDeepStrictEqual } from 'node:util'
import type { Resources } from '../../src/core/resources.js'
import { FairnessLedger, dominantShare, type NodeUsageReport } from '../../src/fairness/index.js'
import { totalOf, vector } from './helpers.js'

const positive = (v: Resources): Record<string, number> => Object.fromEntries(Object.entries(v).filter(([, x]) => x > 0))

describe('FairnessLedger', () => {
  it('folds node reports into global usage, shares and bid order', () => {
    const ledger = new FairnessLedger({ weights: { batch: 2 } })
    ledger.report('peer-a', { capacity: { cpu: 8000, memMb: 16384 }, usageByFramework: { web: { cpu: 2000 } } })
    ledger.report('peer-b', { capacity: { cpu: 8000, memMb: 16384 }, usageByFramework: { batch: { memMb: 8192 }, web: { cpu: 1000, memMb: 1024 } } })
    expect(ledger.totalCapacity()).toEqual({ cpu: 16000, memMb: 32768 })
    expect(ledger.usage('web')).toEqual({ cpu: 3000, memMb: 1024 })
    expect(ledger.dominantShare('web')).toBeCloseTo(3000 / 16000, 12)
    expect(ledger.dominantShare('batch')).toBeCloseTo(8192 / 32768 / 2, 12)
    expect(ledger.dominantShares()).toEqual({ batch: 0.125, web: 0.1875 })
    expect(ledger.order(['web', 'batch', 'ml'])).toEqual(['ml', 'batch', 'web'])
    expect(ledger.frameworks()).toEqual(['batch', 'web'])
    expect(ledger.size).toBe(2)
  })

  it('a new report replaces the old one; a removed node leaves the totals', () => {
    const ledger = new FairnessLedger()
    ledger.report('a', { capacity: { cpu: 4 }, usageByFramework: { x: { cpu: 3 } } })
    ledger.report('b', { capacity: { cpu: 4 }, usageByFramework: { x: { cpu: 1 }, y: { cpu: 2 } } })
    ledger.report('a', { capacity: { cpu: 4 }, usageByFramework: { y: { cpu: 1 } } })
    expect(ledger.usage('x')).toEqual({ cpu: 1 })
    expect(ledger.usage('y')).toEqual({ cpu: 3 })
    expect(ledger.remove('b')).toBe(true)
    expect(ledger.remove('b')).toBe(false)
    expect(ledger.usage('x')).toEqual({})
    expect(ledger.totalCapacity()).toEqual({ cpu: 4 })
    expect(ledger.dominantShare('y')).toBe(0.25)
  })

  it('goes back to exactly zero when the last holder leaves, whatever float dust the sums made', () => {
    const ledger = new FairnessLedger()
    ledger.report('a', { capacity: { cpu: 1 }, usageByFramework: { x: { cpu: 0.1 } } })
    ledger.report('b', { capacity: { cpu: 1 }, usageByFramework: { x: { cpu: 0.2 } } })
    ledger.report('a', { capacity: { cpu: 1 }, usageByFramework: {} })
    ledger.report('b', { capacity: { cpu: 1 }, usageByFramework: { x: { cpu: 0 } } })
    expect(ledger.usage('x')).toEqual({})
    expect(ledger.dominantShare('x')).toBe(0)
    expect(ledger.frameworks()).toEqual([])
  })

  it('weights divide the share, and equal shares go by name in code-unit order', () => {
    const ledger = new FairnessLedger()
    ledger.report('a', { capacity: { cpu: 10 }, usageByFramework: { B: { cpu: 2 }, a: { cpu: 2 }, c: { cpu: 4 } } })
    expect(ledger.order(['c', 'a', 'B'])).toEqual(['B', 'a', 'c'])
    ledger.setWeight('c', 2)
    expect(ledger.weight('c')).toBe(2)
    expect(ledger.dominantShare('c')).toBeCloseTo(0.2, 12)
    expect(ledger.order(['c', 'a', 'B'])).toEqual(['B', 'a', 'c'])
    ledger.setWeight('c', 4)
    expect(ledger.order(['c', 'a', 'B'])).toEqual(['c', 'B', 'a'])
  })

  it('says what a grant would do to a share, without recording it', () => {
    const ledger = new FairnessLedger({ weights: { x: 2 } })
    ledger.report('a', { capacity: { cpu: 10, gpu: 2 }, usageByFramework: { x: { cpu: 2 } } })
    expect(ledger.dominantShareWith('x', { cpu: 2 })).toBeCloseTo(0.2, 12)
    expect(ledger.dominantShareWith('x', { gpu: 1 })).toBeCloseTo(0.25, 12)
    expect(ledger.dominantShareWith('new', { cpu: 5 })).toBeCloseTo(0.5, 12)
    expect(ledger.dominantShare('x')).toBeCloseTo(0.1, 12)
  })

  it('a share of a resource no node offers is Infinity, sorts last, and is never NaN', () => {
    const ledger = new FairnessLedger()
    ledger.report('a', { capacity: { cpu: 4 }, usageByFramework: { odd: { gpu: 1 }, web: { cpu: 1 } } })
    expect(ledger.dominantShare('odd')).toBe(Number.POSITIVE_INFINITY)
    expect(ledger.order(['odd', 'web'])).toEqual(['web', 'odd'])
    const empty = new FairnessLedger()
    expect(empty.dominantShare('x')).toBe(0)
    expect(empty.dominantShareWith('x', { cpu: 1 })).toBe(Number.POSITIVE_INFINITY)
    expect(empty.totalCapacity()).toEqual({})
  })

  it('takes an advert as a report', () => {
    // compile-time: every NodeAdvert is a NodeUsageReport, whatever else adverts come to carry
    const asReport = (advert: NodeAdvert): NodeUsageReport => advert
    const advert = { peer: 'p', capacity: { cpu: 4000 }, free: { cpu: 3000 }, usageByFramework: { web: { cpu: 1000 } } }
    const ledger = new FairnessLedger()
    ledger.report(advert.peer, asReport(advert as unknown as NodeAdvert))
    expect(ledger.dominantShare('web')).toBe(0.25)
  })

  it.each<{ name: string, run: (l: FairnessLedger) => unknown, path: string }>([
    { name: 'a negative usage', run: l => l.report('a', { capacity: { cpu: 1 }, usageByFramework: { x: { cpu: -1 } } }), path: 'usageByFramework.x.cpu' },
    { name: 'a NaN capacity', run: l => l.report('a', { capacity: { cpu: Number.NaN }, usageByFramework: {} }), path: 'capacity.cpu' },
    { name: 'an empty node id', run: l => l.report('', { capacity: { cpu: 1 }, usageByFramework: {} }), path: 'nodeId' },
    { name: 'a missing usage map', run: l => l.report('a', { capacity: { cpu: 1 } } as unknown as NodeUsageReport), path: 'usageByFramework' },
    { name: 'a zero weight', run: l => l.setWeight('x', 0), path: 'weight' },
    { name: 'an infinite weight', run: l => l.setWeight('x', Number.POSITIVE_INFINITY), path: 'weight' },
    { name: 'an empty framework name', run: l => l.setWeight('', 1), path: 'framework' },
    { name: 'a negative extra', run: l => l.dominantShareWith('x', { cpu: -1 }), path: 'extra.cpu' },
    { name: 'a bad initial weight', run: () => new FairnessLedger({ weights: { x: -1 } }), path: 'weights.x' }
  ])('rejects $name, naming $path, and stays unchanged', ({ run, path }) => {
    const ledger = new FairnessLedger()
    ledger.report('a', { capacity: { cpu: 2 }, usageByFramework: { x: { cpu: 1 } } })
    expect(() => run(ledger)).toThrow(expect.objectContaining({ name: 'ValidationError', issues: [expect.objectContaining({ path })] }))
    expect(ledger.usage('x')).toEqual({ cpu: 1 })
    expect(ledger.totalCapacity()).toEqual({ cpu: 2 })
    expect(ledger.weight('x')).toBe(1)
  })

  type Op =
    | { kind: 'report', node: string, report: NodeUsageReport }
    | { kind: 'remove', node: string }
    | { kind: 'weight', framework: string, weight: number }

  const FRAMEWORKS = ['a', 'b', 'c', 'd']
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ node: fc.constantFrom('n1', 'n2', 'n3'), capacity: vector(64), usage: fc.dictionary(fc.constantFrom(...FRAMEWORKS), vector(16)) })
      .map(({ node, capacity, usage }) => ({ kind: 'report' as const, node, report: { capacity, usageByFramework: usage } })) },
    { weight: 1, arbitrary: fc.constantFrom('n1', 'n2', 'n3').map(node => ({ kind: 'remove' as const, node })) },
    { weight: 1, arbitrary: fc.record({ framework: fc.constantFrom(...FRAMEWORKS), weight: fc.constantFrom(0.5, 1, 2, 3) }).map(w => ({ kind: 'weight' as const, ...w })) }
  )

  it('keeps the same totals, shares and order as summing every report from scratch (property)', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 25 }), ops => {
      const ledger = new FairnessLedger()
      const reports = new Map<string, NodeUsageReport>()
      const weights = new Map<string, number>()
      return ops.every(o => {
        if (o.kind === 'report') { ledger.report(o.node, o.report); reports.set(o.node, o.report) }
        if (o.kind === 'remove' && ledger.remove(o.node) !== reports.delete(o.node)) return false
        if (o.kind === 'weight') { ledger.setWeight(o.framework, o.weight); weights.set(o.framework, o.weight) }

        const capacity = positive(totalOf([...reports.values()].map(r => r.capacity)))
        const want = { capacity, usage: {} as Record<string, Resources>, shares: {} as Record<string, number>, order: [] as string[] }
        for (const f of FRAMEWORKS) {
          const usage = positive(totalOf([...reports.values()].map(r => r.usageByFramework[f] ?? {})))
          want.usage[f] = usage
          // the reference: 0 for no usage, Infinity for usage where there is no capacity
          want.shares[f] = Object.keys(usage).length === 0
            ? 0
            : Object.keys(capacity).length === 0 ? Number.POSITIVE_INFINITY : dominantShare(usage, capacity, weights.get(f) ?? 1)
        }
        want.order = [...FRAMEWORKS].sort((x, y) => (want.shares[x] ?? 0) - (want.shares[y] ?? 0) || (x < y ? -1 : 1))
        const got = {
          capacity: ledger.totalCapacity(),
          usage: Object.fromEntries(FRAMEWORKS.map(f => [f, ledger.usage(f)])),
          shares: Object.fromEntries(FRAMEWORKS.map(f => [f, ledger.dominantShare(f)])),
          order: ledger.order([...FRAMEWORKS].reverse())
        }
        return isDeepStrictEqual(got, want)
      })
    }), { numRuns: 80 })
  })
})
