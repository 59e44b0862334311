import type { Graph } from './graph.js'

/** One cycle, in the order its tasks would have to run: each task needs the one before it. */
export interface Cycle {
  /** Task indices; the first task needs the last one, which closes the cycle. */
  readonly tasks: readonly number[]
  /** `a → b → c → a`. */
  readonly text: string
}

/**
 * One cycle per strongly connected component that has one, each starting at its earliest task in
 * spec order and as short as possible through that task, so that the message is stable and
 * names the fewest tasks. Components are found with Tarjan's algorithm, iteratively so that a
 * 10,000-task chain cannot overflow the stack.
 */
export function findCycles (graph: Graph): Cycle[] {
  const cycles: Cycle[] = []
  for (const component of components(graph)) {
    const start = Math.min(...component)
    const inside = new Set(component)
    const tasks = shortestCycle(graph, start, inside)
    if (tasks !== undefined) {
      cycles.push({ tasks, text: [...tasks, start].map(i => graph.names[i]!).join(' → ') })
    }
  }
  return cycles.sort((a, b) => a.tasks[0]! - b.tasks[0]!)
}

/** Breadth-first from `start` along "is needed by" edges inside one component, back to `start`. */
function shortestCycle (graph: Graph, start: number, inside: ReadonlySet<number>): number[] | undefined {
  const parent = new Map<number, number>()
  const queue = [start]
  for (let head = 0; head < queue.length; head++) {
    const u = queue[head]!
    for (const v of graph.dependents[u]!) {
      if (v === start) {
        const path = [u]
        for (let w = u; w !== start;) { w = parent.get(w)!; path.push(w) }
        return path.reverse()
      }
      if (!inside.has(v) || parent.has(v)) continue
      parent.set(v, u)
      queue.push(v)
    }
  }
  return undefined
}

/** Strongly connected components with more than one task, or one task that needs itself. */
function components (graph: Graph): number[][] {
  const n = graph.names.length
  const order = new Array<number>(n).fill(-1)
  const low = new Array<number>(n).fill(0)
  const onStack = new Array<boolean>(n).fill(false)
  const stack: number[] = []
  const out: number[][] = []
  let counter = 0
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue
    // Each frame is a task and how many of its dependents have been walked.
    const frames: Array<[number, number]> = [[root, 0]]
    order[root] = low[root] = counter++
    stack.push(root); onStack[root] = true
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!
      const [u, k] = frame
      const next = graph.dependents[u]!
      if (k < next.length) {
        frame[1] = k + 1
        const v = next[k]!
        if (order[v] === -1) {
          order[v] = low[v] = counter++
          stack.push(v); onStack[v] = true
          frames.push([v, 0])
        } else if (onStack[v]) {
          low[u] = Math.min(low[u]!, order[v]!)
        }
        continue
      }
      frames.pop()
      const up = frames[frames.length - 1]
      if (up !== undefined) low[up[0]] = Math.min(low[up[0]]!, low[u]!)
      if (low[u] !== order[u]) continue
      const component: number[] = []
      for (;;) {
        const w = stack.pop()!
        onStack[w] = false
        component.push(w)
        if (w === u) break
      }
      if (component.length > 1 || graph.needs[u]!.includes(u)) out.push(component)
    }
  }
  return out
}
