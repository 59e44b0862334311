import { Issues, checkAmount, checkWeight, isRecord, own } from './validate.js'

/**
 * Max-min fairness of one divisible resource, by progressive filling: every user's allocation
 * rises at the rate of its weight until it has what it asked for or the capacity runs out, and
 * what satisfied users leave is shared again among the rest. Nobody gets more than it asks for,
 * and the allocations sum to at most `capacity` (all of it, to rounding, when the demands exceed it).
 * When everything fits, everyone gets exactly its demand.
 *
 * `weights` is optional; a user it does not name has weight 1. Runs in O(n log n).
 *
 * @throws ValidationError naming each bad field: a negative or non-finite capacity or demand, a
 * weight that is not > 0, or a weight for a user that `demands` does not name.
 *
 * @example
 * ```ts
 * maxMinFair(100, { A: 35, B: 10, C: 25, D: 45 })
 * // { A: 32.5, B: 10, C: 25, D: 32.5 }
 * maxMinFair(100, { A: 100, B: 100 }, { A: 3 })
 * // { A: 75, B: 25 }
 * ```
 */
export function maxMinFair (capacity: number, demands: Readonly<Record<string, number>>, weights?: Readonly<Record<string, number>>): Record<string, number> {
  const issues = new Issues()
  checkAmount(capacity, 'capacity', issues)
  if (!isRecord(demands)) issues.add('demands', 'must be an object of amounts by user')
  else for (const [user, d] of Object.entries(demands)) checkAmount(d, `demands.${user}`, issues)
  if (weights !== undefined) {
    if (!isRecord(weights)) issues.add('weights', 'must be an object of weights by user')
    else {
      for (const [user, w] of Object.entries(weights)) {
        // a weight for nobody is almost always a typo in a user name
        if (isRecord(demands) && !Object.hasOwn(demands, user)) issues.add(`weights.${user}`, 'names no user in demands')
        else checkWeight(w, `weights.${user}`, issues)
      }
    }
  }
  issues.throwIfAny('max-min input')

  const users = Object.keys(demands)
  const demand = users.map(u => demands[u] ?? 0)
  const weight = users.map(u => own(weights, u) ?? 1)
  let sum = 0
  for (const d of demand) sum += d
  if (sum <= capacity) return Object.fromEntries(users.map((u, i) => [u, demand[i] ?? 0]))

  // Users in the order their demand is met as the level rises; the first whose demand lies above
  // the level the rest can afford gets the common level, and so does everyone after it.
  const order = users.map((_, i) => i).sort((a, b) => (demand[a] ?? 0) / (weight[a] ?? 1) - (demand[b] ?? 0) / (weight[b] ?? 1))
  const alloc = new Float64Array(users.length)
  let left = capacity
  let weightLeft = 0
  for (const w of weight) weightLeft += w
  let pos = 0
  for (; pos < order.length; pos++) {
    const i = order[pos] ?? 0
    const d = demand[i] ?? 0
    const w = weight[i] ?? 1
    if (d * weightLeft > left * w) break
    alloc[i] = d
    left = Math.max(0, left - d)
    weightLeft -= w
  }
  const capped = order.slice(pos)
  let level = weightLeft > 0 ? left / weightLeft : 0
  const fill = (): number => {
    for (const i of capped) alloc[i] = Math.min(demand[i] ?? 0, (weight[i] ?? 1) * level)
    let total = 0
    for (const a of alloc) total += a
    return total
  }
  // Rounding can leave the sum an ulp or two above the capacity; nudge the level down until it isn't.
  for (let tries = 0; fill() > capacity && tries < 64; tries++) level *= 1 - Number.EPSILON * 2 ** tries
  return Object.fromEntries(users.map((u, i) => [u, alloc[i] ?? 0]))
}
