import type { Resources } from '../core/resources.js'
import { EPSILON, Issues, checkVector, checkWeight } from './validate.js'

/**
 * The weighted dominant share of `usage`: `max_r(usage_r / capacity_r) / weight`, the quantity DRF
 * equalises. Amounts at or below 1e-9 count as zero. Usage of a resource the capacity lacks gives
 * Infinity: nothing could be scarcer, and it sorts last rather than poisoning comparisons as NaN
 * would.
 *
 * @throws ValidationError naming each bad field: a negative or non-finite amount, an empty
 * capacity, a weight that is not > 0.
 *
 * @example
 * ```ts
 * dominantShare({ cpu: 3, mem: 12 }, { cpu: 9, mem: 18 })     // 0.666… (mem: 12 of 18)
 * dominantShare({ cpu: 3, mem: 12 }, { cpu: 9, mem: 18 }, 2)  // 0.333…
 * ```
 */
export function dominantShare (usage: Resources, capacity: Resources, weight = 1): number {
  const issues = new Issues()
  checkVector(usage, 'usage', issues, 'usage')
  checkVector(capacity, 'capacity', issues, 'capacity')
  checkWeight(weight, 'weight', issues)
  issues.throwIfAny('dominant share input')

  let max = 0
  for (const [name, amount] of Object.entries(usage)) {
    if (amount <= EPSILON) continue
    const cap = Object.hasOwn(capacity, name) ? capacity[name] ?? 0 : 0
    const share = cap > 0 ? amount / cap : Number.POSITIVE_INFINITY
    if (share > max) max = share
  }
  return max / weight
}
