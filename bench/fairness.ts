// How long the fairness core takes at mesh sizes: `npm run bench -- fairness [--quick]`.
// drf on the pooled capacity and drfPlace on the nodes of the same random cluster, for 10, 100
// and 1,000 frameworks over 4 resources and 10 to 1,000 nodes; then the ledger's hot path
// (one advert folded in, one bid order). Clusters are seeded, so runs compare across commits.
import { drf, drfPlace, FairnessLedger, type ClusterNode, type FrameworkDemand } from '../src/fairness/index.js'
import { percentile, printTable, writeResults, type Row } from './lib.js'

/** mulberry32: a tiny seeded generator, so every run measures the same clusters. */
function random (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function between (rnd: () => number, lo: number, hi: number): number {
  return Math.round(lo + rnd() * (hi - lo))
}

/** Nodes of 16-64 cores, 32-256 GB, a quarter with 4-8 gpus, 0.5-2 TB of disk. */
function clusterOf (size: number, rnd: () => number): ClusterNode[] {
  return Array.from({ length: size }, (_, i) => ({
    id: `node-${i}`,
    capacity: {
      cpu: between(rnd, 16, 64) * 1000,
      memMb: between(rnd, 32, 256) * 1024,
      gpu: rnd() < 0.25 ? between(rnd, 4, 8) : 0,
      disk: between(rnd, 500, 2000)
    }
  }))
}

/** Tasks of 0.25-4 cores and 0.25-16 GB, one in ten wants a gpu; a third have a task limit. */
function frameworksOf (count: number, rnd: () => number): FrameworkDemand[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `fw-${i}`,
    demand: {
      cpu: between(rnd, 1, 16) * 250,
      memMb: between(rnd, 1, 64) * 256,
      ...(rnd() < 0.1 ? { gpu: 1 } : {}),
      disk: between(rnd, 1, 50)
    },
    weight: rnd() < 0.2 ? 2 : 1,
    ...(rnd() < 0.33 ? { maxTasks: between(rnd, 1, 200) } : {})
  }))
}

function pooled (nodes: readonly ClusterNode[]): Record<string, number> {
  const total: Record<string, number> = {}
  for (const n of nodes) for (const [k, v] of Object.entries(n.capacity)) total[k] = (total[k] ?? 0) + v
  return total
}

/** Runs `fn` at least `minReps` times and until `budgetMs` is spent (at most `maxReps`); returns ms per run. */
function measure (fn: () => void, budgetMs: number, minReps = 3, maxReps = 200): number[] {
  fn() // warm up the JIT on this shape
  const times: number[] = []
  const start = performance.now()
  while (times.length < maxReps && (times.length < minReps || performance.now() - start < budgetMs)) {
    const t = performance.now()
    fn()
    times.push(performance.now() - t)
  }
  return times
}

export async function run (args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const frameworkCounts = [10, 100, 1000]
  const nodeCounts = quick ? [10, 100] : [10, 100, 1000]
  const budget = quick ? 300 : 1500

  const rows: Row[] = []
  for (const nodesN of nodeCounts) {
    for (const frameworksN of frameworkCounts) {
      const rnd = random(nodesN * 7919 + frameworksN)
      const nodes = clusterOf(nodesN, rnd)
      const frameworks = frameworksOf(frameworksN, rnd)
      const capacity = pooled(nodes)
      const poolTasks = Object.values(drf(capacity, frameworks).tasks).reduce((a, b) => a + b, 0)
      const placedTasks = Object.values(drfPlace(nodes, frameworks).tasks).reduce((a, b) => a + b, 0)
      const drfTimes = measure(() => { drf(capacity, frameworks) }, budget / 3)
      const placeTimes = measure(() => { drfPlace(nodes, frameworks) }, budget, 3, 50)
      rows.push({
        frameworks: frameworksN,
        nodes: nodesN,
        'drf tasks': poolTasks,
        'drf p50 ms': percentile(drfTimes, 50),
        'drf p95 ms': percentile(drfTimes, 95),
        'drfPlace tasks': placedTasks,
        'drfPlace p50 ms': percentile(placeTimes, 50),
        'drfPlace p95 ms': percentile(placeTimes, 95),
        runs: `${drfTimes.length}/${placeTimes.length}`
      })
    }
  }
  printTable('fairness: drf (pooled capacity) and drfPlace (DRFH, best fit) on random clusters, 4 resources', rows)

  // The auction's hot path: one advert in, one bid order out.
  const ledgerRows: Row[] = []
  for (const nodesN of nodeCounts) {
    const frameworksN = 100
    const rnd = random(nodesN)
    const nodes = clusterOf(nodesN, rnd)
    const names = frameworksOf(frameworksN, rnd).map(f => f.name)
    const usageOf = (): Record<string, Record<string, number>> => Object.fromEntries(
      names.filter(() => rnd() < 0.2).map(f => [f, { cpu: between(rnd, 1, 16) * 250, memMb: between(rnd, 1, 64) * 256 }]))
    const ledger = new FairnessLedger()
    for (const n of nodes) ledger.report(n.id, { capacity: n.capacity, usageByFramework: usageOf() })
    const adverts = Array.from({ length: 2000 }, (_, i) => {
      const n = nodes[i % nodes.length] as ClusterNode
      return { id: n.id, report: { capacity: n.capacity, usageByFramework: usageOf() } }
    })
    let next = 0
    const reportTimes = measure(() => {
      for (let i = 0; i < 100; i++) {
        const a = adverts[next++ % adverts.length]
        if (a !== undefined) ledger.report(a.id, a.report)
      }
    }, 300).map(ms => ms * 10) // µs per advert
    const orderTimes = measure(() => {
      const a = adverts[next++ % adverts.length]
      if (a !== undefined) ledger.report(a.id, a.report) // a fresh advert invalidates the shares it touches
      ledger.order(names)
    }, 300, 3, 5000).map(ms => ms * 1000)
    ledgerRows.push({
      nodes: nodesN,
      frameworks: frameworksN,
      'report p50 µs': percentile(reportTimes, 50),
      'report + order p50 µs': percentile(orderTimes, 50),
      'report + order p99 µs': percentile(orderTimes, 99)
    })
  }
  printTable('fairness: FairnessLedger hot path (advert folded in; bid order of 100 frameworks)', ledgerRows)

  const file = writeResults('fairness', { placement: rows, ledger: ledgerRows, quick })
  console.log(`\nwrote ${file}`)
}
