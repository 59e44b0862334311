import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseSse, type SseEvent } from '../../src/api/sse.js'
import { MAX_SPEC_BYTES } from '../../src/api/task-routes.js'
import { waitFor } from '../helpers/wait.js'
import { FakeTaskService, PEER, startApi, step } from './fake-task-service.js'

const spec = { name: 'hello', kind: 'exec', command: ['echo', 'hi'] }

let service: FakeTaskService
let api: { url: string, close: () => Promise<void> }

// One server for the file; each test gets a fresh service behind it.
beforeAll(async () => {
  api = await startApi(() => service, { followPollMs: 5 })
})
afterAll(async () => { await api.close() })
beforeEach(() => { service = new FakeTaskService() })

async function call (method: string, path: string, body?: unknown): Promise<{ status: number, json: any, headers: Headers }> {
  const res = await fetch(api.url + path, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' }
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text), headers: res.headers }
}

/** The field paths a 400 names. */
function paths (json: any): string[] {
  expect(json.error.code).toBe('invalid_argument')
  return (json.error.details.issues as Array<{ path: string }>).map(i => i.path)
}

async function readEvents (res: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = []
  for await (const e of parseSse(res.body!)) events.push(e)
  return events
}

describe('POST /v1/tasks', () => {
  it('submits a spec and answers 201 with the id and status', async () => {
    const r = await call('POST', '/v1/tasks', spec)
    expect(r.status).toBe(201)
    expect(r.json.id).toMatch(/^t-/)
    expect(r.json.task).toMatchObject({ id: r.json.id, state: 'pending', attempt: 1, spec: { name: 'hello', framework: 'default' } })
    expect(r.headers.get('location')).toBe(`/v1/tasks/${r.json.id}`)
    expect(service.submitted).toEqual([spec])
  })

  it('refuses a body that is not JSON, naming the body', async () => {
    const r = await call('POST', '/v1/tasks', '{"name": ')
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['body'])
    expect(r.json.error.message).toMatch(/not valid JSON/)
    expect(service.submitted).toEqual([])
  })

  it('passes on the ValidationError of submit with its field issues', async () => {
    const r = await call('POST', '/v1/tasks', { ...spec, resources: { cpu: -1 } })
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['resources.cpu'])
  })

  it('refuses a body over 1 MiB with 413', async () => {
    const r = await call('POST', '/v1/tasks', { ...spec, env: { BIG: 'x'.repeat(MAX_SPEC_BYTES) } })
    expect(r.status).toBe(413)
    expect(r.json.error.code).toBe('payload_too_large')
    expect(service.submitted).toEqual([])
  })
})

describe('GET /v1/tasks', () => {
  it('lists newest first with limit 100 by default', async () => {
    const a = service.add(spec)
    const b = service.add({ ...spec, name: 'second' }, { to: 'placed', node: PEER }, { to: 'running' })
    const r = await call('GET', '/v1/tasks')
    expect(r.status).toBe(200)
    expect(r.json.tasks.map((t: any) => t.id)).toEqual([b.id, a.id])
    expect(service.listCalls).toEqual([{ all: false, limit: 100 }])
  })

  it('passes all and limit on', async () => {
    expect((await call('GET', '/v1/tasks?all=1&limit=5')).status).toBe(200)
    expect(service.listCalls).toEqual([{ all: true, limit: 5 }])
  })

  it.each(['abc', '0', '10001', '1.5', '-3'])('refuses limit=%s, naming limit', async bad => {
    const r = await call('GET', `/v1/tasks?limit=${bad}`)
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['limit'])
    expect(r.json.error.message).toMatch(/1 to 10000/)
  })

  it('refuses all=maybe, naming all', async () => {
    const r = await call('GET', '/v1/tasks?all=maybe')
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['all'])
  })
})

describe('GET and DELETE /v1/tasks/:id', () => {
  it('answers the status, or 404', async () => {
    const t = service.add(spec)
    const r = await call('GET', `/v1/tasks/${t.id}`)
    expect(r.status).toBe(200)
    expect(r.json).toEqual(t)
    const missing = await call('GET', '/v1/tasks/t-nope')
    expect(missing.status).toBe(404)
    expect(missing.json.error).toEqual({ code: 'not_found', message: 'task t-nope not found', details: { task: 't-nope' } })
  })

  it('cancels, or 404', async () => {
    const t = service.add(spec, { to: 'placed', node: PEER }, { to: 'running' })
    const r = await call('DELETE', `/v1/tasks/${t.id}`)
    expect(r.status).toBe(200)
    expect(r.json.state).toBe('cancelled')
    expect((await call('DELETE', '/v1/tasks/t-nope')).status).toBe(404)
  })

  it('says which methods a path does not allow', async () => {
    expect((await call('PATCH', '/v1/tasks')).status).toBe(405)
  })
})

describe('GET /v1/tasks/:id/logs', () => {
  it('pages with after and limit', async () => {
    const t = service.add(spec)
    service.appendLog(t.id, ['out', 'one'], ['err', 'two'], ['out', 'three'])
    const r = await call('GET', `/v1/tasks/${t.id}/logs?after=1&limit=1`)
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ lines: [{ seq: 2, ts: expect.any(Number), stream: 'err', text: 'two' }], ended: false, node: PEER })
  })

  it('tails the last N lines across service pages', async () => {
    const t = service.add(spec)
    for (let i = 1; i <= 2500; i++) service.appendLog(t.id, ['out', `line ${i}`])
    service.endLog(t.id)
    const r = await call('GET', `/v1/tasks/${t.id}/logs?tail=3`)
    expect(r.json.lines.map((l: any) => l.text)).toEqual(['line 2498', 'line 2499', 'line 2500'])
    expect(r.json.ended).toBe(true)
  })

  it('refuses bad paging parameters, naming them', async () => {
    const t = service.add(spec)
    expect(paths((await call('GET', `/v1/tasks/${t.id}/logs?after=-1`)).json)).toEqual(['after'])
    expect(paths((await call('GET', `/v1/tasks/${t.id}/logs?tail=1&after=2`)).json)).toEqual(['tail'])
    expect(paths((await call('GET', `/v1/tasks/${t.id}/logs?follow=2`)).json)).toEqual(['follow'])
  })

  it('is a 404 for an unknown task, also when following', async () => {
    expect((await call('GET', '/v1/tasks/t-nope/logs')).status).toBe(404)
    const r = await call('GET', '/v1/tasks/t-nope/logs?follow=1')
    expect(r.status).toBe(404)
    expect(r.json.error.code).toBe('not_found')
  })

  it('follow=1 streams lines as they come, then end, then closes', async () => {
    const t = service.add(spec)
    service.appendLog(t.id, ['out', 'one'], ['err', 'two'])
    // The third call finds one more line and the attempt over.
    service.onLogs = () => {
      if (service.logCalls.length === 3) { service.appendLog(t.id, ['sys', 'exited with code 0']); service.endLog(t.id) }
    }
    const res = await fetch(`${api.url}/v1/tasks/${t.id}/logs?follow=1`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const events = await readEvents(res)
    expect(events.map(e => e.event)).toEqual(['line', 'line', 'line', 'end'])
    expect(events.slice(0, 3).map(e => JSON.parse(e.data).text)).toEqual(['one', 'two', 'exited with code 0'])
    expect(JSON.parse(events[3]!.data)).toEqual({ ended: true, node: PEER })
    // Each poll continues after the last line sent: no gap, no repeat.
    expect(service.logCalls.map(c => c.after)).toEqual([0, 2, 2])
  })

  it('follow=1 with tail starts from the last N lines', async () => {
    const t = service.add(spec)
    service.appendLog(t.id, ['out', 'a'], ['out', 'b'], ['out', 'c'])
    service.endLog(t.id)
    const events = await readEvents(await fetch(`${api.url}/v1/tasks/${t.id}/logs?follow=1&tail=1`))
    expect(events.map(e => e.event === 'line' ? JSON.parse(e.data).text : e.event)).toEqual(['c', 'end'])
  })

  it('follow=1 stops polling once the client goes away', async () => {
    const t = service.add(spec)
    service.appendLog(t.id, ['out', 'first'])
    const client = new AbortController()
    const res = await fetch(`${api.url}/v1/tasks/${t.id}/logs?follow=1`, { signal: client.signal })
    const events = parseSse(res.body!)
    expect((await events.next()).value).toMatchObject({ event: 'line' })
    await waitFor(() => service.logCalls.length >= 3, 'a few polls')
    client.abort()
    await waitFor(() => service.logCalls.at(-1)?.signal?.aborted === true, 'the poll to see the disconnect')
    const calls = service.logCalls.length
    // A loop that kept going would call again within one 5 ms poll; give it ten.
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(service.logCalls.length).toBe(calls)
    expect(service.logCalls.filter(c => c.abortedAtStart)).toEqual([])
  })

  it('follow=1 reports a failing service as an error event', async () => {
    const t = service.add(spec)
    service.onLogs = () => { if (service.logCalls.length === 2) throw new Error('peer unreachable') }
    const events = await readEvents(await fetch(`${api.url}/v1/tasks/${t.id}/logs?follow=1`))
    expect(events).toEqual([{ event: 'error', data: JSON.stringify({ code: 'internal', message: 'peer unreachable', details: {} }) }])
  })
})

describe('frameworks', () => {
  it('lists frameworks', async () => {
    const r = await call('GET', '/v1/frameworks')
    expect(r.json).toEqual({ frameworks: [{ name: 'default', weight: 1, usage: { cpu: 1500, memMb: 512 }, dominantShare: 0.125, running: 0, pending: 0 }] })
  })

  it('sets a weight and answers the entry, also for a framework with no tasks yet', async () => {
    service.add({ ...spec, framework: 'ml' })
    const r = await call('PUT', '/v1/frameworks/ml', { weight: 3 })
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ name: 'ml', weight: 3, pending: 1 })
    service.frameworks = () => []
    expect((await call('PUT', '/v1/frameworks/etl%3Anightly', { weight: 0.5 })).json).toEqual({ name: 'etl:nightly', weight: 0.5, usage: {}, dominantShare: 0, running: 0, pending: 0 })
  })

  it.each([{ weight: 0 }, { weight: -2 }, { weight: '3' }, {}, { weight: null }])('refuses %j, naming weight', async body => {
    const r = await call('PUT', '/v1/frameworks/ml', body)
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['weight'])
    expect(service.weights.has('ml')).toBe(false)
  })

  it('refuses a bad framework name, naming name', async () => {
    const r = await call('PUT', '/v1/frameworks/has%20space', { weight: 1 })
    expect(r.status).toBe(400)
    expect(paths(r.json)).toEqual(['name'])
  })
})

// Keep the helper honest: scripted steps move through the real state machine.
it('step() applies real transitions', () => {
  const t = new FakeTaskService().add(spec)
  expect(step(step(t, 'placed', { node: PEER }), 'running').history.map(h => h.state)).toEqual(['pending', 'placed', 'running'])
})
