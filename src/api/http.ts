import type { IncomingMessage, ServerResponse } from 'node:http'
import { BidmeshError } from '../core/errors.js'

/** The HTTP status for each error code the API returns. */
const STATUS_BY_CODE: Record<string, number> = {
  invalid_argument: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unavailable: 503
}

export class HttpError extends BidmeshError {
  constructor (code: string, message: string, details: Record<string, unknown> = {}) {
    super(message, code, details)
    this.name = 'HttpError'
  }
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Every error leaves as `{ "error": { "code", "message", "details" } }` with a matching status. */
export function sendError (res: ServerResponse, err: unknown): void {
  if (res.headersSent) { res.destroy(); return }
  if (err instanceof BidmeshError) {
    sendJson(res, STATUS_BY_CODE[err.code] ?? 500, { error: { code: err.code, message: err.message, details: err.details } })
    return
  }
  const message = err instanceof Error ? err.message : String(err)
  sendJson(res, 500, { error: { code: 'internal', message, details: {} } })
}

/** Reads a request body up to `limit` bytes; more is refused rather than buffered. */
export async function readBody (req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > limit) throw new HttpError('payload_too_large', `request body is over ${limit} bytes`, { limit })
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export interface RouteContext {
  req: IncomingMessage
  res: ServerResponse
  params: Record<string, string>
  query: URLSearchParams
}

export type Handler = (ctx: RouteContext) => unknown

interface Route { method: string, pattern: RegExp, handler: Handler }

/**
 * A small router: `add('GET', '/v1/tasks/:id', handler)`. A handler returns the JSON body
 * (status 200), or writes the response itself and returns undefined (streams, 201s).
 */
export class Router {
  private readonly routes: Route[] = []

  add (method: string, path: string, handler: Handler): this {
    const pattern = new RegExp('^' + path.replace(/:([a-zA-Z]+)/g, '(?<$1>[^/]+)') + '$')
    this.routes.push({ method, pattern, handler })
    return this
  }

  async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    let pathMatched = false
    for (const route of this.routes) {
      const m = route.pattern.exec(url.pathname)
      if (m === null) continue
      pathMatched = true
      if (route.method !== req.method) continue
      const body = await route.handler({ req, res, params: { ...m.groups }, query: url.searchParams })
      if (body !== undefined && !res.headersSent) sendJson(res, 200, body)
      return
    }
    if (pathMatched) throw new HttpError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`)
    throw new HttpError('not_found', `no route ${req.method} ${url.pathname}`)
  }
}
