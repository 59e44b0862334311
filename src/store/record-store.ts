import type { KadDHT } from '@libp2p/kad-dht'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { equals } from 'uint8arrays/equals'
import { BidmeshError, ValidationError } from '../core/errors.js'
import { QuorumError, RecordTooLargeError, StaleRecordError } from './errors.js'
import { readLocalRecord, writeLocalRecord } from './local.js'
import { compareRecordBytes, encodedSize, headerProblem, recordKey, type DecodedRecord, type RecordHeader, type RecordKind, type SignedRecord } from './record.js'
import { compareDistance, kadId, replicaAccess, type GetAnswer, type ReplicaAccess } from './replicas.js'
import { signRecord } from './signing.js'
import { DEFAULT_MAX_RECORD_BYTES, verifyRecord } from './validators.js'

export { QuorumError, RecordTooLargeError, StaleRecordError } from './errors.js'
export type { RecordHeader, RecordKind, SignedRecord } from './record.js'

export interface RecordStoreInit {
  dht: KadDHT
  /** The libp2p private key (Ed25519): records are signed with it. */
  privateKey: PrivateKey
  /** This node's peer id string: the `author` of what it writes. */
  self: string
  /** Largest encoded record written or accepted. @default DEFAULT_MAX_RECORD_BYTES (256 KiB) */
  maxRecordBytes?: number
  /** How often live records are re-sent to their replica set. @default 60000 */
  republishIntervalMs?: number
  /** The clock stamped into `at`. @default Date.now */
  now?: () => number
  /** How long a put waits for replicas. @default 10000 */
  putTimeoutMs?: number
  /** How long a get waits when the caller gives no `timeoutMs`. @default 5000 */
  getTimeoutMs?: number
  /**
   * How many peers nearest a key a put sends it to (this node's own copy comes on top). kad-dht's
   * K (20) copies every record to every node of a small mesh: each task would cost twenty signed
   * writes. Five copies survive any four simultaneous losses. @default 5
   */
  replicas?: number
  /** Replaces how replicas are reached (bidmesh's own channels instead of kad-dht requests). */
  transport?: (base: ReplicaAccess) => ReplicaAccess
}

export interface PutOptions {
  /**
   * Replicas that must confirm, this node's own datastore counting as one. The put resolves as
   * soon as that many have (the other replicas are still written, in the background), with
   * `acks` counted so far; it rejects with QuorumError once every replica answered or timed out
   * short of it. @default 1
   */
  quorum?: number
  signal?: AbortSignal
  /** Keep republishing this record until `forget`. @default true */
  live?: boolean
}

export interface GetOptions {
  signal?: AbortSignal
  timeoutMs?: number
  /**
   * Peers not to ask (the caller's failure detector says they are dead). A frozen peer still
   * accepts connections but never answers: asking it makes every read wait out its timeout.
   */
  skip?: (peer: string) => boolean
}

export interface RecordStoreStats { puts: number, gets: number, refused: number, repaired: number, republished: number }

/**
 * Signed bidmesh records in kad-dht (`/bidmesh/<kind>/<id>`). Writes are signed with the node's
 * key, go to this node's datastore and the K peers nearest the key in one round; reads take the
 * best verified copy among this node and those peers. kad-dht never republishes value records,
 * so the store re-sends the records it wrote (until `forget`) and repairs stale copies it reads.
 */
export class RecordStore {
  private readonly max: number
  private readonly interval: number
  private readonly now: () => number
  private readonly access: ReplicaAccess | undefined
  private readonly shutdown = new AbortController()
  private readonly live = new Map<string, { kind: RecordKind, id: string, bytes: Uint8Array }>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly background = new Set<Promise<unknown>>()
  private readonly counters: RecordStoreStats = { puts: 0, gets: 0, refused: 0, repaired: 0, republished: 0 }
  private timer?: ReturnType<typeof setTimeout>

  constructor (private readonly init: RecordStoreInit) {
    this.max = init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
    this.interval = init.republishIntervalMs ?? 60_000
    this.now = init.now ?? Date.now
    const base = replicaAccess(init.dht)
    this.access = base !== undefined && init.transport !== undefined ? init.transport(base) : base
    if (this.access === undefined) throw new BidmeshError('this kad-dht version does not expose its routing table and network; the record store needs them', 'unsupported_dht')
  }

  private get replicas (): ReplicaAccess { return this.access! }
  private get replicaCount (): number { return Math.min(this.init.replicas ?? 5, this.replicas.k) }
  private get datastore (): Datastore { return this.replicas.datastore }

  start (): void {
    if (this.timer !== undefined || this.shutdown.signal.aborted) return
    const tick = (): void => {
      if (this.shutdown.signal.aborted) return
      this.timer = setTimeout(() => { this.track(this.republish().finally(tick)) }, this.interval)
      this.timer.unref?.()
    }
    tick()
  }

  /** Stops republishing, aborts every query in flight and waits for them to unwind. */
  async stop (): Promise<void> {
    clearTimeout(this.timer)
    this.shutdown.abort()
    await Promise.allSettled([...this.background])
  }

  stats (): RecordStoreStats {
    return { ...this.counters }
  }

  async putJson (kind: RecordKind, id: string, rec: { attempt: number, seq: number, value: unknown }, opts: PutOptions = {}): Promise<{ acks: number, bytes: number }> {
    const text = JSON.stringify(rec.value)
    if (text === undefined) throw new ValidationError(`${kind}/${id} record`, [{ path: 'value', message: 'must be JSON-serialisable' }])
    return await this.put(kind, id, { attempt: rec.attempt, seq: rec.seq, body: new TextEncoder().encode(text) }, opts)
  }

  async put (kind: RecordKind, id: string, rec: { attempt: number, seq: number, body: Uint8Array }, opts: PutOptions = {}): Promise<{ acks: number, bytes: number }> {
    const header: RecordHeader = { kind, id, attempt: rec.attempt, seq: rec.seq, at: Math.floor(this.now()), author: this.init.self }
    const problem = headerProblem(header)
    if (problem !== undefined) throw new ValidationError(`${kind}/${id} record`, [{ path: '', message: problem }])
    const size = encodedSize(header, rec.body)
    if (size > this.max) throw new RecordTooLargeError(kind, id, size, this.max, rec.body.byteLength)
    const quorum = opts.quorum ?? 1
    const signal = this.signal(opts.signal, this.init.putTimeoutMs ?? 10_000)
    const key = recordKey(kind, id)
    const bytes = await signRecord(this.init.privateKey, header, rec.body)

    await this.withLock(key, async () => {
      const held = await this.verifiedLocal(key)
      if (held !== undefined && compareRecordBytes(bytes, held.bytes) < 0) {
        throw new StaleRecordError(kind, id, rec.attempt, rec.seq, held.rec.header)
      }
      await writeLocalRecord(this.datastore, key, bytes)
    })
    // A newer version that need not live on (a finished task) ends the republishing of older ones.
    if (opts.live !== false) this.live.set(keyString(key), { kind, id, bytes })
    else this.live.delete(keyString(key))
    const targets = this.replicas.closest(key, this.replicaCount)
    this.counters.puts++
    const acks = await this.untilQuorum(targets.map(async p => await this.replicas.putTo(p, key, bytes, signal).catch(() => false)), quorum)
    this.throwIfCancelled(opts.signal)
    if (acks < quorum) throw new QuorumError(kind, id, acks, quorum, targets.length)
    return { acks, bytes: bytes.byteLength }
  }

  /**
   * Acks (this node's copy being the first) once `quorum` is reached or every write has settled.
   * Waiting for the slowest replica would make one busy peer the latency of every checkpoint.
   */
  private async untilQuorum (writes: Array<Promise<boolean>>, quorum: number): Promise<number> {
    let acks = 1
    if (acks >= quorum) {
      this.track(Promise.all(writes))
      return acks
    }
    const { promise, resolve } = Promise.withResolvers<number>()
    let settled = 0
    for (const w of writes) {
      void w.then(ok => {
        settled++
        if (ok) acks++
        if (acks >= quorum || settled === writes.length) resolve(acks)
      })
    }
    if (writes.length === 0) resolve(acks)
    this.track(Promise.all(writes))
    return await promise
  }

  async getJson<T = unknown> (kind: RecordKind, id: string, opts: GetOptions = {}): Promise<{ header: RecordHeader, value: T } | undefined> {
    const rec = await this.get(kind, id, opts)
    if (rec === undefined) return undefined
    const { body, ...header } = rec
    try {
      return { header, value: JSON.parse(new TextDecoder().decode(body)) as T }
    } catch {
      throw new BidmeshError(`${kind}/${id} record body is not JSON`, 'bad_record', { kind, id })
    }
  }

  /** This node's own verified copy, without touching the network. */
  async getLocal (kind: RecordKind, id: string): Promise<SignedRecord | undefined> {
    const held = await this.verifiedLocal(recordKey(kind, id))
    return held === undefined ? undefined : toSigned(held.rec)
  }

  /**
   * The best verified copy among this node and the key's replica set (one round to the K
   * nearest peers; a full kad-dht walk only if their answers name nearer peers this node does
   * not know). Replicas that answered with an older copy or none are repaired in the background.
   */
  async get (kind: RecordKind, id: string, opts: GetOptions = {}): Promise<SignedRecord | undefined> {
    const key = recordKey(kind, id)
    const signal = this.signal(opts.signal, opts.timeoutMs ?? this.init.getTimeoutMs ?? 5_000)
    // Twice the replica set: after peers join or leave, copies sit a little farther out.
    const skip = opts.skip
    const targets = this.replicas.closest(key, 2 * this.replicaCount).filter(p => skip === undefined || !skip(p.toString()))
    const [local, answers] = await Promise.all([
      this.verifiedLocal(key),
      Promise.all(targets.map(async p => await this.replicas.getFrom(p, key, signal).catch((): GetAnswer => ({ peer: p, answered: false, closer: [] }))))
    ])
    const found: Array<{ bytes: Uint8Array, rec: DecodedRecord }> = local === undefined ? [] : [local]
    const good = new Map<PeerId, Uint8Array>()
    for (const a of answers) {
      if (a.value === undefined) continue
      const rec = await verifyRecord(key, a.value, this.max).catch(() => undefined)
      if (rec === undefined) { this.counters.refused++; continue }
      found.push({ bytes: a.value, rec })
      good.set(a.peer, a.value)
    }
    if (this.missedNearerPeers(key, targets, answers)) found.push(...await this.walk(key, signal))
    // A timeout only cuts the wait short: answer with the best copy found by then.
    this.throwIfCancelled(opts.signal)
    this.counters.gets++
    const best = found.reduce<typeof found[number] | undefined>((b, r) => b === undefined || compareRecordBytes(r.bytes, b.bytes) > 0 ? r : b, undefined)
    if (best === undefined) return undefined
    // Only the replica set proper is repaired: the wider read must not copy the record everywhere.
    const replicaSet = targets.slice(0, this.replicaCount)
    const stale = answers.filter(a => a.answered && replicaSet.includes(a.peer) && !(good.has(a.peer) && equals(good.get(a.peer)!, best.bytes))).map(a => a.peer)
    const selfIsReplica = replicaSet.length < this.replicaCount || compareDistance(kadId(key), kadId(this.replicas.self.toMultihash().bytes), kadId(replicaSet[replicaSet.length - 1]!.toMultihash().bytes)) < 0
    const repairSelf = local === undefined ? selfIsReplica : !equals(local.bytes, best.bytes)
    if (stale.length > 0 || repairSelf) this.track(this.repair(key, best.bytes, stale, repairSelf))
    return toSigned(best.rec)
  }

  /** Stops republishing a record (it stays where it is until replicas drop it). */
  forget (kind: RecordKind, id: string): void {
    this.live.delete(keyString(recordKey(kind, id)))
  }

  /**
   * Re-sends every live record to its replica set now; returns how many were sent. Records a
   * newer version has replaced (another writer took over) stop being live.
   */
  async republish (): Promise<number> {
    let sent = 0
    for (const [k, entry] of [...this.live]) {
      if (this.shutdown.signal.aborted) break
      const key = recordKey(entry.kind, entry.id)
      const superseded = await this.withLock(key, async () => {
        const held = await this.verifiedLocal(key)
        if (held !== undefined && compareRecordBytes(held.bytes, entry.bytes) > 0) return true
        if (held === undefined || !equals(held.bytes, entry.bytes)) await writeLocalRecord(this.datastore, key, entry.bytes)
        return false
      }).catch(() => false)
      if (superseded) { this.live.delete(k); continue }
      const signal = this.signal(undefined, this.init.putTimeoutMs ?? 10_000)
      await Promise.all(this.replicas.closest(key, this.replicaCount).map(async p => await this.replicas.putTo(p, key, entry.bytes, signal).catch(() => false)))
      sent++
      this.counters.republished++
    }
    return sent
  }

  private async repair (key: Uint8Array, best: Uint8Array, peers: PeerId[], self: boolean): Promise<void> {
    const signal = this.signal(undefined, this.init.putTimeoutMs ?? 10_000)
    if (self) {
      await this.withLock(key, async () => {
        const held = await readLocalRecord(this.datastore, key)
        if (held === undefined || compareRecordBytes(best, held) > 0) await writeLocalRecord(this.datastore, key, best)
      }).catch(() => {})
    }
    const ok = await Promise.all(peers.map(async p => await this.replicas.putTo(p, key, best, signal).catch(() => false)))
    this.counters.repaired += ok.filter(Boolean).length
  }

  /**
   * Kademlia's stopping rule for the one-round get: the answers name no peer that this node did
   * not ask and that is nearer to the key than the farthest one it asked (or it asked fewer than K).
   */
  private missedNearerPeers (key: Uint8Array, asked: PeerId[], answers: GetAnswer[]): boolean {
    const askedIds = new Set(asked.map(p => p.toString()))
    askedIds.add(this.init.self)
    const target = kadId(key)
    const farthest = asked.length > 0 ? kadId(asked[asked.length - 1]!.toMultihash().bytes) : undefined
    return answers.some(a => a.closer.some(c => !askedIds.has(c.id.toString()) &&
      (asked.length < this.replicas.k || farthest === undefined || compareDistance(target, kadId(c.id.toMultihash().bytes), farthest) < 0)))
  }

  /** The full kad-dht walk; its validator has already checked each value. */
  private async walk (key: Uint8Array, signal: AbortSignal): Promise<Array<{ bytes: Uint8Array, rec: DecodedRecord }>> {
    const out: Array<{ bytes: Uint8Array, rec: DecodedRecord }> = []
    try {
      for await (const ev of this.init.dht.get(key, { signal })) {
        if (ev.name !== 'VALUE') continue
        const rec = await verifyRecord(key, ev.value, this.max).catch(() => undefined)
        if (rec !== undefined) out.push({ bytes: ev.value, rec })
      }
    } catch {
      // A walk that ends early (timeout, a failed correction, shutdown) still leaves what it found.
    }
    return out
  }

  private async verifiedLocal (key: Uint8Array): Promise<{ bytes: Uint8Array, rec: DecodedRecord } | undefined> {
    const bytes = await readLocalRecord(this.datastore, key)
    if (bytes === undefined) return undefined
    const rec = await verifyRecord(key, bytes, this.max).catch(() => undefined)
    if (rec === undefined) { this.counters.refused++; return undefined }
    return { bytes, rec }
  }

  /** Runs `fn` after any earlier call for the same key: a read-compare-write of the local copy is atomic. */
  private async withLock<T> (key: Uint8Array, fn: () => Promise<T>): Promise<T> {
    const k = keyString(key)
    const prev = this.locks.get(k) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const settled = run.catch(() => {})
    this.locks.set(k, settled)
    void settled.then(() => { if (this.locks.get(k) === settled) this.locks.delete(k) })
    return await run
  }

  private signal (caller: AbortSignal | undefined, timeoutMs: number): AbortSignal {
    return AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(timeoutMs), ...(caller !== undefined ? [caller] : [])])
  }

  private throwIfCancelled (caller: AbortSignal | undefined): void {
    caller?.throwIfAborted()
    this.shutdown.signal.throwIfAborted()
  }

  private track (p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => { this.background.delete(t) })
    this.background.add(t)
  }
}

function keyString (key: Uint8Array): string {
  return new TextDecoder().decode(key)
}

function toSigned (rec: DecodedRecord): SignedRecord {
  return { ...rec.header, body: rec.body.slice() }
}
