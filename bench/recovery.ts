// `npm run bench -- recovery [trials=20] [nodes=6]`: how fast a task runs again after its node
// is SIGKILLed or frozen, how much work it loses, and what a checkpoint costs. Node processes
// run the compiled CLI (npm run bench builds it first), as a user's swarm does.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Swarm, type SwarmMember } from '../src/cli/swarm.js'
import type { TaskStatus } from '../src/core/task-state.js'
import { waitFor } from '../test/helpers/wait.js'
import { percentile, printTable, writeResults, type Row } from './lib.js'
import { storeLatency } from './store.js'

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js')
const NODE_ARGS = ['--cpu', '2', '--mem', '2048']

/**
 * Counts to `input.n`, a step every `input.stepMs`, checkpointing `{ i }` every `input.every`
 * steps. Each attempt appends `attempt startedAt wallClockMs` to `<id>.attempts` as soon as it
 * has restored: that line is "the task runs again". Steps go to `<id>.steps` (`attempt i`).
 */
const COUNTER = `
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
export default async (input, ctx) => {
  const saved = await ctx.restore()
  const start = saved === undefined ? 0 : saved.i
  appendFileSync(join(input.dir, ctx.taskId + '.attempts'), ctx.attempt + ' ' + start + ' ' + Date.now() + '\\n')
  for (let i = start + 1; i <= input.n; i++) {
    await new Promise(resolve => { setTimeout(resolve, input.stepMs) })
    if (ctx.signal.aborted) throw new Error('stopped')
    appendFileSync(join(input.dir, ctx.taskId + '.steps'), ctx.attempt + ' ' + i + '\\n')
    if (i % input.every === 0) await ctx.checkpoint({ i })
  }
  return { attempt: ctx.attempt, startedAt: start }
}
`

/** Checkpoints `input.count` times per size in `input.sizes`, timing each `ctx.checkpoint` (ms) into `<id>.puts`. */
const PUTS = `
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
export default async (input, ctx) => {
  for (const size of input.sizes) {
    const state = 'x'.repeat(size - 3)
    for (let k = 0; k < input.count; k++) {
      const t = performance.now()
      await ctx.checkpoint(state)
      appendFileSync(join(input.dir, ctx.taskId + '.puts'), size + ' ' + (performance.now() - t) + '\\n')
    }
  }
  return null
}
`

const STEP_MS = 20
/** A checkpoint every 5 steps: one checkpoint interval is 100 ms of work. */
const EVERY = 5

interface Member { index: number, peerId: string, api: string, pid: number, listen: string, dataDir: string, child?: ChildProcess }

async function json<T> (url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) })
  const body = await res.json() as T
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${JSON.stringify(body)}`)
  return body
}

async function submit (api: string, spec: unknown): Promise<string> {
  return (await json<{ id: string }>(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) })).id
}

function lines (file: string): string[][] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => l.split(' '))
}

/** A process swarm whose members can be killed and started again on the same data dir and ports (same peer id). */
class BenchSwarm {
  members: Member[] = []
  private readonly swarm: Swarm
  private readonly extra = new Set<ChildProcess>()

  constructor (readonly n: number, readonly dir: string) {
    this.swarm = new Swarm({ nodes: n, basePort: 0, dataDir: join(dir, 'swarm'), cli: CLI, nodeArgs: NODE_ARGS })
  }

  async start (): Promise<void> {
    const members = await this.swarm.start()
    this.members = members.map((m: SwarmMember) => ({
      index: m.index,
      peerId: m.peerId,
      api: m.api,
      pid: m.pid,
      listen: m.addrs.find(a => a.includes('/127.0.0.1/'))!.replace(/\/p2p\/.*$/, ''),
      dataDir: m.dataDir
    }))
    await this.settled()
  }

  /** Every node sees every other alive and has it in its DHT routing table. */
  async settled (): Promise<void> {
    await waitFor(async () => {
      const views = await Promise.all(this.members.map(async m => await Promise.all([json<any>(`${m.api}/v1/cluster`), json<any>(`${m.api}/v1/node`)])))
      return views.every(([c, n]) => c.counts.alive === this.n && n.mesh.dhtPeers >= this.n - 1)
    }, 'the swarm to settle', 60_000, 100)
  }

  /** Starts a killed member again, as the same peer on the same ports. */
  async restart (m: Member): Promise<void> {
    const ready = join(m.dataDir, 'ready.json')
    rmSync(ready, { force: true })
    const bootstrap = this.members.find(x => x !== m)!
    const child = spawn(process.execPath, [CLI, 'node', '--listen', m.listen, '--api-port', new URL(m.api).port, '--data', m.dataDir,
      '--ready-file', ready, '--allow-exec', '--label', `swarm.index=${m.index}`, '--bootstrap', `${bootstrap.listen}/p2p/${bootstrap.peerId}`, ...NODE_ARGS],
    { stdio: 'ignore' })
    this.extra.add(child)
    child.once('exit', () => { this.extra.delete(child) })
    await waitFor(() => existsSync(ready), `node ${m.index} to restart`, 30_000, 50)
    m.pid = child.pid!
    m.child = child
  }

  async stop (): Promise<void> {
    for (const c of this.extra) c.kill('SIGKILL')
    await this.swarm.stop(2_000)
  }
}

interface Trial {
  /** Signal → the new attempt's first line. */
  ms: number
  /** Signal → the owner's view says dead (failure detection). */
  detectMs: number
  /** Dead in the owner's view → the new attempt's first line (re-auction, checkpoint fetch, start). */
  restartMs: number
  lostIntervals: number
  attempt: number
}

/**
 * Follows a node's `/v1/events`: `open` resolves once the stream is live, `at` with the wall
 * clock when `peer` turns dead there.
 */
function whenDead (api: string, peer: string, signal: AbortSignal): { open: Promise<void>, at: Promise<number> } {
  const open = Promise.withResolvers<void>()
  const at = (async () => {
    const res = await fetch(`${api}/v1/events`, { signal })
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    open.resolve()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) throw new Error('event stream ended')
      buf += value
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(buf.slice(0, i))?.[1]
        buf = buf.slice(i + 2)
        if (data === undefined) continue
        const change = JSON.parse(data) as { peer?: string, to?: string }
        if (change.peer === peer && change.to === 'dead') return Date.now()
      }
    }
  })()
  at.catch(err => { open.reject(err) })
  return { open: open.promise, at }
}

/**
 * One trial: a counter runs on some node other than node 0 (the submitter and observer); once
 * it has checkpointed, `signal` hits that node. The time is from the signal to the new attempt's
 * first line; the work lost is the old attempt's steps past the checkpoint the new one restored.
 */
async function trial (swarm: BenchSwarm, signal: 'SIGKILL' | 'SIGSTOP', markers: string): Promise<Trial> {
  const [observer, ...workers] = swarm.members
  const id = await submit(observer!.api, {
    name: `recovery-${signal.toLowerCase()}`,
    kind: 'js',
    source: COUNTER,
    input: { dir: markers, n: 2_000, stepMs: STEP_MS, every: EVERY },
    resources: { cpu: 0.5, memMb: 64 },
    constraints: { 'swarm.index': workers.map(w => String(w.index)) }
  })
  let node = ''
  await waitFor(async () => {
    const t = await json<TaskStatus>(`${observer!.api}/v1/tasks/${id}`)
    node = t.node ?? ''
    return t.state === 'running' && (t.checkpoint?.seq ?? 0) >= 2
  }, `task ${id} to run and checkpoint`, 30_000, 20)
  const victim = swarm.members.find(m => m.peerId === node)!
  // Kill at a random phase of a checkpoint interval, not always right after a checkpoint was saved.
  await sleep(Math.random() * STEP_MS * EVERY)
  const attemptsFile = join(markers, `${id}.attempts`)
  const events = new AbortController()
  const dead = whenDead(observer!.api, victim.peerId, events.signal)
  let again: string[] | undefined
  let t0 = 0
  let deadAt = 0
  try {
    await dead.open
    t0 = Date.now()
    process.kill(victim.pid, signal)
    await waitFor(() => {
      again = lines(attemptsFile).find(l => Number(l[0]) > 1)
      return again !== undefined
    }, `task ${id} to run again after ${signal}`, 60_000, 2)
    deadAt = await Promise.race([dead.at, sleep(10_000).then(() => Number.NaN)])
  } finally {
    events.abort()
  }
  const [attempt, startedAt, at] = again!.map(Number) as [number, number, number]
  // The old attempt is dead or frozen: its steps are final.
  const oldSteps = lines(join(markers, `${id}.steps`)).filter(l => Number(l[0]) < attempt).map(l => Number(l[1]))
  const lost = Math.max(0, Math.max(0, ...oldSteps) - startedAt) / EVERY
  await json(`${observer!.api}/v1/tasks/${id}`, { method: 'DELETE' }).catch(() => {})
  if (signal === 'SIGSTOP') process.kill(victim.pid, 'SIGCONT')
  else await swarm.restart(victim)
  await swarm.settled()
  return { ms: at - t0, detectMs: deadAt - t0, restartMs: at - deadAt, lostIntervals: lost, attempt }
}

async function putLatency (swarm: BenchSwarm, markers: string, sizes: number[], count: number): Promise<Row[]> {
  const [observer] = swarm.members
  const id = await submit(observer!.api, { name: 'ckpt-puts', kind: 'js', source: PUTS, input: { dir: markers, sizes, count }, resources: { cpu: 0.5, memMb: 256 } })
  await waitFor(async () => {
    const t = await json<TaskStatus>(`${observer!.api}/v1/tasks/${id}`)
    if (t.state === 'failed' || t.state === 'cancelled') throw new Error(`the put task ${t.state}: ${t.error}`)
    return t.state === 'succeeded'
  }, 'the checkpoint put task', 120_000, 100)
  const puts = lines(join(markers, `${id}.puts`)).map(([s, ms]) => ({ size: Number(s), ms: Number(ms) }))
  return sizes.map(size => {
    const ms = puts.filter(p => p.size === size).map(p => p.ms)
    return { what: `ctx.checkpoint() of ${size} B, ${swarm.n} node processes (${ms.length} puts)`, p50: percentile(ms, 50), p99: percentile(ms, 99), unit: 'ms' }
  })
}

/** DHT put/get of `ckpt` records at 10 and 30 nodes (bench/store.ts, in-process swarms); a failure is recorded, not fatal. */
async function storeRows (sizes: number[], trials: number): Promise<{ rows: Row[], error?: string }> {
  try {
    return { rows: await storeLatency([10, 30], sizes, trials) }
  } catch (err) {
    return { rows: [], error: (err as Error).message }
  }
}

export async function run (args: string[]): Promise<void> {
  const trials = Number(args[0] ?? 20)
  const nodes = Number(args[1] ?? 6)
  if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(nodes) || nodes < 3) {
    throw new Error('usage: npm run bench -- recovery [trials >= 1] [nodes >= 3]')
  }
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-bench-recovery-'))
  const markers = join(dir, 'markers')
  mkdirSync(markers, { recursive: true })
  const swarm = new BenchSwarm(nodes, dir)
  const rows: Row[] = []
  // The machine's load matters: these are wall-clock times on a shared 2-core box.
  const raw: Record<string, unknown> = { trials, nodes, stepMs: STEP_MS, checkpointEverySteps: EVERY, loadAvgAtStart: loadavg() }
  try {
    await swarm.start()
    for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
      const results: Trial[] = []
      const failures: string[] = []
      for (let k = 0; k < trials; k++) {
        let outcome: string
        try {
          const r = await trial(swarm, signal, markers)
          results.push(r)
          outcome = `${r.ms} ms, ${r.lostIntervals} intervals lost`
        } catch (err) {
          outcome = `failed: ${(err as Error).message.split('\n')[0]}`
          failures.push(outcome)
          // A failed trial may leave a node down or frozen: bring the swarm back before the next.
          for (const m of swarm.members) { try { process.kill(m.pid, 'SIGCONT') } catch { await swarm.restart(m) } }
          await sleep(1_000)
          await swarm.settled()
        }
        process.stderr.write(`${signal} trial ${k + 1}/${trials}: ${outcome}\n`)
        // Three failures in a row is the implementation, not bad luck: do not spend minutes on it.
        if (results.length === 0 && failures.length >= 3) break
      }
      const ms = results.map(r => r.ms)
      const lost = results.map(r => r.lostIntervals)
      rows.push({ what: `${signal} of the executor → running again elsewhere (${results.length}/${trials} trials)`, p50: percentile(ms, 50), p99: percentile(ms, 99), unit: 'ms', goal: signal === 'SIGKILL' ? 'p50 ≤ 500' : 'p50 ≤ 3000' })
      const detect = results.map(r => r.detectMs).filter(Number.isFinite)
      const restart = results.map(r => r.restartMs).filter(Number.isFinite)
      rows.push({ what: `  of which ${signal} → dead in the owner's view (failure detection)`, p50: percentile(detect, 50), p99: percentile(detect, 99), unit: 'ms', goal: '' })
      rows.push({ what: '  of which dead → running again (re-auction, checkpoint fetch, start)', p50: percentile(restart, 50), p99: percentile(restart, 99), unit: 'ms', goal: '' })
      rows.push({ what: `work lost after ${signal}, in checkpoint intervals (${EVERY} steps of ${STEP_MS} ms)`, p50: percentile(lost, 50), p99: percentile(lost, 99), unit: 'intervals', goal: '≤ 1' })
      raw[signal] = { results, failures }
    }
    const puts = await putLatency(swarm, markers, [1024, 64 * 1024, 256_000], 20)
    rows.push(...puts)
    raw.puts = puts
  } finally {
    await swarm.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  raw.loadAvgAtEnd = loadavg()
  // After the process swarm is gone: the store bench runs its own in-process swarms.
  const store = await storeRows([1024, 64 * 1024, 256_000], trials)
  raw.store = store
  printTable(`recovery: ${nodes} node processes, ${trials} trials (load average ${(raw.loadAvgAtStart as number[]).map(l => l.toFixed(1)).join(' ')} at start)`, [
    ...rows,
    { what: 'for comparison: BullMQ, a killed worker\'s job re-run (defaults, stalled-job check)', p50: '30000–60000', p99: '', unit: 'ms', goal: '' },
    { what: 'for comparison: Dask, work lost when a worker dies', p50: 'all', p99: '', unit: 'restarts from zero', goal: '' }
  ])
  printTable('checkpoint records in the DHT: put (to quorum) and get from another node, in-process swarms (bench/store.ts)', store.rows)
  if (store.error !== undefined) console.log(`store latency failed: ${store.error}`)
  console.log('\ngoals: after SIGKILL running again ≤ 500 ms p50; after SIGSTOP ≤ 3000 ms; ≤ 1 checkpoint interval of work lost')
  console.log('256 KB is 256,000 bytes: the record limit is 256 KiB (262,144 B) including the record\'s header and signature.')
  console.log(`written to ${writeResults('recovery', { rows, ...raw })}`)
}
