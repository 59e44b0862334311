import { setTimeout as delay } from 'node:timers/promises'
import { parseSse } from '../api/sse.js'
import { BidmeshError } from '../core/errors.js'
import { isFinal, type TaskStatus } from '../core/task-state.js'
import type { TaskLogLine } from '../node/task-service.js'
import type { ApiClient } from './client.js'
import { shortPeer } from './table.js'

/**
 * Waiting on a task from the CLI: `--wait` polls its status, `logs -f` follows its log stream.
 * Both stop early, without an error, when `signal` aborts (Ctrl-C): the task itself keeps going.
 */

/** One line that says where a task is: `pending (no peer with gpu >= 8)`, `running on 12D3KooW…x7Qz`. */
export function progressLine (t: TaskStatus): string {
  const notes: string[] = []
  if (t.attempt > 1) notes.push(`attempt ${t.attempt}`)
  if (t.state === 'pending' && t.pendingReason !== undefined) notes.push(t.pendingReason)
  if (isFinal(t.state) && t.exitCode !== undefined) notes.push(`exit code ${t.exitCode}`)
  const placed = ['placed', 'running', 'succeeded', 'failed'].includes(t.state)
  const where = placed && t.node !== undefined ? ` on ${shortPeer(t.node)}` : ''
  return `${t.state}${where}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`
}

export type WaitOutcome =
  | { kind: 'final', task: TaskStatus }
  /** The user stopped waiting; `task` is the last status seen. */
  | { kind: 'interrupted', task: TaskStatus }

export interface WaitOptions {
  /** Time between status polls. */
  pollMs: number
  /** Aborting it stops the wait (Ctrl-C). */
  signal: AbortSignal
  /** Called with the first progress line and then with each one that differs from the last. */
  onProgress: (line: string) => void
  /** How long one status request may take. @default 10000 */
  requestTimeoutMs?: number
  /** Failed requests in a row (node unreachable) before giving up. @default 10 */
  maxFailures?: number
}

/** Polls `GET /v1/tasks/:id` from `first` until the task is final or the wait is interrupted. */
export async function waitForTask (client: ApiClient, first: TaskStatus, o: WaitOptions): Promise<WaitOutcome> {
  let task = first
  let line = progressLine(task)
  o.onProgress(line)
  let failures = 0
  while (!isFinal(task.state)) {
    try {
      await delay(o.pollMs, undefined, { signal: o.signal })
      task = await client.get<TaskStatus>(`/v1/tasks/${encodeURIComponent(first.id)}`, AbortSignal.any([o.signal, AbortSignal.timeout(o.requestTimeoutMs ?? 10_000)]))
      failures = 0
    } catch (err) {
      if (o.signal.aborted) return { kind: 'interrupted', task }
      // A node that is busy or restarting is not the end of the task: keep asking for a while.
      if (!(err instanceof BidmeshError && err.code === 'unavailable') || ++failures >= (o.maxFailures ?? 10)) throw err
      continue
    }
    const next = progressLine(task)
    if (next !== line) { line = next; o.onProgress(line) }
  }
  return { kind: 'final', task }
}

export interface FollowLogOptions {
  /** Start with the last N lines instead of the whole log. */
  tail?: number
  signal: AbortSignal
  onLine: (line: TaskLogLine) => void
  /** The API token, sent as a bearer token. */
  token?: string
}

/**
 * Follows `GET /v1/tasks/:id/logs?follow=1` until the server says `end` ('ended') or the signal
 * aborts ('interrupted'). A stream that breaks off before `end` is an error: the task may still
 * be running, and the user should know the output is incomplete.
 */
export async function followLog (base: string, id: string, o: FollowLogOptions): Promise<'ended' | 'interrupted'> {
  const path = `/v1/tasks/${encodeURIComponent(id)}/logs?follow=1${o.tail !== undefined ? `&tail=${o.tail}` : ''}`
  try {
    const res = await fetch(base + path, { headers: o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}, signal: o.signal })
    if (!res.ok || res.body === null) throw await httpError(res, path)
    for await (const e of parseSse(res.body)) {
      if (e.event === 'line') o.onLine(JSON.parse(e.data) as TaskLogLine)
      else if (e.event === 'end') return 'ended'
      else if (e.event === 'error') {
        const err = JSON.parse(e.data)
        throw new BidmeshError(`log stream of task ${id}: ${err.message}`, err.code ?? 'internal', err.details ?? {})
      }
    }
  } catch (err: any) {
    if (o.signal.aborted) return 'interrupted'
    if (err instanceof BidmeshError) throw err
    throw new BidmeshError(`cannot reach the bidmesh API at ${base} (${err.cause?.code ?? err.message}); is a node running? Use --api or BIDMESH_API`, 'unavailable', { api: base })
  }
  throw new BidmeshError(`the log stream of task ${id} closed before the task ended; run the command again to resume`, 'unavailable', { task: id })
}

/** The API's `{ error }` body as an error, the way ApiClient reports it. */
async function httpError (res: Response, path: string): Promise<BidmeshError> {
  let e: any
  try { e = JSON.parse(await res.text())?.error } catch { e = undefined }
  return new BidmeshError(e?.message ?? `GET ${path} failed with HTTP ${res.status}`, e?.code ?? 'http_error', e?.details ?? {})
}
