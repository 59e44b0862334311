import { decodeRecordValue, encodeRecordValue, type WorkflowRecord } from './record.js'

/**
 * Where workflow records live. The driver saves before it hands out the tasks a save records;
 * any node loads to answer a status read or to take over. Narrow on purpose: the DHT record
 * store, an in-memory map (unit tests) or anything else can stand behind it.
 */
export interface WorkflowStateStore {
  /** Resolves once the record is stored where a driver taking over will find it; rejects otherwise. */
  save: (record: WorkflowRecord, signal?: AbortSignal) => Promise<void>
  /** The newest record (highest epoch, then seq), or undefined when there is none. */
  load: (id: string, signal?: AbortSignal) => Promise<WorkflowRecord | undefined>
}

/** The part of `src/store/record-store.ts` this folder uses (an in-memory one stands in for unit tests). */
export interface RecordStoreLike {
  putJson: (kind: 'wf', id: string, rec: { attempt: number, seq: number, value: unknown }, opts?: { quorum?: number, signal?: AbortSignal, live?: boolean }) => Promise<unknown>
  getJson: <T>(kind: 'wf', id: string, opts?: { signal?: AbortSignal }) => Promise<{ header: { attempt: number, seq: number }, value: T } | undefined>
  forget: (kind: 'wf', id: string) => void
}

export interface RecordStoreStateStoreOptions {
  /**
   * Replicas (this node counting as one) that must hold a save before it counts: at least one
   * other peer, or a driver dying right after a save would take the only copy with it. A node
   * alone in its mesh can only count on itself.
   * @default () => 1
   */
  quorum?: () => number
}

/**
 * Workflow records in the signed DHT record store (`/bidmesh/wf/<id>`), with `attempt` = the
 * driver epoch. A final record stops being republished: it is kept where it is, not renewed.
 */
export function recordStoreStateStore (store: RecordStoreLike, opts: RecordStoreStateStoreOptions = {}): WorkflowStateStore {
  return {
    save: async (r, signal) => {
      const final = r.state.status !== 'running'
      await store.putJson('wf', r.state.id, { attempt: r.epoch, seq: r.seq, value: encodeRecordValue(r) }, { quorum: opts.quorum?.() ?? 1, ...(signal !== undefined ? { signal } : {}) })
      if (final) store.forget('wf', r.state.id)
    },
    load: async (id, signal) => {
      const got = await store.getJson<unknown>('wf', id, { ...(signal !== undefined ? { signal } : {}) })
      return got === undefined ? undefined : decodeRecordValue(got.value, got.header)
    }
  }
}

/** Records in a map shared by the "nodes" of a unit test. Copies on the way in and out, as a network would. */
export class MemoryStateStore implements WorkflowStateStore {
  readonly records = new Map<string, { attempt: number, seq: number, value: unknown }>()
  saves = 0

  async save (r: WorkflowRecord): Promise<void> {
    this.saves++
    const have = this.records.get(r.state.id)
    if (have !== undefined && (have.attempt > r.epoch || (have.attempt === r.epoch && have.seq >= r.seq))) return
    this.records.set(r.state.id, { attempt: r.epoch, seq: r.seq, value: structuredClone(encodeRecordValue(r)) })
  }

  async load (id: string): Promise<WorkflowRecord | undefined> {
    const have = this.records.get(id)
    return have === undefined ? undefined : decodeRecordValue(structuredClone(have.value), have)
  }
}
