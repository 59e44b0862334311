import type { IncomingMessage } from 'node:http'
import { NotFoundError, ValidationError } from '../core/errors.js'
import type { WorkflowListEntry, WorkflowStatus } from '../workflow/index.js'
import { readBody, sendJson, type RouteContext, type Router } from './http.js'

/** What the routes need of a node's WorkflowService. */
export interface WorkflowApi {
  submit: (body: unknown) => WorkflowStatus
  get: (id: string, signal?: AbortSignal) => Promise<WorkflowStatus | undefined>
  list: () => WorkflowListEntry[]
  cancel: (id: string, signal?: AbortSignal) => Promise<WorkflowStatus>
}

/** The largest workflow spec the API accepts: up to 10,000 tasks, some with inline sources. */
export const MAX_WORKFLOW_BYTES = 8 * 1024 * 1024

/**
 * The workflow routes:
 *
 * - `POST /v1/workflows` (the workflow spec as JSON) → 201 with its WorkflowStatus; 400 naming
 *   every bad field, unknown need and cycle (`cycle: a → b → c → a`) before anything runs
 * - `GET /v1/workflows` → `{ workflows }`: every workflow this node drives or heard of, newest first
 * - `GET /v1/workflows/:id` → the WorkflowStatus, answered at any node (from the recorded state
 *   when another node drives it); `?tasks=0` leaves out the per-instance list
 * - `DELETE /v1/workflows/:id` → cancels it and its running tasks; the status after
 */
export function registerWorkflowRoutes (router: Router, service: WorkflowApi): void {
  router
    .add('POST', '/v1/workflows', async ({ req, res }) => {
      const status = service.submit(await readJson(req))
      res.setHeader('location', `/v1/workflows/${encodeURIComponent(status.id)}`)
      sendJson(res, 201, status)
    })
    .add('GET', '/v1/workflows', () => ({ workflows: service.list() }))
    .add('GET', '/v1/workflows/:id', async ctx => {
      const id = pathParam(ctx)
      const status = await service.get(id, clientGone(ctx))
      if (status === undefined) throw new NotFoundError('workflow', id)
      if (ctx.query.get('tasks') === '0') delete status.tasks
      return status
    })
    .add('DELETE', '/v1/workflows/:id', async ctx => await service.cancel(pathParam(ctx), clientGone(ctx)))
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, MAX_WORKFLOW_BYTES)
  if (text.trim() === '') throw new ValidationError('workflow', [{ path: 'body', message: 'is empty: send the workflow as a JSON object' }])
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ValidationError('workflow', [{ path: 'body', message: `is not valid JSON (${err instanceof Error ? err.message : String(err)})` }])
  }
}

function pathParam ({ params }: RouteContext): string {
  const raw = params.id ?? ''
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ValidationError('path', [{ path: 'id', message: `is not valid percent-encoding: "${raw}"` }])
  }
}

/** Aborted when the client goes away, so lookups in the DHT stop for nobody. */
function clientGone ({ res }: RouteContext): AbortSignal {
  const ac = new AbortController()
  res.once('close', () => { ac.abort(new Error('the client went away')) })
  return ac.signal
}
