// npm run bench -- dag [runs] [timeoutMs] [leaves] [chain]: workflow overhead on a 10-node in-process swarm, against Dask and BullMQ flows.
//
// Two graphs of tiny inline js tasks, so that what is measured is the driving, not the work:
// - a binary-tree reduction of 1,023 tasks: 512 leaves return 1..512, each inner task sums its
//   two children (`needs` + `inputs`); the root must be 512 · 513 / 2 = 131,328;
// - a chain of 200 tasks: the first returns 1, each next one adds 1 to its predecessor; the last
//   must be 200.
// Wall time runs from `submit` to the workflow's `succeeded`, seen by polling the node it was
// submitted at. A small graph of the same tasks runs first to warm up (worker threads, source
// cache), then each graph runs `runs` times.
import { availableParallelism, loadavg } from 'node:os'
import type { WorkflowStatus } from '../src/workflow/index.js'
import { startSwarm, type TestSwarm } from '../test/helpers/nodes.js'
import { waitFor } from '../test/helpers/wait.js'
import { printTable, writeResults, type Row } from './lib.js'

const tiny = { cpu: 0.01, memMb: 16 }

/** A leaf returns its `v`; an inner task sums its children `a` and `b`. */
const SUM = 'export default async (i) => i.v ?? i.a + i.b'
/** The first link returns its `v`; every other one adds 1 to `prev`. */
const ADD_ONE = 'export default async (i) => i.v ?? i.prev + 1'

/** A binary-tree reduction with `leaves` leaves (a power of two): 2 · leaves − 1 tasks. */
export function treeWorkflow (leaves: number): { body: unknown, tasks: number, expect: number } {
  const tasks: Array<Record<string, unknown>> = []
  for (let i = 0; i < leaves; i++) tasks.push({ name: `n0_${i}`, input: { v: i + 1 } })
  let width = leaves
  for (let level = 1; width > 1; level++) {
    width /= 2
    for (let i = 0; i < width; i++) {
      const a = `n${level - 1}_${2 * i}`
      const b = `n${level - 1}_${2 * i + 1}`
      tasks.push({ name: `n${level}_${i}`, needs: [a, b], inputs: { a: { from: a }, b: { from: b } } })
    }
  }
  return {
    body: { name: 'tree', maxParallel: leaves, defaults: { kind: 'js', source: SUM, resources: tiny }, tasks },
    tasks: tasks.length,
    expect: leaves * (leaves + 1) / 2
  }
}

/** A chain of `n` tasks, each needing the one before. */
export function chainWorkflow (n: number): { body: unknown, tasks: number, expect: number } {
  const tasks: Array<Record<string, unknown>> = [{ name: 'c0', input: { v: 1 } }]
  for (let i = 1; i < n; i++) tasks.push({ name: `c${i}`, needs: [`c${i - 1}`], inputs: { prev: { from: `c${i - 1}` } } })
  return { body: { name: 'chain', defaults: { kind: 'js', source: ADD_ONE, resources: tiny }, tasks }, tasks: n, expect: n }
}

interface Measured { ms: number, ok: boolean, state: string, done: number, total: number, result?: unknown, error?: string }

/** Submits at node `at`, polls that node until the run ends or `timeoutMs` passes. */
async function runOnce (swarm: TestSwarm, at: number, body: unknown, expect: number, timeoutMs: number): Promise<Measured> {
  const wf = swarm.nodes[at]!.workflows
  const t0 = performance.now()
  const { id, total } = wf.submit(body)
  let last: WorkflowStatus | undefined
  let shown = t0
  try {
    await waitFor(async () => {
      last = await wf.get(id)
      // A slow run says how far it got, every 10 s.
      if (performance.now() - shown > 10_000) { shown = performance.now(); console.log(`  ${((shown - t0) / 1000).toFixed(0)} s: ${last?.text ?? 'no status'}`) }
      return last !== undefined && last.state !== 'running'
    }, `workflow ${id} to finish`, timeoutMs, 1)
  } catch {
    // Reported as a row rather than thrown: the other graph may still be measured.
    await wf.cancel(id).catch(() => {})
    return { ms: Number.NaN, ok: false, state: 'timeout', done: last?.done ?? 0, total, error: `not finished after ${timeoutMs} ms: ${last?.text ?? 'no status'}` }
  }
  const ms = performance.now() - t0
  const s = last!
  return { ms, ok: s.state === 'succeeded' && s.result === expect, state: s.state, done: s.done, total: s.total, result: s.result, ...(s.error !== undefined ? { error: s.error } : {}) }
}

const median = (xs: number[]): number => {
  if (xs.some(Number.isNaN)) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : ((s[m - 1]! + s[m]!) / 2)
}

export async function run (args: string[]): Promise<void> {
  const runs = Math.max(1, Number(args[0] ?? 3))
  const timeoutMs = Number(args[1] ?? 120_000)
  // Smaller graphs for a quick look; the figures to compare are for the defaults (512 leaves = 1,023 tasks, 200).
  const leaves = Number(args[2] ?? 512)
  const chain = Number(args[3] ?? 200)
  if (!Number.isInteger(Math.log2(leaves))) throw new Error(`leaves must be a power of two, got ${leaves}`)
  const nodes = 10
  // Other work on the machine moves these figures a lot: the load is printed and kept with them.
  const loadBefore = loadavg()[0]!
  const swarm = await startSwarm(nodes, () => ({ capacity: { cpu: 16, memMb: 16_384 } }))
  const measured: Record<string, Measured[]> = {}
  try {
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === nodes), 'complete views', 60_000)
    const graphs = [
      { key: 'tree', what: `binary-tree reduction, ${2 * leaves - 1} tasks`, ...treeWorkflow(leaves) },
      { key: 'chain', what: `chain of ${chain} dependent tasks`, ...chainWorkflow(chain) }
    ]
    for (const g of graphs) {
      // Same sources on a small graph: starts worker threads and fills the source cache on every node.
      const small = g.key === 'tree' ? treeWorkflow(16) : chainWorkflow(10)
      const warm = await runOnce(swarm, 0, small.body, small.expect, timeoutMs)
      console.log(`${g.key}: warm-up ${warm.ms.toFixed(0)} ms, ${warm.state}, result ${JSON.stringify(warm.result)}${warm.error !== undefined ? ` (${warm.error})` : ''}`)
      const list: Measured[] = []
      for (let r = 0; r < runs; r++) {
        // Submitted at a different node each time: any node can drive a workflow.
        const m = await runOnce(swarm, (r + 1) % nodes, g.body, g.expect, timeoutMs)
        console.log(`${g.key}: run ${r + 1}: ${m.ms.toFixed(1)} ms, ${m.state}, result ${JSON.stringify(m.result)} (want ${g.expect})${m.error !== undefined ? ` (${m.error})` : ''}`)
        list.push(m)
      }
      measured[g.key] = list
    }
    const rows: Row[] = graphs.map(g => {
      const list = measured[g.key]!
      // A run that timed out counts as NaN: the median says so rather than hiding it.
      const wall = median(list.map(m => m.ms))
      const best = Math.min(...list.map(m => Number.isNaN(m.ms) ? Infinity : m.ms))
      return {
        what: g.what,
        'wall p50 (s)': wall / 1000,
        'wall best (s)': best / 1000,
        'per task (ms)': wall / g.tasks,
        'correct runs': `${list.filter(m => m.ok).length}/${list.length}`
      }
    })
    printTable(`bidmesh workflows, ${nodes}-node in-process swarm, ${runs} runs each (median, best)`, rows)
    const tree = median(measured.tree!.map(m => m.ms)) / 1000
    const step = median(measured.chain!.map(m => m.ms)) / chain
    const standard = leaves === 512 && chain === 200
    printTable(`against the comparison figures (measured on the same kind of 2-core machine)${standard ? '' : ' — NOT comparable: smaller graphs'}`, [
      { what: `tree of ${2 * leaves - 1} tasks, wall`, bidmesh: `${tree.toFixed(3)} s`, Dask: '1.09 s', 'BullMQ flows': '0.50 s', goal: '≤ 0.3 s', met: tree <= 0.3 ? 'yes' : 'no' },
      { what: `chain of ${chain}, per step`, bidmesh: `${step.toFixed(2)} ms`, Dask: '5.7 ms', 'BullMQ flows': '0.84 ms', goal: '≤ 0.5 ms', met: step <= 0.5 ? 'yes' : 'no' }
    ])
    const load = { before: loadBefore, after: loadavg()[0]! }
    console.log(`\n1-minute load average: ${load.before.toFixed(1)} before, ${load.after.toFixed(1)} after (${nodes} nodes in this process on ${availableParallelism()} cores)`)
    console.log(`written to ${writeResults(standard ? 'dag' : 'dag-small', { nodes, runs, leaves, chain, load, rows, treeSeconds: tree, chainMsPerStep: step, measured })}`)
  } finally {
    await swarm.stop()
  }
}
