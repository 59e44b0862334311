import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { buildGraph, type GraphTask } from '../../src/dag/graph.js'
import { topoIndices, topoOrder } from '../../src/dag/topo.js'
import { findCycles } from '../../src/dag/cycles.js'
import { readyTasks, type NodeStatus } from '../../src/dag/ready.js'
import { criticalPath } from '../../src/dag/critical-path.js'

interface RandomDag { tasks: GraphTask[], edges: Array<[from: string, to: string]> }

/**
 * A random DAG of up to `max` tasks: edges only go forward in a hidden order, and the spec order
 * is a shuffle of it, so the graph is acyclic without its spec order being a topological one.
 */
function dag (max = 9): fc.Arbitrary<RandomDag> {
  return fc.integer({ min: 1, max }).chain(n => fc.tuple(
    fc.array(fc.boolean(), { minLength: n * n, maxLength: n * n }),
    fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n })
  ).map(([bits, perm]) => {
    const name = (i: number): string => `t${i}`
    const edges: Array<[string, string]> = []
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (bits[i * n + j] === true) edges.push([name(i), name(j)])
    const tasks = perm.map(i => ({ name: name(i), needs: edges.filter(([, to]) => to === name(i)).map(([from]) => from) }))
    return { tasks, edges }
  }))
}

/** Any directed graph, cycles allowed. */
function digraph (max = 7): fc.Arbitrary<GraphTask[]> {
  return fc.integer({ min: 1, max }).chain(n => fc.array(fc.subarray([...Array(n).keys()]), { minLength: n, maxLength: n })
    .map(needs => needs.map((ns, i) => ({ name: `t${i}`, needs: ns.map(j => `t${j}`) }))))
}

describe('topological order', () => {
  it('respects every edge and lists each task once (property)', () => {
    fc.assert(fc.property(dag(), ({ tasks, edges }) => {
      const order = topoOrder(buildGraph(tasks))
      expect([...order].sort()).toEqual(tasks.map(t => t.name).sort())
      for (const [from, to] of edges) expect(order.indexOf(from)).toBeLessThan(order.indexOf(to))
    }))
  })

  it('is deterministic and keeps independent tasks in spec order', () => {
    const tasks = [{ name: 'c', needs: [] }, { name: 'a', needs: [] }, { name: 'b', needs: ['c'] }, { name: 'd', needs: ['a', 'b'] }]
    expect(topoOrder(buildGraph(tasks))).toEqual(['c', 'a', 'b', 'd'])
    expect(topoOrder(buildGraph(tasks))).toEqual(topoOrder(buildGraph(tasks.map(t => ({ ...t })))))
  })

  it('throws a ValidationError naming the cycle', () => {
    expect(() => topoOrder(buildGraph([{ name: 'a', needs: ['b'] }, { name: 'b', needs: ['a'] }]))).toThrow('cycle: a → b → a')
  })

  it('exists exactly when no cycle is found, and every cycle found is real (property)', () => {
    fc.assert(fc.property(digraph(), tasks => {
      const graph = buildGraph(tasks)
      const cycles = findCycles(graph)
      expect(topoIndices(graph) === undefined).toBe(cycles.length > 0)
      for (const c of cycles) {
        // Each task needs the one before it, and the first needs the last.
        c.tasks.forEach((t, k) => {
          const before = c.tasks[(k + c.tasks.length - 1) % c.tasks.length]!
          expect(tasks[t]!.needs).toContain(`t${before}`)
        })
        expect(new Set(c.tasks).size).toBe(c.tasks.length)
      }
    }))
  })
})

describe('ready set', () => {
  const statuses: NodeStatus[] = ['waiting', 'running', 'succeeded', 'failed', 'skipped', 'cancelled']

  it('equals the brute-force definition over the edge list (property)', () => {
    fc.assert(fc.property(dag(), fc.array(fc.constantFrom(...statuses), { minLength: 9, maxLength: 9 }), ({ tasks, edges }, picks) => {
      const status: Record<string, NodeStatus> = {}
      // Leave some tasks out: missing means waiting.
      tasks.forEach((t, i) => { if (i % 4 !== 3) status[t.name] = picks[i]! })
      const of = (name: string): NodeStatus => status[name] ?? 'waiting'
      const brute = tasks.map(t => t.name).filter(name =>
        of(name) === 'waiting' && edges.every(([from, to]) => to !== name || of(from) === 'succeeded'))
      expect(readyTasks(buildGraph(tasks), status)).toEqual(brute)
    }))
  })
})

describe('critical path', () => {
  it('matches brute force over every path (property)', () => {
    fc.assert(fc.property(dag(8), fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 8, maxLength: 8 }), ({ tasks, edges }, ds) => {
      const duration = (name: string): number => ds[Number(name.slice(1))]!
      const next = (name: string): string[] => edges.filter(([from]) => from === name).map(([, to]) => to)
      // Every path from `name` to a task nothing needs, by enumeration.
      const paths = (name: string): string[][] => {
        const after = next(name)
        return after.length === 0 ? [[name]] : after.flatMap(n => paths(n).map(p => [name, ...p]))
      }
      const sum = (p: readonly string[]): number => p.reduce((a, n) => a + duration(n), 0)
      const cp = criticalPath(buildGraph(tasks), duration)
      for (const t of tasks) expect(cp.remainingMs[t.name]).toBe(Math.max(...paths(t.name).map(sum)))
      const longest = Math.max(...tasks.map(t => t.name).filter(n => tasks.find(t => t.name === n)!.needs.length === 0).flatMap(n => paths(n).map(sum)))
      expect(cp.lengthMs).toBe(longest)
      // The path itself: starts with no needs, follows edges, ends where nothing needs it, and is that long.
      expect(sum(cp.path)).toBe(longest)
      expect(tasks.find(t => t.name === cp.path[0])!.needs).toEqual([])
      for (let k = 1; k < cp.path.length; k++) expect(next(cp.path[k - 1]!)).toContain(cp.path[k])
      expect(next(cp.path[cp.path.length - 1]!)).toEqual([])
    }))
  })

  it('follows the longer branch of a diamond', () => {
    const tasks = [{ name: 'a', needs: [] }, { name: 'b', needs: ['a'] }, { name: 'c', needs: ['a'] }, { name: 'd', needs: ['b', 'c'] }]
    const cp = criticalPath(buildGraph(tasks), n => ({ a: 1, b: 5, c: 9, d: 2 })[n] ?? 0)
    expect(cp).toEqual({ remainingMs: { a: 12, b: 7, c: 11, d: 2 }, path: ['a', 'c', 'd'], lengthMs: 12 })
  })
})
