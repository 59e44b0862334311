import { IndexHeap } from './heap.js'
import type { FrameworkModel } from './model.js'
import { EPSILON } from './validate.js'

export interface FillOptions {
  /**
   * How many grants in a row, per framework still filling, before the fill leaps ahead by
   * bisection instead of granting task by task. Tests lower it to exercise the leap; Infinity
   * turns leaping off.
   * @default 4
   */
  leapAfter?: number
}

/** Bisection steps of one leap: enough to narrow any level to 2^-64 of its range. */
const LEAP_STEPS = 64

/**
 * Progressive filling of one pool by whole tasks (DRF): the framework with the lowest weighted
 * dominant share (ties: name order) gets the next task if it fits, and stops for good if it does
 * not, since the pool only fills up. Returns the task count per framework.
 *
 * Task by task this costs O(T log n) for T tasks, and T can be huge (a 1-millicore demand on a
 * big cluster). So after a long streak of grants the fill leaps: framework f's j-th task always
 * carries the key (j × unit_f, name_f), and the task-by-task fill grants keys in increasing order
 * until the first one that does not fit. Whatever set of keys below a level t fits all together
 * is therefore exactly what the task-by-task fill would grant before reaching t, so a bisection
 * on t grants it at once. The leap is amortised against the streak that triggered it, so the
 * fill is never much slower than task by task and is often independent of T.
 */
export function fillPool (m: FrameworkModel, capacity: Float64Array, options: FillOptions = {}): Float64Array {
  const { n, R, unit, maxTasks, demand, needs } = m
  const tasks = new Float64Array(n)
  const key = new Float64Array(n)
  const used = new Float64Array(R)
  const need = new Float64Array(R)
  const heap = new IndexHeap(n, key, m.rank)
  for (let f = 0; f < n; f++) {
    if ((maxTasks[f] ?? 0) > 0 && Number.isFinite(unit[f])) heap.push(f)
  }

  const fitsOne = (f: number): boolean => {
    for (const r of needs[f] ?? []) {
      if ((used[r] ?? 0) + (demand[f * R + r] ?? 0) > (capacity[r] ?? 0) + EPSILON) return false
    }
    return true
  }

  // How many of f's next tasks have keys strictly below t.
  const countBelow = (f: number, t: number): number => {
    const u = unit[f] ?? 0
    const k = tasks[f] ?? 0
    if (!(k * u < t)) return 0
    let j = Math.ceil(t / u)
    // the division rounds; settle j as the first index whose key, computed as the heap does, reaches t
    if (j < 2 ** 52) {
      while (j > k && (j - 1) * u >= t) j--
      while (j * u < t) j++
    }
    return Math.min(j, maxTasks[f] ?? 0) - k
  }

  const fitsBelow = (active: readonly number[], t: number): boolean => {
    need.set(used)
    for (const f of active) {
      const c = countBelow(f, t)
      if (c > 0) for (const r of needs[f] ?? []) need[r] = (need[r] ?? 0) + c * (demand[f * R + r] ?? 0)
    }
    for (let r = 0; r < R; r++) if ((need[r] ?? 0) > (capacity[r] ?? 0) + EPSILON) return false
    return true
  }

  const leap = (): void => {
    const active = heap.contents()
    let lo = key[heap.peek()] ?? 0
    // at hi, each framework alone would overflow the pool or reach maxTasks
    let hi = lo
    for (const f of active) {
      let room = (maxTasks[f] ?? 0) - (tasks[f] ?? 0)
      for (const r of needs[f] ?? []) {
        const free = (capacity[r] ?? 0) - (used[r] ?? 0) + EPSILON
        room = Math.min(room, Math.max(0, Math.floor(free / (demand[f * R + r] ?? 1))) + 1)
      }
      hi = Math.max(hi, ((tasks[f] ?? 0) + room) * (unit[f] ?? 0))
    }
    // about (hi - lo) × keysPerLevel keys lie between lo and hi; once that is no more than one
    // per framework, granting them task by task is cheaper than bisecting further
    let keysPerLevel = 0
    for (const f of active) keysPerLevel += 1 / (unit[f] ?? 1)
    if (fitsBelow(active, hi)) {
      lo = hi
    } else {
      for (let step = 0; step < LEAP_STEPS; step++) {
        if ((hi - lo) * keysPerLevel <= active.length) break
        const mid = lo + (hi - lo) / 2
        if (!(mid > lo && mid < hi)) break
        if (fitsBelow(active, mid)) lo = mid
        else hi = mid
      }
    }
    const still: number[] = []
    for (const f of active) {
      const c = countBelow(f, lo)
      if (c > 0) {
        tasks[f] = (tasks[f] ?? 0) + c
        for (const r of needs[f] ?? []) used[r] = (used[r] ?? 0) + c * (demand[f * R + r] ?? 0)
      }
      if ((tasks[f] ?? 0) < (maxTasks[f] ?? 0)) {
        key[f] = (tasks[f] ?? 0) * (unit[f] ?? 0)
        still.push(f)
      }
    }
    heap.reset(still)
  }

  const leapAfter = options.leapAfter ?? 4
  const leaping = Number.isFinite(leapAfter)
  let streak = 0
  while (heap.size > 0) {
    const f = heap.peek()
    if (!fitsOne(f)) {
      heap.pop()
      streak = 0
      continue
    }
    // at least one grant between leaps, so a leap that finds nothing to skip can't repeat forever
    if (leaping && streak >= Math.max(1, leapAfter * heap.size)) {
      leap()
      streak = 0
      continue
    }
    const k = (tasks[f] ?? 0) + 1
    tasks[f] = k
    for (const r of needs[f] ?? []) used[r] = (used[r] ?? 0) + (demand[f * R + r] ?? 0)
    if (k >= (maxTasks[f] ?? 0)) {
      heap.pop()
    } else {
      key[f] = k * (unit[f] ?? 0)
      heap.updateTop()
    }
    streak++
  }
  return tasks
}
