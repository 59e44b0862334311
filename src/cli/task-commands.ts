import type { Command } from 'commander'
import { basename } from 'node:path'
import { BidmeshError, ValidationError, type FieldIssue } from '../core/errors.js'
import { formatResources } from '../core/resources.js'
import { parseTaskSpec, taskDemand, type TaskSpec } from '../core/task-spec.js'
import type { TaskStatus } from '../core/task-state.js'
import { formatLogLine } from '../exec/log-store.js'
import type { LogsPage } from '../node/task-service.js'
import { ApiClient, resolveApi } from './client.js'
import { intOption, keyValue, numberOption } from './options.js'
import { checkSpec, readSpecFile } from './spec-file.js'
import { formatTable, shortPeer } from './table.js'
import { followLog, progressLine, waitForTask } from './wait.js'

/**
 * What the task commands touch outside themselves, so that tests can run them in-process
 * against a fake API: output, environment, stdin, Ctrl-C, the exit code and the clock.
 */
export interface CliIo {
  /** Writes a line to stdout: ids, results, tables (what scripts capture). */
  out: (text: string) => void
  /** Writes a line to stderr: progress and notices. */
  err: (text: string) => void
  env: NodeJS.ProcessEnv
  readStdin: () => Promise<string>
  /** Starts listening for Ctrl-C: the signal aborts on it; `dispose` restores the default. */
  interrupt: () => { signal: AbortSignal, dispose: () => void }
  /** Sets the exit code of a command that ends without an error (130 after Ctrl-C). */
  setExitCode: (code: number) => void
  now: () => number
  /** Time between status polls of `--wait`. */
  pollMs: number
}

export function defaultIo (): CliIo {
  return {
    out: text => { console.log(text) },
    err: text => { console.error(text) },
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
    interrupt: () => {
      const ac = new AbortController()
      // Only the first Ctrl-C is ours: a second one, after dispose, kills as usual.
      const onSignal = (): void => { process.off('SIGINT', onSignal); ac.abort() }
      process.on('SIGINT', onSignal)
      return { signal: ac.signal, dispose: () => { process.off('SIGINT', onSignal) } }
    },
    setExitCode: code => { process.exitCode = code },
    now: () => Date.now(),
    pollMs: 200
  }
}

export const API_FLAG = '--api <url>'
export const API_HELP = 'the node API [default $BIDMESH_API or http://127.0.0.1:7070]'

export function clientFor (flags: { api?: string }, io: CliIo): ApiClient {
  return new ApiClient(resolveApi(flags.api, io.env), io.env.BIDMESH_API_TOKEN)
}

/** The API's 400s are bad input too: they exit 2 like a bad flag, with the API's message. */
export async function badInputFromApi<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (!(err instanceof BidmeshError) || err.code !== 'invalid_argument') throw err
    const issues = Array.isArray(err.details.issues) ? err.details.issues as FieldIssue[] : []
    // Keep the API's own message ("invalid task spec: ..."); the class is what sets the exit code.
    throw Object.assign(new ValidationError('input', issues), { message: err.message })
  }
}

interface WaitFlags { wait?: boolean, json?: boolean, api?: string }
interface RunFlags extends WaitFlags { cpu?: number, mem?: number, gpu?: number, framework?: string, name?: string, timeout?: number, retries?: number, env?: Record<string, string> }

/** `bidmesh run` flags by the spec field they set, so that errors name what the user typed. */
const RUN_FLAG_FOR_FIELD: Record<string, string> = {
  name: '--name', framework: '--framework', 'resources.cpu': '--cpu', 'resources.memMb': '--mem', 'resources.gpu': '--gpu', env: '--env', timeoutMs: '--timeout', 'retries.max': '--retries'
}

export function registerTaskCommands (program: Command, io: CliIo = defaultIo()): void {
  program.command('submit')
    .description('submit a task spec (YAML, or JSON for *.json; - reads stdin) and print its id')
    .argument('<file>', 'the task spec file')
    .option('--wait', 'show progress until the task ends; exit 0 if it succeeded, 1 if not')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (file: string, flags: WaitFlags) => {
      const spec = await readSpecFile(file, io.readStdin)
      checkSpec(spec)
      await submitAndReport(spec.spec, flags, io, task => { printResult(io, task.result) })
    })

  program.command('run')
    .description('run a command on some node of the mesh: bidmesh run [options] -- CMD ARGS...')
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--cpu <cores>', 'cores the task needs [default 1]', numberOption(0, true))
    .option('--mem <mib>', 'memory the task needs in MiB [default 256]', numberOption(0))
    .option('--gpu <n>', 'GPUs the task needs [default 0]', intOption(0, 1024))
    .option('--framework <name>', 'the framework whose fair share it counts against [default "default"]')
    .option('--name <name>', 'task name [default: the program name]')
    .option('--timeout <ms>', 'kill the task after this long', intOption(1, 7 * 24 * 3_600_000))
    .option('--retries <n>', 'retries after a failure', intOption(0, 100))
    .option('--env <key=value>', 'an environment variable for the task (repeatable)', keyValue)
    .option('--wait', 'wait for the task and print its output; exit 0 if it succeeded, 1 if not')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (command: string[], flags: RunFlags) => {
      const spec = runSpec(command, flags)
      await submitAndReport(spec, flags, io, task => {
        const tail = (task.result as { stdoutTail?: unknown } | undefined)?.stdoutTail
        if (typeof tail === 'string') { if (tail !== '') io.out(tail) } else printResult(io, task.result)
      })
    })

  program.command('tasks')
    .description('list the tasks this node submitted or runs, newest first')
    .option('--all', 'ask every alive peer too')
    .option('--limit <n>', 'at most this many tasks [default 100]', intOption(1, 10_000))
    .option('--json', 'print JSON instead of a table')
    .option(API_FLAG, API_HELP)
    .action(async (flags: { all?: boolean, limit?: number, json?: boolean, api?: string }) => {
      const query = new URLSearchParams()
      if (flags.all === true) query.set('all', '1')
      if (flags.limit !== undefined) query.set('limit', String(flags.limit))
      const { tasks } = await clientFor(flags, io).get<{ tasks: TaskStatus[] }>(`/v1/tasks?${query.toString()}`)
      io.out(flags.json === true ? json(tasks) : formatTaskTable(tasks, io.now()))
    })

  program.command('task')
    .description('show one task: spec, state, node, retries and recoveries, last checkpoint, result or error, and its history')
    .argument('<id>', 'the task id')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (id: string, flags: { json?: boolean, api?: string }) => {
      const task = await clientFor(flags, io).get<TaskStatus>(taskPath(id))
      io.out(flags.json === true ? json(task) : formatTaskDetails(task, io.now()))
    })

  program.command('logs')
    .description("print a task's log: <time> <stream> <text>, stream being out, err or sys")
    .argument('<id>', 'the task id')
    .option('-f, --follow', 'keep printing lines until the task ends (Ctrl-C stops)')
    .option('--tail <n>', 'only the last N lines', intOption(1, 10_000))
    .option(API_FLAG, API_HELP)
    .action(async (id: string, flags: { follow?: boolean, tail?: number, api?: string }) => {
      const client = clientFor(flags, io)
      const print = (line: Parameters<typeof formatLogLine>[0]): void => { io.out(formatLogLine(line)) }
      if (flags.follow === true) {
        const { signal, dispose } = io.interrupt()
        try {
          const how = await followLog(client.base, id, { tail: flags.tail, signal, onLine: print, token: io.env.BIDMESH_API_TOKEN })
          if (how === 'interrupted') io.setExitCode(130)
        } finally { dispose() }
        return
      }
      if (flags.tail !== undefined) {
        for (const line of (await client.get<LogsPage>(`${taskPath(id)}/logs?tail=${flags.tail}`)).lines) print(line)
        return
      }
      // The whole log, a page at a time, each page after the last line of the one before.
      for (let after = 0; ;) {
        const page = await client.get<LogsPage>(`${taskPath(id)}/logs?after=${after}&limit=1000`)
        for (const line of page.lines) print(line)
        const last = page.lines.at(-1)
        if (page.lines.length < 1000 || last === undefined || last.seq <= after) return
        after = last.seq
      }
    })

  program.command('cancel')
    .description('cancel a task wherever it runs, and print its final state')
    .argument('<id>', 'the task id')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (id: string, flags: { json?: boolean, api?: string }) => {
      const task = await clientFor(flags, io).delete<TaskStatus>(taskPath(id))
      io.out(flags.json === true ? json(task) : `${task.id} ${progressLine(task)}`)
    })
}

/** Builds the exec spec of `bidmesh run`; a bad value fails here (exit 2) naming its flag. */
export function runSpec (command: string[], flags: RunFlags): Record<string, unknown> {
  const resources: Record<string, number> = {}
  if (flags.cpu !== undefined) resources.cpu = flags.cpu
  if (flags.mem !== undefined) resources.memMb = flags.mem
  if (flags.gpu !== undefined) resources.gpu = flags.gpu
  const spec: Record<string, unknown> = { name: flags.name ?? nameFor(command[0] ?? ''), kind: 'exec', command }
  // Only what was given: the node fills in the defaults, as for a spec file.
  if (flags.framework !== undefined) spec.framework = flags.framework
  if (Object.keys(resources).length > 0) spec.resources = resources
  if (flags.env !== undefined) spec.env = flags.env
  if (flags.timeout !== undefined) spec.timeoutMs = flags.timeout
  if (flags.retries !== undefined) spec.retries = { max: flags.retries }
  try {
    parseTaskSpec(spec)
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    throw new ValidationError('task', err.issues.map(i => {
      const flag = Object.entries(RUN_FLAG_FOR_FIELD).find(([field]) => i.path === field || i.path.startsWith(field + '.'))?.[1]
      return { path: flag !== undefined ? `${flag} (${i.path})` : i.path, message: i.message }
    }))
  }
  return spec
}

/** A task name from a program path: `/usr/bin/python3.12` → `python3.12`, in the name alphabet. */
export function nameFor (program: string): string {
  const name = basename(program).replace(/[^A-Za-z0-9._:-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128)
  return name === '' ? 'task' : name
}

/** POSTs a spec, then prints the id, or waits and exits by the task's outcome. */
async function submitAndReport (spec: unknown, flags: WaitFlags, io: CliIo, onSuccess: (task: TaskStatus) => void): Promise<void> {
  const client = clientFor(flags, io)
  const created = await badInputFromApi(async () => await client.post<{ id: string, task: TaskStatus }>('/v1/tasks', spec))
  if (flags.wait !== true) { io.out(flags.json === true ? json(created) : created.id); return }
  const id = created.id
  io.err(`submitted ${id}`)
  const { signal, dispose } = io.interrupt()
  let outcome
  try {
    outcome = await waitForTask(client, created.task, { pollMs: io.pollMs, signal, onProgress: line => { io.err(`  ${line}`) } })
  } finally { dispose() }
  const task = outcome.task
  if (outcome.kind === 'interrupted') {
    io.err(`stopped waiting; task ${id} carries on (${task.state}): see bidmesh task ${id}`)
    io.setExitCode(130)
    return
  }
  if (flags.json === true) io.out(json(task))
  else if (task.state === 'succeeded') onSuccess(task)
  // Failing outcomes leave through main's error path: one line on stderr, exit 1.
  if (task.state === 'failed') throw new BidmeshError(`task ${id} failed: ${task.error ?? 'no error recorded'}`, 'task_failed', { task: id })
  if (task.state === 'cancelled') {
    const why = task.history.at(-1)?.reason
    throw new BidmeshError(`task ${id} was cancelled${why !== undefined ? ` (${why})` : ''}`, 'task_cancelled', { task: id })
  }
}

function printResult (io: CliIo, result: unknown): void {
  if (result === undefined || result === null) return
  io.out(typeof result === 'string' ? result : json(result))
}

function taskPath (id: string): string {
  return `/v1/tasks/${encodeURIComponent(id)}`
}

function json (v: unknown): string {
  return JSON.stringify(v, null, 2)
}

export function formatTaskTable (tasks: TaskStatus[], now: number): string {
  if (tasks.length === 0) return 'no tasks'
  return formatTable(['ID', 'NAME', 'FRAMEWORK', 'STATE', 'ATTEMPT', 'NODE', 'AGE'], tasks.map(t => [
    t.id, t.spec.name, t.spec.framework, t.state, String(t.attempt), t.node !== undefined ? shortPeer(t.node) : '-', formatAge(now - t.submittedAt)
  ]))
}

/** `42s`, `5m`, `3h`, `2d`: enough to tell old from new at a glance. */
export function formatAge (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

/**
 * `bidmesh task ID`: one field per line, then the history. `now` dates the last checkpoint
 * ("saved 3s ago"); it defaults to the wall clock.
 */
export function formatTaskDetails (t: TaskStatus, now: number = Date.now()): string {
  const s = t.spec
  const constraints = Object.entries(s.constraints).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : v}`).join(' ')
  const fields: Array<[string, string | undefined]> = [
    ['task', t.id],
    ['name', s.name],
    ['framework', `${s.framework} (priority ${s.priority}, ${s.placement})`],
    ['runs', describeRun(s)],
    ['resources', formatResources(taskDemand(s))],
    ['constraints', constraints === '' ? undefined : constraints],
    ['timeout', s.timeoutMs !== undefined ? `${s.timeoutMs} ms` : undefined],
    ['state', progressLine(t)],
    ['node', t.node],
    ['submitted', `${iso(t.submittedAt)} via ${t.submitter}`],
    // Two counters, two causes: the task's own failures spend its retry budget; node losses do not.
    ['retries', `${t.retries} of ${s.retries.max} for task failures`],
    ['recoveries', `${t.recoveries} for lost nodes`],
    ['checkpoint', t.checkpoint === undefined ? undefined : formatCheckpoint(t.checkpoint, t.attempt, now)],
    ['pending', t.pendingReason],
    ['exit code', t.exitCode !== undefined ? String(t.exitCode) : undefined],
    ['error', t.error],
    ['result', t.result === undefined ? undefined : typeof t.result === 'string' ? t.result : json(t.result)]
  ]
  const width = Math.max(...fields.map(([k]) => k.length)) + 2
  // Multi-line values (results) continue under the value column.
  const lines = fields.filter(([, v]) => v !== undefined).map(([k, v]) => k.padEnd(width) + (v ?? '').split('\n').join('\n' + ' '.repeat(width)))
  const history = formatTable(['TIME', 'STATE', 'ATTEMPT', 'NODE', 'REASON'], t.history.map(h => [
    iso(h.at), h.state, String(h.attempt), h.node !== undefined ? shortPeer(h.node) : '', h.reason ?? ''
  ]))
  return [...lines, '', 'history', history.split('\n').map(l => '  ' + l).join('\n')].join('\n')
}

/**
 * `seq 12, 1.5 KiB, saved 3s ago`, with `of attempt 1` when it was written by an earlier attempt
 * (the one the current attempt restored from, until it saves its own).
 */
export function formatCheckpoint (c: NonNullable<TaskStatus['checkpoint']>, attempt: number, now: number): string {
  const of = c.attempt !== attempt ? ` of attempt ${c.attempt}` : ''
  return `seq ${c.seq}${of}, ${formatBytes(c.bytes)}, saved ${formatAge(now - c.at)} ago`
}

/** `512 B`, `1.5 KiB`, `256 KiB`, `1.2 MiB`: checkpoint sizes against a limit in KiB. */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const [value, unit] = n < 1024 * 1024 ? [n / 1024, 'KiB'] : [n / (1024 * 1024), 'MiB']
  return `${value < 10 ? Number(value.toFixed(1)) : Math.round(value)} ${unit}`
}

function describeRun (s: TaskSpec): string {
  if (s.kind === 'exec') {
    const env = Object.keys(s.env)
    return `exec ${s.command.map(shellQuote).join(' ')}${s.cwd !== undefined ? ` in ${s.cwd}` : ''}${env.length > 0 ? ` with ${env.join(', ')}` : ''}`
  }
  const what = s.module ?? `inline source (${Buffer.byteLength(s.source ?? '')} bytes)`
  return `js ${what}, export ${s.export}`
}

function shellQuote (arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`
}

function iso (ms: number): string {
  return new Date(ms).toISOString()
}
