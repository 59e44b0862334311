import type { BidmeshNode } from '../node/node.js'
import type { NodeEvents } from '../node/events.js'
import type { RouteContext } from './http.js'

/** The events `GET /v1/events` streams, as server-sent events named after the node event. */
const STREAMED: Array<keyof NodeEvents> = ['peer:status']

/** Streams node events as server-sent events until the client goes away. */
export function streamEvents (node: BidmeshNode, { req, res }: RouteContext): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.write(': bidmesh events\n\n')
  const offs = STREAMED.map(name => node.events.on(name, (...args: unknown[]) => {
    res.write(`event: ${name}\ndata: ${JSON.stringify(args[0] ?? null)}\n\n`)
  }))
  // Comments keep proxies from closing an idle stream.
  const keepAlive = setInterval(() => { res.write(': ping\n\n') }, 15_000)
  const close = (): void => { clearInterval(keepAlive); for (const off of offs) off() }
  req.on('close', close)
  res.on('error', close)
}
