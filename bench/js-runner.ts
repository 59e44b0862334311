// Per-task overhead of js tasks: `npm run bench -- js-runner [--n 2000] [--fresh-n 200]`.
// Runs no-op js tasks (they print one line and return null) through one Runner, one at a time
// and 8 at a time, with a fresh worker per task (pool off) and with the warm pool. A task's
// overhead is start() → done; first line is start() → its output line in the task log. CPU counts
// the main thread and every worker (one process).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseTaskSpec, type JsTaskSpec } from '../src/core/index.js'
import { createRunner, taskWorkDir, type RunnerInit } from '../src/exec/index.js'
import { percentile, printTable, writeResults, type Row } from './lib.js'

const SOURCE = 'export default () => { console.log("ok"); return null }'

function option (args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name)
  const v = i >= 0 ? Number(args[i + 1]) : fallback
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`)
  return v
}

async function measure (mode: 'fresh' | 'pooled', n: number, concurrency: number, dataDir: string): Promise<Row> {
  const init: RunnerInit = { killGraceMs: 1000, jsPool: { enabled: mode === 'pooled' } }
  const runner = createRunner(init)
  const spec = parseTaskSpec({ kind: 'js', name: 'noop', source: SOURCE }) as JsTaskSpec
  const overhead: number[] = []
  const firstLine: number[] = []
  let failed = 0
  let next = 0
  const one = async (): Promise<void> => {
    const i = next++
    const taskId = `${mode}-${concurrency}-${i}`
    const t0 = performance.now()
    const run = runner.start({ taskId, attempt: 1, spec, workDir: taskWorkDir(dataDir, taskId, 1) })
    const off = run.log.onLine(line => {
      if (line.stream === 'out') { firstLine.push(performance.now() - t0); off() }
    })
    const outcome = await run.done
    overhead.push(performance.now() - t0)
    if (outcome.kind !== 'succeeded') failed++
  }
  // Warm up: the first tasks pay for the JIT, the first worker and the source file.
  for (let i = 0; i < concurrency; i++) await one()
  overhead.length = 0
  firstLine.length = 0
  next = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < n) await one() }))
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const stats = runner.jsPoolStats()
  await runner.stop()
  return {
    mode,
    concurrency,
    tasks: n,
    failed,
    'overhead p50 (ms)': percentile(overhead, 50),
    'overhead p99 (ms)': percentile(overhead, 99),
    'first line p50 (ms)': percentile(firstLine, 50),
    'first line p99 (ms)': percentile(firstLine, 99),
    'tasks/s': Math.round(n / (wallMs / 1000)),
    'CPU/task (ms)': (cpu.user + cpu.system) / 1000 / n,
    'workers started': stats.created
  }
}

export async function run (args: string[]): Promise<void> {
  const n = option(args, '--n', 2000)
  // A fresh worker costs tens of ms of CPU: fewer tasks give the same percentiles in less time.
  const freshN = option(args, '--fresh-n', Math.min(n, 200))
  const dataDir = mkdtempSync(join(tmpdir(), 'bidmesh-bench-js-'))
  const rows: Row[] = []
  try {
    for (const concurrency of [1, 8]) {
      rows.push(await measure('fresh', freshN, concurrency, dataDir))
      rows.push(await measure('pooled', n, concurrency, dataDir))
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
  printTable(`js runner: no-op tasks, fresh worker per task vs warm pool (${process.version})`, rows)
  console.log(`\nresults: ${writeResults('js-runner', rows)}`)
}
