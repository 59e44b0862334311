import { BidmeshError } from '../core/errors.js'

export const DEFAULT_API = 'http://127.0.0.1:7070'

/** The API URL: `--api`, then `BIDMESH_API`, then the default. */
export function resolveApi (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return (flag ?? env.BIDMESH_API ?? DEFAULT_API).replace(/\/+$/, '')
}

/** A thin client of a node's HTTP API; errors carry the API's code and message. */
export class ApiClient {
  constructor (readonly base: string, private readonly token: string | undefined = process.env.BIDMESH_API_TOKEN) {}

  async get<T = any> (path: string, signal?: AbortSignal): Promise<T> {
    return await this.request<T>('GET', path, undefined, signal)
  }

  async post<T = any> (path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return await this.request<T>('POST', path, body, signal)
  }

  async delete<T = any> (path: string, signal?: AbortSignal): Promise<T> {
    return await this.request<T>('DELETE', path, undefined, signal)
  }

  async request<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let res: Response
    try {
      res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: signal ?? AbortSignal.timeout(30_000) })
    } catch (err: any) {
      throw new BidmeshError(`cannot reach the bidmesh API at ${this.base} (${err.cause?.code ?? err.message}); is a node running? Use --api or BIDMESH_API`, 'unavailable', { api: this.base })
    }
    const text = await res.text()
    let json: any
    try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
    if (!res.ok) {
      const e = json?.error
      throw new BidmeshError(e?.message ?? `${method} ${path} failed with HTTP ${res.status}`, e?.code ?? 'http_error', e?.details ?? {})
    }
    return json as T
  }
}
