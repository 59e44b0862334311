import type { Resources } from '../core/resources.js'
import { Candidates } from './candidates.js'
import { IndexHeap } from './heap.js'
import type { FrameworkModel } from './model.js'
import { EPSILON, compareNames } from './validate.js'

/** A node as the placement needs it. */
interface PlaceNode {
  readonly id: string
  readonly capacity: Resources
}

export interface Placed {
  tasks: Float64Array
  /** Per framework: node index → tasks. */
  placed: Array<Map<number, number> | undefined>
  /** N × R free amounts at the end. */
  free: Float64Array
}

export interface PlaceOptions {
  /**
   * Keep per-framework candidate trees so that a framework's turn re-scores only the nodes that
   * changed since its last turn. Same answer either way; tests turn it off to check that.
   * @default true
   */
  candidates?: boolean
}

/** Candidate trees are kept only while all of them together stay below this many leaves. */
const MAX_CANDIDATE_ENTRIES = 1 << 22

/**
 * DRFH progressive filling with best-fit placement over typed arrays: the loop behind `drfPlace`
 * (whose TSDoc says what it computes). Returns task counts, per-node placements and what is left.
 */
export function place (m: FrameworkModel, nodes: readonly PlaceNode[], options: PlaceOptions = {}): Placed {
  const { n, R, unit, maxTasks, demand, needs, dominant, total } = m
  const N = nodes.length
  const index = new Map(m.resources.map((name, r) => [name, r]))

  const free = new Float64Array(N * R)
  nodes.forEach((node, l) => {
    for (const [name, amount] of Object.entries(node.capacity)) free[l * R + (index.get(name) ?? 0)] = amount
  })
  const idRank = new Int32Array(N)
  nodes.map((node, l) => ({ id: node.id, l }))
    .sort((a, b) => compareNames(a.id, b.id))
    .forEach(({ l }, position) => { idRank[l] = position })

  // Shapes are compared over the resources the pool has; one it lacks can't be free anywhere.
  const inv = new Float64Array(R)
  const pooledList: number[] = []
  for (let r = 0; r < R; r++) {
    const t = total[r] ?? 0
    if (t > 0) { inv[r] = 1 / t; pooledList.push(r) }
  }
  const pooled = Int32Array.from(pooledList)
  const shape = new Float64Array(n * R)
  for (let f = 0; f < n; f++) {
    const rho = dominant[f] ?? 0
    const scale = (demand[f * R + rho] ?? 0) * (inv[rho] ?? 0)
    if (scale > 0) for (const r of pooled) shape[f * R + r] = (demand[f * R + r] ?? 0) * (inv[r] ?? 0) / scale
  }

  // The best-fit score of node l for f's next task: the shape distance H, or -1 if the task does
  // not fit. Also leaves the tightness (f's dominant resource free on l, pool-normalised) here.
  let tightOut = 0
  const score = (f: number, l: number): number => {
    const base = l * R
    const row = f * R
    const need = needs[f] ?? EMPTY
    for (let i = 0; i < need.length; i++) {
      const r = need[i] ?? 0
      if ((free[base + r] ?? 0) + EPSILON < (demand[row + r] ?? 0)) return -1
    }
    const rho = dominant[f] ?? 0
    const tight = (free[base + rho] ?? 0) * (inv[rho] ?? 0)
    tightOut = tight
    const per = 1 / tight
    let h = 0
    for (let i = 0; i < pooled.length; i++) {
      const r = pooled[i] ?? 0
      h += Math.abs((shape[row + r] ?? 0) - (free[base + r] ?? 0) * (inv[r] ?? 0) * per)
    }
    return h
  }

  const tasks = new Float64Array(n)
  const key = new Float64Array(n)
  const heap = new IndexHeap(n, key, m.rank)
  for (let f = 0; f < n; f++) {
    if ((maxTasks[f] ?? 0) > 0 && Number.isFinite(unit[f])) heap.push(f)
  }
  const placed: Array<Map<number, number> | undefined> = new Array<Map<number, number> | undefined>(n)

  // Nodes that can't hold the smallest amount every remaining framework needs leave the scan.
  const floor = new Float64Array(R)
  // how many remaining frameworks need exactly the floor: it can only rise when that reaches 0
  const atFloor = new Float64Array(R)
  const holdsFloor = (l: number): boolean => {
    for (let r = 0; r < R; r++) if ((free[l * R + r] ?? 0) + EPSILON < (floor[r] ?? 0)) return false
    return true
  }
  const scan = Int32Array.from({ length: N }, (_, l) => l)
  const scanAt = Int32Array.from({ length: N }, (_, l) => l)
  let scanSize = N
  const prune = (): void => {
    const active = heap.contents()
    for (let r = 0; r < R; r++) {
      let min = Number.POSITIVE_INFINITY
      let count = 0
      for (const f of active) {
        const d = demand[f * R + r] ?? 0
        if (d < min) { min = d; count = 1 } else if (d === min) count++
      }
      floor[r] = active.length > 0 ? min : 0
      atFloor[r] = count
    }
    let kept = 0
    for (let i = 0; i < scanSize; i++) {
      const l = scan[i] ?? 0
      if (holdsFloor(l)) { scanAt[l] = kept; scan[kept++] = l }
    }
    scanSize = kept
  }
  prune()

  // Every grant enters a log of the last `window` grants. A framework with a candidate tree
  // whose previous turn is within the window re-scores just the nodes those grants changed;
  // otherwise it scans every node (and refills its tree, if it keeps one).
  const window = Math.max(8, Math.ceil(N / 2))
  const log = new Int32Array(window)
  let logPos = 0
  const lastTurn = new Float64Array(n).fill(-1)
  // the turn that last re-scored each node, so a node changed twice is re-scored once
  const rescored = new Float64Array(N).fill(-1)
  let turn = 0
  const candidates: Array<Candidates | undefined> = new Array<Candidates | undefined>(n)
  // trees pay when turns come round faster than the window, and must fit in memory
  const keepCandidates = (options.candidates ?? true) && n <= window && n * N <= MAX_CANDIDATE_ENTRIES

  const bestFor = (f: number): number => {
    const since = lastTurn[f] ?? -1
    lastTurn[f] = logPos
    turn++
    let tree = candidates[f]
    if (tree !== undefined && logPos - since <= window) {
      for (let p = since; p < logPos; p++) {
        const l = log[p % window] ?? 0
        if (rescored[l] === turn) continue
        rescored[l] = turn
        const h = score(f, l)
        tree.set(l, h < 0 ? Number.POSITIVE_INFINITY : h, tightOut)
      }
      return tree.best()
    }
    if (tree === undefined && keepCandidates) {
      tree = new Candidates(N, idRank)
      candidates[f] = tree
    } else {
      tree?.clear()
    }
    // the same arithmetic as `score`, inlined with f's values hoisted: this loop is most of the time
    const row = f * R
    const need = needs[f] ?? EMPTY
    const needAmount = Float64Array.from(need, r => demand[row + r] ?? 0)
    const needs0 = need.length
    const rho = dominant[f] ?? 0
    const invRho = inv[rho] ?? 0
    const pooledN = pooled.length
    const fShape = shape.subarray(row, row + R)
    let best = -1
    let bestH = 0
    let bestTight = 0
    for (let i = 0; i < scanSize; i++) {
      const l = scan[i] ?? 0
      const base = l * R
      let fits = true
      for (let j = 0; j < needs0; j++) {
        if ((free[base + (need[j] ?? 0)] ?? 0) + EPSILON < (needAmount[j] ?? 0)) { fits = false; break }
      }
      if (!fits) continue
      const tight = (free[base + rho] ?? 0) * invRho
      const per = 1 / tight
      let h = 0
      for (let j = 0; j < pooledN; j++) {
        const r = pooled[j] ?? 0
        h += Math.abs((fShape[r] ?? 0) - (free[base + r] ?? 0) * (inv[r] ?? 0) * per)
      }
      tree?.put(l, h, tight)
      if (best < 0 || h < bestH || (h === bestH && (tight < bestTight || (tight === bestTight && (idRank[l] ?? 0) < (idRank[best] ?? 0))))) {
        best = l
        bestH = h
        bestTight = tight
      }
    }
    tree?.build()
    return best
  }

  const stop = (f: number): void => {
    heap.pop()
    candidates[f] = undefined
    let rises = false
    for (let r = 0; r < R; r++) {
      if ((demand[f * R + r] ?? 0) === floor[r]) {
        atFloor[r] = (atFloor[r] ?? 0) - 1
        if (atFloor[r] === 0) rises = true
      }
    }
    if (rises) prune()
  }

  while (heap.size > 0) {
    const f = heap.peek()
    const best = bestFor(f)
    if (best < 0) {
      stop(f)
      continue
    }

    const k = (tasks[f] ?? 0) + 1
    tasks[f] = k
    for (const r of needs[f] ?? EMPTY) free[best * R + r] = (free[best * R + r] ?? 0) - (demand[f * R + r] ?? 0)
    log[logPos % window] = best
    logPos++
    let perNode = placed[f]
    if (perNode === undefined) { perNode = new Map(); placed[f] = perNode }
    perNode.set(best, (perNode.get(best) ?? 0) + 1)

    if (k >= (maxTasks[f] ?? 0)) {
      stop(f)
    } else {
      key[f] = k * (unit[f] ?? 0)
      heap.updateTop()
      if (!holdsFloor(best)) {
        // swap-remove from the scan; scan order never decides a tie, idRank does
        const at = scanAt[best] ?? 0
        const last = scan[--scanSize] ?? 0
        scan[at] = last
        scanAt[last] = at
      }
    }
  }
  return { tasks, placed, free }
}

const EMPTY = new Int32Array(0)
