import { TASK_WIRE_VERSION, type TaskRequest, type TaskResponse, type TaskWireMessage } from './task-wire.js'

const RPC_TIMEOUT_MS = 3_000

/**
 * Requests and answers over the task protocol's long-lived channels: each request carries a
 * number, and the answer with that number settles it. A peer that does not answer within
 * RPC_TIMEOUT_MS is reported as such, so that a lookup across the mesh is never held up by one
 * dead or frozen peer.
 */
export class TaskRpc {
  private readonly pending = new Map<number, { resolve: (body: unknown) => void, reject: (err: Error) => void, timer: ReturnType<typeof setTimeout> }>()
  private nextReq = 1

  constructor (private readonly send: (peer: string, msg: TaskWireMessage) => void) {}

  async call (peer: string, req: Omit<TaskRequest, 'type' | 'v' | 'req'>, signal?: AbortSignal): Promise<unknown> {
    const id = this.nextReq++
    const { promise, resolve, reject } = Promise.withResolvers<unknown>()
    const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`peer ${peer} did not answer`)) }, RPC_TIMEOUT_MS)
    this.pending.set(id, { resolve, reject, timer })
    signal?.addEventListener('abort', () => { clearTimeout(timer); this.pending.delete(id); reject(new Error('aborted')) }, { once: true })
    this.send(peer, { type: 'req', v: TASK_WIRE_VERSION, req: id, ...req })
    return await promise
  }

  /** Asks every peer in `peers`; unanswered or failed requests are left out. */
  async ask<T> (peers: string[], req: Omit<TaskRequest, 'type' | 'v' | 'req'>, signal?: AbortSignal): Promise<T[]> {
    const results = await Promise.allSettled(peers.map(async p => await this.call(p, req, signal) as T))
    return results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
  }

  /** An answer came: settles its request (answers to requests that timed out are dropped). */
  onResponse (msg: TaskResponse): void {
    const p = this.pending.get(msg.req)
    if (p === undefined) return
    this.pending.delete(msg.req)
    clearTimeout(p.timer)
    if (msg.ok) p.resolve(msg.body)
    else p.reject(new Error(msg.error ?? 'peer refused the request'))
  }

  stop (): void {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(new Error('node stopping')) }
    this.pending.clear()
  }
}
