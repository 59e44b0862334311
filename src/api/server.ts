import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import type { BidmeshNode } from '../node/node.js'
import { HttpError, Router, sendError } from './http.js'
import { clusterBody, nodeBody } from './views.js'
import { streamEvents } from './events-stream.js'
import { registerTaskRoutes } from './task-routes.js'
import { registerWorkflowRoutes } from './workflow-routes.js'

export interface ApiServerInit {
  host: string
  port: number
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string
}

/**
 * The node's HTTP control API: JSON over HTTP on 127.0.0.1 by default. Routes are registered
 * by the layers that own them; this file only knows the transport, auth and errors.
 */
export class ApiServer {
  readonly router = new Router()
  private server?: Server
  private url?: string

  constructor (private readonly node: BidmeshNode, private readonly init: ApiServerInit) {
    this.router
      .add('GET', '/v1/node', () => nodeBody(node))
      .add('GET', '/v1/cluster', () => clusterBody(node))
      .add('GET', '/v1/events', ctx => { streamEvents(node, ctx) })
    registerTaskRoutes(this.router, node.scheduler)
    registerWorkflowRoutes(this.router, node.workflows)
  }

  get address (): string {
    if (this.url === undefined) throw new Error('API server not started')
    return this.url
  }

  async start (): Promise<string> {
    const server = createServer((req, res) => {
      this.authorize(req.headers.authorization)
        .then(async () => { await this.router.handle(req, res) })
        .catch(err => { sendError(res, err) })
    })
    // Long-lived event streams must not hold shutdown hostage.
    server.keepAliveTimeout = 5_000
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => { server.off('error', reject); resolve() })
    })
    const addr = server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    this.url = `http://${host}:${addr.port}`
    return this.url
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  private async authorize (header: string | undefined): Promise<void> {
    const token = this.init.token
    if (token === undefined) return
    const given = header?.startsWith('Bearer ') === true ? header.slice(7) : ''
    const a = Buffer.from(given)
    const b = Buffer.from(token)
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new HttpError('unauthorized', 'this API needs a token: send Authorization: Bearer <token>')
    }
  }
}
