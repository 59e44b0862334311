import type { ServerResponse } from 'node:http'

/**
 * Server-sent events, both ends: the API writes them, the CLI reads them. Keeping the writer and
 * the parser side by side keeps the wire format (`event:` / `data:` lines, blank-line separated)
 * in one place.
 */

export interface SseEvent {
  event: string
  /** The `data:` lines joined with `\n` (JSON, for every stream bidmesh writes). */
  data: string
}

export interface SseWriter {
  /** Writes one event with JSON data. */
  send: (event: string, data: unknown) => void
  /** Writes a comment line; clients ignore it, proxies see traffic. */
  comment: (text: string) => void
  end: () => void
}

/** Starts an event stream on `res` (status 200). */
export function openSse (res: ServerResponse, hello = 'bidmesh'): SseWriter {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.write(`: ${hello}\n\n`)
  // A write after the client left is dropped, not thrown: the caller stops on the 'close' event.
  const write = (s: string): void => { if (!res.writableEnded && !res.destroyed) res.write(s) }
  return {
    send: (event, data) => { write(`event: ${event}\ndata: ${JSON.stringify(data ?? null)}\n\n`) },
    comment: text => { write(`: ${text}\n\n`) },
    end: () => { if (!res.writableEnded) res.end() }
  }
}

/** Reads events from a fetch response body until it ends; comments are skipped. */
export async function * parseSse (body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder()
  let buffer = ''
  let event = 'message'
  let data: string[] = []
  for await (const chunk of chunksOf(body)) {
    buffer += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '')
      buffer = buffer.slice(nl + 1)
      if (line === '') {
        // A blank line dispatches the event gathered so far (none after a lone comment).
        if (data.length > 0) yield { event, data: data.join('\n') }
        event = 'message'
        data = []
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
    }
  }
}

async function * chunksOf (body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader()
  let done = false
  try {
    for (;;) {
      const next = await reader.read()
      if (next.done) { done = true; return }
      yield next.value
    }
  } finally {
    // A reader that stops early (an `end` event, an error) cancels the body, freeing the socket.
    if (!done) await reader.cancel().catch(() => {})
  }
}
