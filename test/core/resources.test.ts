import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { addResources, subtractResources, fits, shortfall, dominantFraction, normalizeResources, formatResources, isZero } from '../../src/core/resources.js'

describe('resource vectors', () => {
  it.each<{ demand: Record<string, number>, free: Record<string, number>, fits: boolean }>([
    { demand: { cpu: 1000 }, free: { cpu: 1000 }, fits: true },
    { demand: { cpu: 1001 }, free: { cpu: 1000 }, fits: false },
    { demand: { cpu: 500, gpu: 1 }, free: { cpu: 1000 }, fits: false },
    { demand: { cpu: 500, gpu: 0 }, free: { cpu: 1000 }, fits: true },
    { demand: { 'license:x': 1 }, free: { 'license:x': 2 }, fits: true },
    { demand: { memMb: 0.3 }, free: { memMb: 0.1 + 0.2 }, fits: true }
  ])('fits($demand, $free) = $fits', ({ demand, free, fits: want }) => {
    expect(fits(demand, free)).toBe(want)
  })

  it('names the short resources', () => {
    expect(shortfall({ cpu: 2000, memMb: 10, gpu: 1 }, { cpu: 1000, memMb: 100 })).toEqual(['cpu', 'gpu'])
  })

  it('dominant fraction is the largest share; a resource with no capacity is infinite', () => {
    expect(dominantFraction({ cpu: 1000, memMb: 4096 }, { cpu: 9000, memMb: 18432 })).toBeCloseTo(4096 / 18432)
    expect(dominantFraction({ gpu: 1 }, { cpu: 1 })).toBe(Number.POSITIVE_INFINITY)
    expect(dominantFraction({}, { cpu: 1 })).toBe(0)
  })

  it('formats cpu in cores and drops zeros', () => {
    expect(formatResources({ cpu: 1500, memMb: 512, gpu: 0 })).toBe('cpu=1.5 memMb=512')
  })

  it('add then subtract is the identity (property)', () => {
    const vec = fc.dictionary(fc.constantFrom('cpu', 'memMb', 'gpu', 'disk'), fc.integer({ min: 0, max: 1_000_000 }))
    fc.assert(fc.property(vec, vec, (a, b) => {
      expect(isZero(subtractResources(addResources(a, b), addResources(a, b)))).toBe(true)
      expect(normalizeResources(subtractResources(addResources(a, b), b))).toEqual(normalizeResources(a))
      expect(fits(a, addResources(a, b))).toBe(true)
    }))
  })
})
