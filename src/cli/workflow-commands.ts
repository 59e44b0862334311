import type { Command } from 'commander'
import { setTimeout as delay } from 'node:timers/promises'
import { BidmeshError, ValidationError, type FieldIssue } from '../core/errors.js'
import { parseWorkflow } from '../dag/index.js'
import type { WorkflowListEntry, WorkflowStatus } from '../workflow/index.js'
import type { ApiClient } from './client.js'
import { readSpecFile, type SpecFile } from './spec-file.js'
import { formatTable, shortPeer } from './table.js'
import { API_FLAG, API_HELP, badInputFromApi, clientFor, defaultIo, formatAge, type CliIo } from './task-commands.js'

/**
 * `bidmesh workflow submit FILE [--wait] | status ID | cancel ID | list`. A workflow file is
 * YAML (or JSON for *.json); it is checked here first, so that a bad one fails with file lines
 * and exit 2 before it reaches a node.
 */
export function registerWorkflowCommands (program: Command, io: CliIo = defaultIo()): void {
  const workflow = program.command('workflow')
    .description('task graphs driven by the mesh: submit, status, cancel, list')

  workflow.command('submit')
    .description('submit a workflow (YAML, or JSON for *.json; - reads stdin) and print its id')
    .argument('<file>', 'the workflow file')
    .option('--wait', 'show progress (N of M done, per state) until it ends; exit 0 if it succeeded, 1 if not')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (file: string, flags: { wait?: boolean, json?: boolean, api?: string }) => {
      const spec = await readSpecFile(file, io.readStdin)
      checkWorkflow(spec)
      const client = clientFor(flags, io)
      const created = await badInputFromApi(async () => await client.post<WorkflowStatus>('/v1/workflows', spec.spec))
      if (flags.wait !== true) { io.out(flags.json === true ? json(created) : created.id); return }
      io.err(`submitted ${created.id}`)
      const final = await waitForWorkflow(client, created, io)
      if (final === undefined) return
      if (flags.json === true) io.out(json(final))
      else if (final.state === 'succeeded' && final.result !== undefined && final.result !== null) io.out(typeof final.result === 'string' ? final.result : json(final.result))
      if (final.state !== 'succeeded') {
        throw new BidmeshError(`workflow ${final.id} ${final.state}${final.error !== undefined ? `: ${final.error}` : ''}`, `workflow_${final.state}`, { workflow: final.id })
      }
    })

  workflow.command('status')
    .description('show a workflow: state, counts per state, and each task instance')
    .argument('<id>', 'the workflow id')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (id: string, flags: { json?: boolean, api?: string }) => {
      const status = await clientFor(flags, io).get<WorkflowStatus>(workflowPath(id))
      io.out(flags.json === true ? json(status) : formatWorkflow(status))
    })

  workflow.command('cancel')
    .description('cancel a workflow and its running tasks, and print its state')
    .argument('<id>', 'the workflow id')
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (id: string, flags: { json?: boolean, api?: string }) => {
      const status = await clientFor(flags, io).delete<WorkflowStatus>(workflowPath(id))
      io.out(flags.json === true ? json(status) : `${status.id} ${status.text}`)
    })

  workflow.command('list')
    .description('the workflows this node drives or has heard of, newest first')
    .option('--json', 'print JSON instead of a table')
    .option(API_FLAG, API_HELP)
    .action(async (flags: { json?: boolean, api?: string }) => {
      const { workflows } = await clientFor(flags, io).get<{ workflows: WorkflowListEntry[] }>('/v1/workflows')
      io.out(flags.json === true ? json(workflows) : formatWorkflowList(workflows, io.now()))
    })
}

/** Validates as the node will, naming file lines: exit 2 before anything is sent. */
function checkWorkflow (file: SpecFile): void {
  try {
    parseWorkflow(file.spec)
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    throw new ValidationError('workflow', err.issues.map((i): FieldIssue => {
      const at = file.where(i.path)
      return { path: at === undefined ? i.path : i.path === '' ? at : `${i.path} (${at})`, message: i.message }
    }))
  }
}

/**
 * Polls the status until the workflow ends, printing a progress line whenever it changes.
 * Returns undefined after Ctrl-C (exit 130; the workflow carries on).
 */
async function waitForWorkflow (client: ApiClient, first: WorkflowStatus, io: CliIo): Promise<WorkflowStatus | undefined> {
  const { signal, dispose } = io.interrupt()
  let status = first
  let line = ''
  let failures = 0
  try {
    for (;;) {
      if (status.text !== line) { line = status.text; io.err(`  ${line}`) }
      if (status.state !== 'running') return status
      try {
        await delay(io.pollMs, undefined, { signal })
        status = await client.get<WorkflowStatus>(`${workflowPath(first.id)}?tasks=0`, AbortSignal.any([signal, AbortSignal.timeout(15_000)]))
        failures = 0
      } catch (err) {
        if (signal.aborted) {
          io.err(`stopped waiting; workflow ${first.id} carries on: see bidmesh workflow status ${first.id}`)
          io.setExitCode(130)
          return undefined
        }
        // The node asked may be busy, or the driver changing hands: keep asking for a while.
        if (!(err instanceof BidmeshError && err.code === 'unavailable') || ++failures >= 10) throw err
      }
    }
  } finally { dispose() }
}

export function formatWorkflow (s: WorkflowStatus): string {
  const head: Array<[string, string | undefined]> = [
    ['workflow', `${s.id} (${s.name})`],
    ['framework', s.framework],
    ['state', s.text],
    ['driver', `${s.driver} (epoch ${s.epoch})`],
    ['submitted', new Date(s.submittedAt).toISOString()],
    ['error', s.error],
    ['result', s.result === undefined ? undefined : json(s.result)]
  ]
  const width = Math.max(...head.map(([k]) => k.length)) + 2
  const lines = head.filter(([, v]) => v !== undefined).map(([k, v]) => k.padEnd(width) + (v ?? '').split('\n').join('\n' + ' '.repeat(width)))
  const rows = (s.tasks ?? []).map(t => [t.key, t.state, t.attempt > 0 ? String(t.attempt) : '-', t.taskId ?? '-', t.node !== undefined ? shortPeer(t.node) : '-', t.error ?? ''])
  return [...lines, '', formatTable(['TASK', 'STATE', 'ATTEMPT', 'TASK ID', 'NODE', 'ERROR'], rows)].join('\n')
}

export function formatWorkflowList (list: WorkflowListEntry[], now: number): string {
  if (list.length === 0) return 'no workflows'
  return formatTable(['ID', 'NAME', 'STATE', 'DONE', 'DRIVER', 'AGE'], list.map(w => [
    w.id, w.name, w.state, `${w.done}/${w.total}`, shortPeer(w.driver), formatAge(now - w.updatedAt)
  ]))
}

function workflowPath (id: string): string {
  return `/v1/workflows/${encodeURIComponent(id)}`
}

function json (v: unknown): string {
  return JSON.stringify(v, null, 2)
}
