import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { ChannelPool, type ChannelPoolLibp2p } from '../node/channel.js'
import { readLocalRecord, writeLocalRecord } from './local.js'
import type { GetAnswer, ReplicaAccess } from './replicas.js'
import type { Datastore } from 'interface-datastore'

/** Record replication between bidmesh peers, over one long-lived stream per peer. */
export const RECORD_PROTOCOL = '/bidmesh/records/1.0.0'

const bytes = z.string().max(2 * 1024 * 1024).transform((s, ctx) => {
  const b = Buffer.from(s, 'base64')
  if (b.toString('base64') !== s) ctx.addIssue({ code: 'custom', message: 'not base64' })
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
})
const req = z.number().int().nonnegative()
const messageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('put'), req, key: bytes, value: bytes }),
  z.strictObject({ t: z.literal('get'), req, key: bytes }),
  z.strictObject({ t: z.literal('ok'), req, stored: z.boolean(), value: bytes.optional() })
])
type RecordMessage = z.input<typeof messageSchema>

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

export interface RecordChannelInit {
  libp2p: ChannelPoolLibp2p
  datastore: Datastore
  /** The same check kad-dht applies to a PUT_VALUE (signature, size, fencing); throws to refuse. */
  validate: (key: Uint8Array, value: Uint8Array) => void | Promise<void>
  maxRecordBytes: number
  /** @default 5000 */
  timeoutMs?: number
}

/**
 * PUT and GET of records to replicas, over the node's own long-lived channels rather than
 * kad-dht's request streams. kad-dht opens a stream per request (protocol negotiation, Noise and
 * Yamux frames for each) and merges peer records on every answer: about 5 ms of CPU per replica,
 * so a task's records cost more than its auction. A frame on an open channel costs ~0.1 ms.
 * The records land in the same datastore entries kad-dht serves, with the same validation, so
 * kad-dht's own GET walk still finds them.
 */
export class RecordChannel {
  readonly counters = { badFrames: 0, refused: 0 }
  private readonly pool: ChannelPool
  private readonly pending = new Map<number, { resolve: (m: { stored: boolean, value?: Uint8Array }) => void, timer: ReturnType<typeof setTimeout> }>()
  private nextReq = 1

  constructor (private readonly init: RecordChannelInit) {
    this.pool = new ChannelPool(init.libp2p, RECORD_PROTOCOL, (frame, peer) => { void this.onFrame(frame, peer) }, Math.ceil(init.maxRecordBytes * 1.4) + 4096)
  }

  async start (): Promise<void> { await this.pool.start() }

  async stop (): Promise<void> {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.resolve({ stored: false }) }
    this.pending.clear()
    await this.pool.stop()
  }

  /** The store's replica access with puts and gets over these channels. */
  access (base: ReplicaAccess): ReplicaAccess {
    return {
      ...base,
      putTo: async (peer, key, value, signal) => (await this.request(peer, { t: 'put', req: 0, key: b64(key), value: b64(value) }, signal)).stored,
      getFrom: async (peer, key, signal) => {
        const answer = await this.request(peer, { t: 'get', req: 0, key: b64(key) }, signal)
        const out: GetAnswer = { peer, answered: answer.answered, closer: [] }
        if (answer.value !== undefined) out.value = answer.value
        return out
      }
    }
  }

  private async request (peer: PeerId, msg: RecordMessage & { req: number }, signal: AbortSignal): Promise<{ stored: boolean, answered: boolean, value?: Uint8Array }> {
    if (signal.aborted) return { stored: false, answered: false }
    const id = this.nextReq++
    const { promise, resolve } = Promise.withResolvers<{ stored: boolean, answered: boolean, value?: Uint8Array }>()
    const done = (m: { stored: boolean, answered: boolean, value?: Uint8Array }): void => {
      clearTimeout(timer)
      this.pending.delete(id)
      signal.removeEventListener('abort', onAbort)
      resolve(m)
    }
    const onAbort = (): void => { done({ stored: false, answered: false }) }
    const timer = setTimeout(onAbort, this.init.timeoutMs ?? 5_000)
    signal.addEventListener('abort', onAbort, { once: true })
    this.pending.set(id, { resolve: m => { done({ ...m, answered: true }) }, timer })
    const sent = await this.pool.send(peer, new TextEncoder().encode(JSON.stringify({ ...msg, req: id })), signal)
    if (!sent) done({ stored: false, answered: false })
    return await promise
  }

  private readonly locks = new Map<string, Promise<unknown>>()

  private async serially (key: string, f: () => Promise<void>): Promise<void> {
    const before = this.locks.get(key) ?? Promise.resolve()
    const mine = before.then(f, f)
    const tail = mine.catch(() => {})
    this.locks.set(key, tail)
    void tail.then(() => { if (this.locks.get(key) === tail) this.locks.delete(key) })
    await mine
  }

  private async onFrame (frame: Uint8Array, peer: string): Promise<void> {
    let msg: z.output<typeof messageSchema>
    try {
      msg = messageSchema.parse(JSON.parse(new TextDecoder().decode(frame)))
    } catch {
      this.counters.badFrames++
      return
    }
    const reply = (stored: boolean, value?: Uint8Array): void => {
      void this.pool.send(peerIdFromString(peer), new TextEncoder().encode(JSON.stringify({ t: 'ok', req: msg.req, stored, ...(value !== undefined ? { value: b64(value) } : {}) })))
    }
    switch (msg.t) {
      case 'put': {
        const { key, value } = msg
        // One key at a time: two writers racing must not both pass the fencing check.
        const ok = await this.serially(b64(key), async () => {
          await this.init.validate(key, value)
          await writeLocalRecord(this.init.datastore, key, value)
        }).then(() => true, () => false)
        if (!ok) this.counters.refused++
        reply(ok)
        break
      }
      case 'get': reply(false, await readLocalRecord(this.init.datastore, msg.key).catch(() => undefined)); break
      case 'ok': {
        const p = this.pending.get(msg.req)
        if (p !== undefined) p.resolve({ stored: msg.stored, ...(msg.value !== undefined ? { value: msg.value } : {}) })
        break
      }
    }
  }
}
