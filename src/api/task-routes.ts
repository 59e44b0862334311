import type { IncomingMessage } from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { z } from 'zod'
import { BidmeshError, NotFoundError, ValidationError } from '../core/errors.js'
import { parseOrThrow, zodIssues } from '../core/schema.js'
import { execTaskSchema } from '../core/task-spec.js'
import type { FrameworkInfo, LogsPage, TaskLogLine, TaskService } from '../node/task-service.js'
import { readBody, sendJson, type RouteContext, type Router } from './http.js'
import { openSse } from './sse.js'

export interface TaskRoutesInit {
  /**
   * How often a followed log (`?follow=1`) asks the service for new lines while none come.
   * @default 250
   */
  followPollMs?: number
  /**
   * Silence on a followed log after which a comment is sent, so proxies keep the stream open.
   * @default 15000
   */
  keepAliveMs?: number
}

/** The largest task spec the API accepts; a spec is a small message (inline js source is 64 KiB). */
export const MAX_SPEC_BYTES = 1024 * 1024
/** Log lines asked of the service per call when paging for `?tail=N`. */
const TAIL_PAGE = 1000

const frameworkName = execTaskSchema.shape.framework.unwrap()
const weightBody = z.object({ weight: z.number().finite().positive() })

/**
 * The task and framework routes over a TaskService:
 *
 * - `POST /v1/tasks` (a spec) → 201 `{ id, task }`
 * - `GET /v1/tasks?all=1&limit=N` → `{ tasks }`
 * - `GET /v1/tasks/:id`, `DELETE /v1/tasks/:id` (cancel) → the TaskStatus
 * - `GET /v1/tasks/:id/logs?after=SEQ|tail=N&limit=N[&follow=1]` → `{ lines, ended, node }`, or
 *   with `follow=1` server-sent events: `line` (a TaskLogLine), then `end` once the attempt ended
 * - `GET /v1/frameworks` → `{ frameworks }`; `PUT /v1/frameworks/:name` `{ weight }` → the entry
 */
export function registerTaskRoutes (router: Router, service: TaskService, init: TaskRoutesInit = {}): void {
  const pollMs = init.followPollMs ?? 250
  const keepAliveMs = init.keepAliveMs ?? 15_000
  router
    .add('POST', '/v1/tasks', async ({ req, res }) => {
      // submit() validates the spec; its ValidationError becomes a 400 naming the field.
      const task = service.submit(await readJson(req, MAX_SPEC_BYTES, 'task spec'))
      res.setHeader('location', `/v1/tasks/${encodeURIComponent(task.id)}`)
      sendJson(res, 201, { id: task.id, task })
    })
    .add('GET', '/v1/tasks', async ctx => {
      const all = flagParam(ctx, 'all')
      const limit = intParam(ctx, 'limit', 1, 10_000) ?? 100
      return { tasks: await service.list({ all, limit, signal: clientGone(ctx) }) }
    })
    .add('GET', '/v1/tasks/:id', async ctx => {
      const id = pathParam(ctx, 'id')
      const task = await service.get(id, clientGone(ctx))
      if (task === undefined) throw new NotFoundError('task', id)
      return task
    })
    .add('DELETE', '/v1/tasks/:id', async ctx => await service.cancel(pathParam(ctx, 'id'), clientGone(ctx)))
    .add('GET', '/v1/tasks/:id/logs', async ctx => {
      const id = pathParam(ctx, 'id')
      const limit = intParam(ctx, 'limit', 1, 10_000) ?? 1000
      const tail = intParam(ctx, 'tail', 1, 10_000)
      const after = intParam(ctx, 'after', 0, Number.MAX_SAFE_INTEGER)
      if (tail !== undefined && after !== undefined) throw queryError('tail', 'cannot be combined with after')
      const signal = clientGone(ctx)
      // The first page is read before any header is sent, so an unknown task is a plain 404.
      const first = tail !== undefined ? await tailPage(service, id, tail, signal) : await service.logs(id, { after: after ?? 0, limit, signal })
      if (!flagParam(ctx, 'follow')) return first
      await followLogs(service, id, ctx, first, { after: after ?? 0, limit, pollMs, keepAliveMs, signal })
      return undefined
    })
    .add('GET', '/v1/frameworks', () => ({ frameworks: service.frameworks() }))
    .add('PUT', '/v1/frameworks/:name', async ctx => {
      const name = pathParam(ctx, 'name')
      const parsed = frameworkName.safeParse(name)
      if (!parsed.success) throw new ValidationError('framework name', zodIssues(parsed.error).map(i => ({ ...i, path: 'name' })))
      const { weight } = parseOrThrow(weightBody, await readJson(ctx.req, 64 * 1024, 'framework weight'), 'framework weight')
      service.setWeight(name, weight)
      // A framework with no tasks yet may not be listed; its entry is still well defined.
      const entry: FrameworkInfo = service.frameworks().find(f => f.name === name) ??
        { name, weight, usage: {}, dominantShare: 0, running: 0, pending: 0 }
      return entry
    })
}

interface FollowOptions { after: number, limit: number, pollMs: number, keepAliveMs: number, signal: AbortSignal }

/**
 * Streams a log as server-sent events by polling the service, until the attempt ends or the
 * client leaves. The only timer is the abortable delay between polls, so a client that goes
 * away leaves nothing behind.
 */
async function followLogs (service: TaskService, id: string, { res }: RouteContext, first: LogsPage, o: FollowOptions): Promise<void> {
  const sse = openSse(res, `logs of task ${id}`)
  let page = first
  let after = o.after
  let lastWrite = Date.now()
  try {
    for (;;) {
      for (const line of page.lines) sse.send('line', line)
      const last = page.lines.at(-1)
      if (last !== undefined) { after = last.seq; lastWrite = Date.now() }
      if (page.ended) { sse.send('end', { ended: true, node: page.node ?? null }); return }
      if (Date.now() - lastWrite >= o.keepAliveMs) { sse.comment('ping'); lastWrite = Date.now() }
      // A full page means more is waiting: ask again at once; while lines trickle in, soon.
      const wait = page.lines.length >= o.limit ? 0 : page.lines.length > 0 ? o.pollMs / 5 : o.pollMs
      if (wait > 0) await delay(wait, undefined, { signal: o.signal })
      page = await service.logs(id, { after, limit: o.limit, signal: o.signal })
    }
  } catch (err) {
    // Once the client is gone there is nobody to tell; otherwise say why the stream stops.
    if (!o.signal.aborted) {
      const e = err instanceof BidmeshError ? err : undefined
      sse.send('error', { code: e?.code ?? 'internal', message: err instanceof Error ? err.message : String(err), details: e?.details ?? {} })
    }
  } finally {
    sse.end()
  }
}

/** The last `tail` lines, by paging from the start (TaskService.logs has no tail of its own). */
async function tailPage (service: TaskService, id: string, tail: number, signal: AbortSignal): Promise<LogsPage> {
  let kept: TaskLogLine[] = []
  let after = 0
  for (;;) {
    const page = await service.logs(id, { after, limit: TAIL_PAGE, signal })
    kept = kept.concat(page.lines).slice(-tail)
    const last = page.lines.at(-1)
    // A short page is the end; a page that does not move forward would loop for ever.
    if (page.lines.length < TAIL_PAGE || last === undefined || last.seq <= after) return { ...page, lines: kept }
    after = last.seq
  }
}

/** Aborted when the client goes away, so lookups on peers stop for nobody. */
function clientGone ({ res }: RouteContext): AbortSignal {
  const ac = new AbortController()
  // The response's 'close' fires on a disconnect (and after a normal finish, when it is moot).
  res.once('close', () => { ac.abort(new Error('the client went away')) })
  return ac.signal
}

async function readJson (req: IncomingMessage, limit: number, what: string): Promise<unknown> {
  const text = await readBody(req, limit)
  if (text.trim() === '') throw new ValidationError(what, [{ path: 'body', message: 'is empty: send a JSON object' }])
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ValidationError(what, [{ path: 'body', message: `is not valid JSON (${err instanceof Error ? err.message : String(err)})` }])
  }
}

function queryError (name: string, message: string): ValidationError {
  return new ValidationError('query', [{ path: name, message }])
}

/** A whole-number query parameter in [min, max]; undefined when absent. */
function intParam ({ query }: RouteContext, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw queryError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`)
  }
  return n
}

/** A boolean query parameter: `1`/`true`/`yes` (or bare `?all`) or `0`/`false`/`no`. */
function flagParam ({ query }: RouteContext, name: string): boolean {
  const raw = query.get(name)
  if (raw === null) return false
  if (['', '1', 'true', 'yes'].includes(raw)) return true
  if (['0', 'false', 'no'].includes(raw)) return false
  throw queryError(name, `must be 1 or 0, got "${raw}"`)
}

/** Path parameters arrive percent-encoded (framework names may hold `:`). */
function pathParam ({ params }: RouteContext, name: string): string {
  const raw = params[name] ?? ''
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ValidationError('path', [{ path: name, message: `is not valid percent-encoding: "${raw}"` }])
  }
}
