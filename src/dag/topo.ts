import { ValidationError } from '../core/errors.js'
import type { Graph } from './graph.js'
import { findCycles } from './cycles.js'

/**
 * Task indices in an order where every task comes after all the tasks it needs, or `undefined`
 * when the graph has a cycle. Kahn's algorithm with a FIFO seeded in spec order, so the same graph
 * always gives the same order and independent tasks keep the order they were written in.
 */
export function topoIndices (graph: Graph): number[] | undefined {
  const n = graph.names.length
  const missing = graph.needs.map(ns => ns.length)
  const order: number[] = []
  for (let i = 0; i < n; i++) if (missing[i] === 0) order.push(i)
  // `order` doubles as the queue: everything before `head` has been taken.
  for (let head = 0; head < order.length; head++) {
    for (const d of graph.dependents[order[head]!]!) {
      const left = missing[d]! - 1
      missing[d] = left
      if (left === 0) order.push(d)
    }
  }
  return order.length === n ? order : undefined
}

/**
 * Task names in a deterministic topological order (see `topoIndices`). Throws a ValidationError
 * naming the cycle when there is one.
 */
export function topoOrder (graph: Graph): string[] {
  const order = topoIndices(graph)
  if (order === undefined) {
    throw new ValidationError('workflow', findCycles(graph).map(c => ({ path: '', message: `cycle: ${c.text}` })))
  }
  return order.map(i => graph.names[i]!)
}
