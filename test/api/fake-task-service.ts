import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { NotFoundError, ValidationError } from '../../src/core/errors.js'
import { makeId } from '../../src/core/ids.js'
import { parseTaskSpec } from '../../src/core/task-spec.js'
import { applyTransition, isFinal, newTaskStatus, type TaskState, type TaskStatus, type TransitionInput } from '../../src/core/task-state.js'
import { Router, sendError } from '../../src/api/http.js'
import { registerTaskRoutes, type TaskRoutesInit } from '../../src/api/task-routes.js'
import type { FrameworkInfo, LogsPage, TaskLogLine, TaskService } from '../../src/node/task-service.js'

export const SELF = '12D3KooWSelfSelfSelfSelfSelfSelfSelfSelfSelf0001'
export const PEER = '12D3KooWPeerPeerPeerPeerPeerPeerPeerPeerPeerB0b2'

interface LogCall { id: string, after?: number, limit?: number, signal?: AbortSignal, abortedAtStart: boolean }

/**
 * An in-memory TaskService for route and CLI tests. Tasks live in a map; `script` lets a test
 * decide what each `get` returns next (for --wait); logs are a per-task list of lines that a
 * test appends to (or ends) from `onLogs`, which runs before every `logs` call answers.
 */
export class FakeTaskService implements TaskService {
  readonly tasks = new Map<string, TaskStatus>()
  readonly submitted: unknown[] = []
  readonly listCalls: Array<{ all?: boolean, limit?: number }> = []
  readonly logCalls: LogCall[] = []
  readonly weights = new Map<string, number>([['default', 1]])
  readonly logs_ = new Map<string, { lines: TaskLogLine[], ended: boolean }>()
  /** Statuses that successive `get`s of a newly submitted task return, one per call. */
  script?: (task: TaskStatus) => TaskStatus[]
  onLogs?: (call: LogCall) => void
  private readonly scripts = new Map<string, TaskStatus[]>()
  private clock = 1_700_000_000_000
  private counter = 0

  submit (spec: unknown): TaskStatus {
    this.submitted.push(spec)
    const parsed = parseTaskSpec(spec)
    const random = new Uint8Array(8)
    random[7] = ++this.counter
    const task = newTaskStatus(makeId('t', this.clock += 1000, random), parsed, SELF, this.clock)
    this.tasks.set(task.id, task)
    if (this.script !== undefined) this.scripts.set(task.id, this.script(task))
    return task
  }

  async get (id: string): Promise<TaskStatus | undefined> {
    const next = this.scripts.get(id)?.shift()
    if (next !== undefined) this.tasks.set(id, next)
    return this.tasks.get(id)
  }

  async list (opts: { all?: boolean, limit?: number }): Promise<TaskStatus[]> {
    this.listCalls.push({ all: opts.all, limit: opts.limit })
    return [...this.tasks.values()].reverse().slice(0, opts.limit ?? 100)
  }

  async cancel (id: string): Promise<TaskStatus> {
    const task = this.tasks.get(id)
    if (task === undefined) throw new NotFoundError('task', id)
    if (isFinal(task.state)) return task
    const done = applyTransition(task, { to: 'cancelled', at: this.clock, attempt: task.attempt, reason: 'cancelled by the user' })
    this.tasks.set(id, done)
    return done
  }

  async logs (id: string, opts: { after?: number, limit?: number, signal?: AbortSignal }): Promise<LogsPage> {
    const call = { id, after: opts.after, limit: opts.limit, signal: opts.signal, abortedAtStart: opts.signal?.aborted === true }
    this.logCalls.push(call)
    if (!this.tasks.has(id)) throw new NotFoundError('task', id)
    this.onLogs?.(call)
    const log = this.logs_.get(id) ?? { lines: [], ended: false }
    const after = opts.after ?? 0
    const rest = log.lines.filter(l => l.seq > after)
    const lines = rest.slice(0, opts.limit ?? 1000)
    return { lines, ended: log.ended && lines.length === rest.length, node: PEER }
  }

  frameworks (): FrameworkInfo[] {
    return [...this.weights].map(([name, weight]): FrameworkInfo => {
      const mine = [...this.tasks.values()].filter(t => t.spec.framework === name)
      return {
        name,
        weight,
        usage: name === 'default' ? { cpu: 1500, memMb: 512 } : {},
        dominantShare: name === 'default' ? 0.125 : 0,
        running: mine.filter(t => t.state === 'running').length,
        pending: mine.filter(t => t.state === 'pending').length
      }
    })
  }

  setWeight (framework: string, weight: number): void {
    if (!(weight > 0 && Number.isFinite(weight))) throw new ValidationError('framework weight', [{ path: 'weight', message: 'must be a positive number' }])
    this.weights.set(framework, weight)
  }

  /** Adds a task in a given state, for listings. */
  add (spec: unknown, ...steps: Array<Omit<TransitionInput, 'at' | 'attempt'> & { attempt?: number }>): TaskStatus {
    let task = this.submit(spec)
    for (const s of steps) task = step(task, s.to, s)
    this.tasks.set(task.id, task)
    this.submitted.pop()
    return task
  }

  appendLog (id: string, ...texts: Array<[TaskLogLine['stream'], string]>): void {
    const log = this.logs_.get(id) ?? { lines: [], ended: false }
    for (const [stream, text] of texts) log.lines.push({ seq: log.lines.length + 1, ts: this.clock, stream, text })
    this.logs_.set(id, log)
  }

  endLog (id: string): void {
    const log = this.logs_.get(id) ?? { lines: [], ended: false }
    log.ended = true
    this.logs_.set(id, log)
  }
}

/** The next status of `task`: one transition, a second after the last. */
export function step (task: TaskStatus, to: TaskState, extra: Partial<TransitionInput> = {}): TaskStatus {
  return applyTransition(task, { to, at: task.updatedAt + 1000, attempt: task.attempt, ...extra })
}

/**
 * A real HTTP server with only the task routes on a free loopback port, over whatever service
 * `current()` returns at the time of each call (so one server can serve a fresh fake per test).
 */
export async function startApi (current: () => TaskService, init: TaskRoutesInit = {}): Promise<{ url: string, close: () => Promise<void> }> {
  const router = new Router()
  const service: TaskService = {
    submit: spec => current().submit(spec),
    get: async (id, signal) => await current().get(id, signal),
    list: async opts => await current().list(opts),
    cancel: async (id, signal) => await current().cancel(id, signal),
    logs: async (id, opts) => await current().logs(id, opts),
    frameworks: () => current().frameworks(),
    setWeight: (name, weight) => { current().setWeight(name, weight) }
  }
  registerTaskRoutes(router, service, init)
  // The same error path as ApiServer: every failure leaves as { error: { code, message, details } }.
  const server = createServer((req, res) => { router.handle(req, res).catch(err => { sendError(res, err) }) })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
