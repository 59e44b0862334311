import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isFinal, type TaskStatus } from '../../src/core/task-state.js'
import { isAlive, startCliSwarm, type SwarmMemberInfo } from './cli.js'
import { waitFor } from './wait.js'

/**
 * Recovery tests drive a `bidmesh swarm` of node processes over their HTTP APIs and kill nodes
 * by pid. Tasks report what they did through marker files in a directory passed in their
 * input (every node runs on this machine), which is the one witness that survives the death of
 * the node that ran them.
 */

/** How long a recovery may take on a loaded 2-core CI machine: detection, auction, restore, the rest of the run. */
export const RECOVERY_TIMEOUT_MS = 40_000

export interface ProcessSwarm {
  members: SwarmMemberInfo[]
  /** Where the swarm keeps its data; tasks' marker directories go under it too. */
  dir: string
  /** The members not killed (SIGSTOPped ones count as alive). */
  alive: () => SwarmMemberInfo[]
  member: (peerId: string) => SwarmMemberInfo
  /** SIGKILLs a node process and remembers it as gone. */
  kill: (m: SwarmMemberInfo) => void
  /** SIGKILLs every node and the swarm process, and removes the data. */
  stop: () => Promise<void>
}

/**
 * Starts `bidmesh swarm --nodes N` and waits until every node sees every other alive and has
 * them in its DHT routing table (checkpoints and task records need the DHT, not just gossip).
 */
export async function startProcessSwarm (nodes: number, name: string, extra: string[] = ['--cpu', '2', '--mem', '2048']): Promise<ProcessSwarm> {
  const dir = mkdtempSync(join(tmpdir(), `bidmesh-${name}-`))
  let child: ChildProcess | undefined
  let members: SwarmMemberInfo[] = []
  const killed = new Set<number>()
  const stop = async (): Promise<void> => {
    for (const m of members) if (isAlive(m.pid)) { try { process.kill(m.pid, 'SIGCONT') } catch {} ; try { process.kill(m.pid, 'SIGKILL') } catch {} }
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>(resolve => child?.once('exit', () => { resolve() }))
      child.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    ({ child, members } = await startCliSwarm(nodes, join(dir, 'swarm'), extra))
    await waitFor(async () => {
      const views = await Promise.all(members.map(async m => await Promise.all([getJson<any>(m.api, '/v1/cluster'), getJson<any>(m.api, '/v1/node')])))
      return views.every(([cluster, node]) => cluster.counts.alive === nodes && node.mesh.dhtPeers >= nodes - 1)
    }, `${nodes} nodes to see each other alive and in their DHT routing tables`, 45_000, 200)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    members,
    dir,
    alive: () => members.filter(m => !killed.has(m.pid) && isAlive(m.pid)),
    member: peerId => {
      const m = members.find(x => x.peerId === peerId)
      if (m === undefined) throw new Error(`no swarm member has peer id ${peerId}`)
      return m
    },
    kill: m => { killed.add(m.pid); process.kill(m.pid, 'SIGKILL') },
    stop
  }
}

export async function getJson<T> (api: string, path: string, timeoutMs = 10_000): Promise<T> {
  const res = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  const body = await res.json() as T
  if (!res.ok) throw new Error(`GET ${path} at ${api}: ${res.status} ${JSON.stringify(body)}`)
  return body
}

export async function submitTask (api: string, spec: unknown): Promise<TaskStatus> {
  const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec), signal: AbortSignal.timeout(10_000) })
  const body = await res.json() as { id: string, task: TaskStatus }
  if (res.status !== 201) throw new Error(`POST /v1/tasks at ${api}: ${res.status} ${JSON.stringify(body)}`)
  return body.task
}

export async function taskAt (api: string, id: string): Promise<TaskStatus> {
  return await getJson<TaskStatus>(api, `/v1/tasks/${encodeURIComponent(id)}`)
}

/**
 * Polls the task's status at `api` until `cond` holds and returns that status. A node that is
 * busy or does not know the task yet is asked again. A task that has ended without `cond`
 * holding never will: that fails at once. The failure message has the last status.
 */
export async function waitForTask (api: string, id: string, cond: (t: TaskStatus) => boolean, what: string, timeoutMs = RECOVERY_TIMEOUT_MS, intervalMs = 100): Promise<TaskStatus> {
  const deadline = Date.now() + timeoutMs
  let last: TaskStatus | undefined
  let lastError: unknown
  for (;;) {
    try {
      last = await taskAt(api, id)
      if (cond(last)) return last
      if (isFinal(last.state)) throw new Error(`gave up waiting for ${what}: the task ended ${last.state}\nlast status at ${api}: ${describeStatus(last)}`)
    } catch (err) {
      if ((err as Error).message.startsWith('gave up')) throw err
      lastError = err
    }
    if (Date.now() >= deadline) break
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
    (lastError !== undefined ? ` (last error: ${(lastError as Error).message})` : '') +
    `\nlast status at ${api}: ${last === undefined ? 'none' : describeStatus(last)}`)
}

/** The status without its spec (inline sources are long): what a failure message should show. */
export function describeStatus (t: TaskStatus): string {
  const { spec: _spec, ...rest } = t
  return JSON.stringify(rest)
}

/** The lines of the marker file `<dir>/<task>.<kind>`, split into words; none when it is absent. */
export function markers (dir: string, task: string, kind: string): string[][] {
  const file = join(dir, `${task}.${kind}`)
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => l.split(' '))
}

/**
 * A js task that counts from its checkpoint (or 0) to `input.n`, sleeping `input.stepMs` per
 * step and checkpointing `{ i }` after each one (unless `input.checkpoint` is false). It logs
 * `attempt A from step S` and leaves, in `input.dir`: `<id>.attempts` (`attempt startedAt pid`
 * per run), `<id>.steps` (`attempt i` per step done) and `<id>.done` (`attempt pid` per
 * completion). It stops at the first step after `ctx.signal` aborts, as a well-behaved task does.
 */
export const COUNTER_SOURCE = `
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
export default async (input, ctx) => {
  const mark = (kind, text) => { appendFileSync(join(input.dir, ctx.taskId + '.' + kind), text + '\\n') }
  const saved = await ctx.restore()
  const start = saved === undefined ? 0 : saved.i
  mark('attempts', ctx.attempt + ' ' + start + ' ' + process.pid)
  console.log('attempt ' + ctx.attempt + ' from step ' + start)
  for (let i = start + 1; i <= input.n; i++) {
    await new Promise(resolve => { setTimeout(resolve, input.stepMs) })
    if (ctx.signal.aborted) throw new Error('stopped before step ' + i)
    mark('steps', ctx.attempt + ' ' + i)
    if (input.checkpoint !== false) await ctx.checkpoint({ i })
  }
  mark('done', ctx.attempt + ' ' + process.pid)
  return { total: input.n, attempt: ctx.attempt, startedAt: start }
}
`

export interface CounterInput { dir: string, n: number, stepMs: number, checkpoint?: boolean }

export function counterSpec (name: string, input: CounterInput, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, kind: 'js', source: COUNTER_SOURCE, input, resources: { cpu: 0.5, memMb: 64 }, ...extra }
}

/**
 * The same counter as an exec task: `node -e` reading and writing `$BIDMESH_CHECKPOINT_FILE`
 * (JSON `{ i }`, written to a temp file and renamed over it), `$BIDMESH_ATTEMPT`, the same
 * marker files, and its result in `$BIDMESH_RESULT_FILE`.
 */
export const EXEC_COUNTER_SCRIPT = `
const fs = require('node:fs')
const path = require('node:path')
const input = JSON.parse(fs.readFileSync(process.env.BIDMESH_INPUT_FILE, 'utf8'))
const id = process.env.BIDMESH_TASK_ID
const attempt = Number(process.env.BIDMESH_ATTEMPT)
const ckpt = process.env.BIDMESH_CHECKPOINT_FILE
const mark = (kind, text) => { fs.appendFileSync(path.join(input.dir, id + '.' + kind), text + '\\n') }
let start = 0
try { start = JSON.parse(fs.readFileSync(ckpt, 'utf8')).i } catch {}
mark('attempts', attempt + ' ' + start + ' ' + process.pid)
let i = start
const step = () => {
  i++
  mark('steps', attempt + ' ' + i)
  fs.writeFileSync(ckpt + '.tmp', JSON.stringify({ i }))
  fs.renameSync(ckpt + '.tmp', ckpt)
  if (i < input.n) { setTimeout(step, input.stepMs); return }
  mark('done', attempt + ' ' + process.pid)
  fs.writeFileSync(process.env.BIDMESH_RESULT_FILE, JSON.stringify({ total: input.n, attempt, startedAt: start }))
}
if (i < input.n) setTimeout(step, input.stepMs)
else fs.writeFileSync(process.env.BIDMESH_RESULT_FILE, JSON.stringify({ total: input.n, attempt, startedAt: start }))
`

export function execCounterSpec (name: string, input: CounterInput, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, kind: 'exec', command: [process.execPath, '-e', EXEC_COUNTER_SCRIPT], input, resources: { cpu: 0.5, memMb: 64 }, ...extra }
}

/**
 * What the marker files say about a counter task: the steps each attempt did, the steps done
 * more than once, the completions.
 */
export function counterReport (dir: string, task: string): { stepsByAttempt: Map<number, number[]>, redone: number[], done: string[][], attempts: string[][] } {
  const stepsByAttempt = new Map<number, number[]>()
  const seen = new Map<number, number>()
  for (const [a, i] of markers(dir, task, 'steps')) {
    const list = stepsByAttempt.get(Number(a)) ?? []
    list.push(Number(i))
    stepsByAttempt.set(Number(a), list)
    seen.set(Number(i), (seen.get(Number(i)) ?? 0) + 1)
  }
  return {
    stepsByAttempt,
    redone: [...seen].filter(([, n]) => n > 1).map(([i]) => i).sort((a, b) => a - b),
    done: markers(dir, task, 'done'),
    attempts: markers(dir, task, 'attempts')
  }
}
