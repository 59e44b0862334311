import { isFinal, type TaskStatus } from '../core/task-state.js'

/** The part of the DHT record store the scheduler uses (src/store/record-store.ts). */
export interface TaskRecordStore {
  put: (kind: 'ckpt', id: string, rec: { attempt: number, seq: number, body: Uint8Array }, opts?: { quorum?: number, signal?: AbortSignal, live?: boolean }) => Promise<{ acks: number, bytes: number }>
  putJson: (kind: 'task' | 'result', id: string, rec: { attempt: number, seq: number, value: unknown }, opts?: { quorum?: number, signal?: AbortSignal, live?: boolean }) => Promise<{ acks: number, bytes: number }>
  get: (kind: 'ckpt', id: string, opts?: { signal?: AbortSignal, timeoutMs?: number, skip?: (peer: string) => boolean }) => Promise<{ attempt: number, seq: number, body: Uint8Array } | undefined>
  getJson: <T = unknown>(kind: 'task' | 'result', id: string, opts?: { signal?: AbortSignal, timeoutMs?: number, skip?: (peer: string) => boolean }) => Promise<{ header: { attempt: number, seq: number, author: string, at: number }, value: T } | undefined>
}

/** What an executor records in `result/<id>`: the end of one attempt, readable after both ends die. */
export interface ResultRecord {
  state: 'succeeded' | 'failed' | 'cancelled'
  node: string
  at: number
  result?: unknown
  error?: string
  exitCode?: number
}

export interface TaskRecordCounters {
  recordWrites: number
  recordWriteErrors: number
}

/**
 * Writes a node's task facts to the DHT: `task/<id>` (the owner's status, at each new attempt
 * and at the end), `result/<id>` (the executor's outcome) and `ckpt/<id>` (checkpoint bytes).
 *
 * Task records are written behind, `flushMs` after the change, and the writes of one task in
 * that window coalesce: a short task writes its final record once instead of a record per state,
 * and none of it sits on the path from submit to start. Until the flush, the owner and the
 * executor hold the facts in memory, and the executor also holds the spec (it rehomes the task
 * if the owner dies), so the window only matters when both die inside it. A failed write is
 * counted, not fatal, for the same reason. Results and checkpoints are written at once, and
 * waited for: a result before the owner hears of it, a checkpoint before the task goes on.
 */
export class TaskRecords {
  private lastSeq = 0
  readonly counters: TaskRecordCounters = { recordWrites: 0, recordWriteErrors: 0 }
  private readonly dirty = new Map<string, { kind: 'task', id: string, attempt: number, value: unknown, live: boolean }>()
  private flushTimer?: ReturnType<typeof setTimeout>

  /**
   * `isDead` is the failure detector's verdict: reads skip those peers rather than wait out a
   * frozen one's silence.
   */
  constructor (private readonly store: TaskRecordStore | undefined, private readonly now: () => number, private readonly isDead: (peer: string) => boolean = () => false, private readonly flushMs = 50) {}

  /** Writes what is waiting now (a clean stop), and stops the timer. */
  flush (): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const store = this.store
    if (store === undefined) return
    for (const d of this.dirty.values()) {
      this.write(store.putJson(d.kind, d.id, { attempt: d.attempt, seq: this.nextSeq(), value: d.value }, { live: d.live }))
    }
    this.dirty.clear()
  }

  private later (kind: 'task', id: string, attempt: number, value: unknown, live: boolean): void {
    this.dirty.set(`${kind}/${id}`, { kind, id, attempt, value, live })
    if (this.flushTimer === undefined) this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.flush() }, this.flushMs)
  }

  get enabled (): boolean {
    return this.store !== undefined
  }

  /**
   * Seqs grow with the clock, so a new owner's writes for the same attempt beat the old owner's.
   * Only the order within one (task, attempt) matters; the selector keeps the highest pair.
   */
  private nextSeq (): number {
    this.lastSeq = Math.max(this.lastSeq + 1, this.now())
    return this.lastSeq
  }

  saveTask (status: TaskStatus): void {
    if (this.store === undefined) return
    // The result travels in `result/<id>`; the task record stays small.
    const { result: _result, ...rest } = status
    this.later('task', status.id, status.attempt, rest, !isFinal(status.state))
  }

  /** Saves a result now and resolves once `quorum` copies hold it (at most 2 s). */
  async saveResultNow (id: string, attempt: number, rec: ResultRecord, quorum: number): Promise<void> {
    if (this.store === undefined) return
    this.counters.recordWrites++
    try {
      await this.store.putJson('result', id, { attempt, seq: this.nextSeq(), value: rec }, { live: false, quorum, signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      this.counters.recordWriteErrors++
      throw err
    }
  }

  async loadTask (id: string, signal?: AbortSignal): Promise<TaskStatus | undefined> {
    const rec = await this.store?.getJson<TaskStatus>('task', id, { timeoutMs: 2_000, skip: this.isDead, ...(signal !== undefined ? { signal } : {}) })
    if (rec === undefined || typeof rec.value !== 'object' || rec.value === null || rec.value.id !== id) return undefined
    return rec.value
  }

  async loadResult (id: string, signal?: AbortSignal): Promise<{ attempt: number, value: ResultRecord } | undefined> {
    const rec = await this.store?.getJson<ResultRecord>('result', id, { timeoutMs: 2_000, skip: this.isDead, ...(signal !== undefined ? { signal } : {}) })
    if (rec === undefined || typeof rec.value !== 'object' || rec.value === null) return undefined
    return { attempt: rec.header.attempt, value: rec.value }
  }

  /** The newest checkpoint of a task, from any attempt; undefined when none was saved. */
  async loadCheckpoint (id: string, signal?: AbortSignal): Promise<{ attempt: number, seq: number, body: Uint8Array } | undefined> {
    // A short wait: live replicas answer in milliseconds, and a frozen one this node does not yet
    // know to be dead would otherwise hold the restart for the whole timeout. At the timeout the
    // best copy found so far is used.
    return await this.store?.get('ckpt', id, { timeoutMs: 750, skip: this.isDead, ...(signal !== undefined ? { signal } : {}) })
  }

  /** Saves a checkpoint; resolves once `quorum` replicas confirmed it, rejects with the store's reason. */
  async saveCheckpoint (id: string, attempt: number, seq: number, body: Uint8Array, quorum: number, signal: AbortSignal): Promise<void> {
    if (this.store === undefined) return
    await this.store.put('ckpt', id, { attempt, seq, body }, { quorum, signal, live: true })
  }

  private write (p: Promise<unknown>): void {
    this.counters.recordWrites++
    p.catch(() => { this.counters.recordWriteErrors++ })
  }
}

/** A status rebuilt from the DHT for a reader, with the executor's result folded in. */
export function withResult (status: TaskStatus, result: { attempt: number, value: ResultRecord } | undefined): TaskStatus {
  if (result === undefined || result.attempt < status.attempt || isFinal(status.state) && status.result !== undefined) return status
  const r = result.value
  return {
    ...status,
    state: r.state,
    node: r.node,
    updatedAt: Math.max(status.updatedAt, r.at),
    ...(r.result !== undefined ? { result: r.result } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {})
  }
}
