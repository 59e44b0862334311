import { randomBytes } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { join } from 'node:path'
import {
  AUCTION_PROTOCOL, Auctioneer, Bidder, decodeAuctionMessage, encodeAuctionMessage, MAX_AUCTION_MESSAGE_BYTES,
  type AuctioneerOutput, type AuctionMessage, type BidderOutput, type PeerView, type StartTask
} from '../bidding/index.js'
import type { NodeAdvert } from '../core/advert.js'
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js'
import { isId, makeId } from '../core/ids.js'
import { dominantFraction, fits, normalizeResources, type Resources } from '../core/resources.js'
import { isFinal, retryDelayMs, type TaskStatus } from '../core/task-state.js'
import { parseTaskSpec, taskDemand, type TaskSpec } from '../core/task-spec.js'
import type { Runner, RunOutcome } from '../exec/index.js'
import { taskWorkDir } from '../exec/index.js'
import { FairnessLedger } from '../fairness/index.js'
import type { ClusterView } from '../gossip/cluster-view.js'
import type { AdvertBody } from '../gossip/mesh-gossip.js'
import { ChannelPool, type ChannelPoolLibp2p } from './channel.js'
import type { TypedEmitter, NodeEvents } from './events.js'
import { TaskTable } from './task-table.js'
import type { FrameworkInfo, LogsPage, SubmitOptions, TaskLogLine, TaskService } from './task-service.js'
import { decodeTaskWire, encodeTaskWire, MAX_RESULT_BYTES, MAX_TASK_FRAME_BYTES, TASK_PROTOCOL, TASK_WIRE_VERSION, type TaskAdopt, type TaskCheckpointNote, type TaskRequest, type TaskUpdate, type TaskWireMessage } from './task-wire.js'
import { auctionTaskFromSpec } from '../bidding/task.js'
import { StaleRecordError } from '../store/errors.js'
import { RecoveryLeader } from './recovery.js'
import { TaskRpc } from './task-rpc.js'
import { FinalReports } from './final-reports.js'
import { TaskRecords, withResult, type TaskRecordStore } from './task-records.js'

export interface SchedulerInit {
  self: string
  capacity: Resources
  labels: Record<string, string>
  allowExec: boolean
  dataDir: string
  libp2p: ChannelPoolLibp2p
  view: ClusterView
  runner: Runner
  events: TypedEmitter<NodeEvents>
  /** Asks the gossip layer to advertise soon (this node's free capacity changed). */
  advertiseSoon: () => void
  /** The DHT record store: task records, results and checkpoints. Without it nothing survives the owner. */
  store?: TaskRecordStore
  now?: () => number
}

/** Counters of what peers sent that a correct peer would not; exposed on /v1/node and /metrics. */
export interface SchedulerCounters {
  badAuctionFrames: number
  badTaskFrames: number
  staleUpdates: number
  updatesFromStrangers: number
}

/**
 * The scheduler of one node: the auctioneer for tasks submitted here and the bidder for this
 * node's capacity, wired to libp2p streams, timers, the task runner and the task table. It owns
 * the life of every task submitted here: placement, retries with backoff, and re-placement when
 * the node running it dies.
 */
export class Scheduler implements TaskService {
  readonly counters: SchedulerCounters = { badAuctionFrames: 0, badTaskFrames: 0, staleUpdates: 0, updatesFromStrangers: 0 }
  readonly ledger = new FairnessLedger()
  readonly tasks: TaskTable
  private readonly bidder: Bidder
  private readonly auctioneer: Auctioneer
  private readonly auctionPool: ChannelPool
  private readonly taskPool: ChannelPool
  private readonly now: () => number
  private wakeTimer?: ReturnType<typeof setTimeout>
  private wakeAt = Number.POSITIVE_INFINITY
  private planQueued = false
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>()
  private readonly rpc = new TaskRpc((peer, msg) => { this.sendTask(peer, msg) })
  private readonly finals = new FinalReports({
    send: (to, msg) => { this.sendTask(to, msg) },
    ownerOf: (task, attempt) => {
      const copy = this.tasks.get(task)
      return copy !== undefined && copy.attempt === attempt && copy.submitter !== this.init.self ? copy.submitter : undefined
    }
  })
  private stopped = false
  private readonly weightStamps = new Map<string, number>()
  private readonly records: TaskRecords
  private readonly recovery: RecoveryLeader
  /** Attempts told to stop while their checkpoint was still being fetched. */
  private readonly killedBeforeStart = new Set<string>()
  debugStats (): unknown {
    return { auctioneer: this.auctioneer.stats(), bidder: this.bidder.stats(), counters: this.counters, records: this.records.counters, recovery: this.recovery.counters }
  }

  /** The most this node ever had allocated plus held, per resource: the capacity invariant's witness. */
  private readonly peak: Record<string, number> = {}

  constructor (private readonly init: SchedulerInit) {
    this.now = init.now ?? Date.now
    this.tasks = new TaskTable(init.self)
    this.records = new TaskRecords(init.store, this.now, peer => init.view.status(peer) === 'dead')
    this.recovery = new RecoveryLeader({
      self: init.self,
      view: init.view,
      records: this.records,
      owns: id => this.tasks.get(id)?.submitter === init.self || init.runner.get(id) !== undefined,
      adopt: (status, reason) => { this.adoptOrphan(status, reason) },
      adoptFinished: status => { this.tasks.set({ ...status, submitter: init.self, updatedAt: this.now() }) }
    })
    const shareOf = (f: string): number => this.ledger.dominantShare(f)
    this.bidder = new Bidder({ capacity: init.capacity, labels: init.labels, allowExec: init.allowExec }, {
      shareOf,
      shareWith: (f, extra) => this.ledger.dominantShareWith(f, extra)
    })
    this.auctioneer = new Auctioneer({ self: init.self }, { shareOf })
    this.auctionPool = new ChannelPool(init.libp2p, AUCTION_PROTOCOL, (frame, peer) => { this.onAuctionFrame(frame, peer) }, MAX_AUCTION_MESSAGE_BYTES)
    this.taskPool = new ChannelPool(init.libp2p, TASK_PROTOCOL, (frame, peer) => { this.onTaskFrame(frame, peer) }, MAX_TASK_FRAME_BYTES)
  }

  async start (): Promise<void> {
    await this.auctionPool.start()
    await this.taskPool.start()
    this.init.events.on('peer:advert', advert => { this.onAdvert(advert) })
    this.init.events.on('peer:status', change => {
      if (change.to === 'dead') this.onPeerDead(change.peer)
      if (change.to === 'alive' && change.from === 'dead') this.fenceReturned(change.peer)
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.recovery.stop()
    clearTimeout(this.wakeTimer)
    for (const t of this.retryTimers) clearTimeout(t)
    this.rpc.stop()
    this.finals.stop()
    this.records.flush()
    await this.auctionPool.stop()
    await this.taskPool.stop()
  }

  /** The most this node ever had allocated plus held, per resource (cpu in millicores). */
  peakUsage (): Resources {
    return { ...this.peak }
  }

  private notePeak (): void {
    const free = this.bidder.free()
    for (const [k, cap] of Object.entries(this.init.capacity)) {
      const used = cap - (free[k] ?? 0)
      if (used > (this.peak[k] ?? 0)) this.peak[k] = used
    }
  }

  /** The scheduler's part of this node's advert. */
  advertBody (): Pick<AdvertBody, 'free' | 'usageByFramework' | 'runningCount' | 'running' | 'pending' | 'pendingByFramework'> {
    const running = this.bidder.running()
    const usage = this.reportSelf()
    const pendingByFramework = this.pendingByFramework()
    this.waitersByPeer.set(this.init.self, pendingByFramework)
    this.refreshMeshWaiters()
    return {
      pendingByFramework,
      free: normalizeResources(this.bidder.free()),
      usageByFramework: Object.fromEntries(Object.entries(usage).map(([f, u]) => [f, normalizeResources(u)])),
      runningCount: running.length,
      running: running.slice(0, 200).map(r => ({ id: r.task, attempt: r.attempt })),
      pending: this.auctioneer.pendingTasks().slice(0, 200).map(p => ({ id: p.task, attempt: p.attempt }))
    }
  }

  /**
   * Folds this node's own allocation into the fairness ledger now. Shares decide who gets room
   * that just freed here; with our own usage known only at the next advert, a framework whose
   * task just ended would still look over its share and lose the room it is owed.
   */
  private reportSelf (): Record<string, Resources> {
    const usage = this.bidder.usageByFramework()
    this.ledger.report(this.init.self, { capacity: this.init.capacity, usageByFramework: usage })
    return usage
  }

  /** Per framework, the smallest demand among this node's unplaced tasks (by dominant fraction). */
  private pendingByFramework (): Record<string, Resources> {
    const out: Record<string, Resources> = {}
    const size = new Map<string, number>()
    for (const p of this.auctioneer.pendingTasks()) {
      // Tasks in a round count too: a framework always bidding is still a framework waiting.
      if (Object.keys(out).length >= 256 && out[p.framework] === undefined) continue
      const t = this.tasks.get(p.task)
      if (t === undefined) continue
      const demand = taskDemand(t.spec)
      const d = dominantFraction(demand, this.init.capacity)
      if (d < (size.get(p.framework) ?? Number.POSITIVE_INFINITY)) { size.set(p.framework, d); out[p.framework] = demand }
    }
    return out
  }

  private readonly waitersByPeer = new Map<string, Record<string, Resources>>()

  /** The bidder holds freed room for the mesh's lowest-share waiter: give it the mesh's picture. */
  private refreshMeshWaiters (): void {
    const merged = new Map<string, Resources>()
    for (const [peer, waiting] of this.waitersByPeer) {
      if (peer !== this.init.self && this.init.view.status(peer) !== 'alive') continue
      for (const [f, demand] of Object.entries(waiting)) {
        const have = merged.get(f)
        if (have === undefined || dominantFraction(demand, this.init.capacity) < dominantFraction(have, this.init.capacity)) merged.set(f, demand)
      }
    }
    this.bidder.setMeshWaiters(merged)
  }

  // ---- TaskService -------------------------------------------------------------------------

  submit (input: unknown, opts: SubmitOptions = {}): TaskStatus {
    const spec = parseTaskSpec(input)
    const now = this.now()
    if (opts.id !== undefined && !isId(opts.id)) throw new ValidationError('submit options', [{ path: 'id', message: `"${opts.id}" is not a task id (t-<9 base-36 digits><16 hex digits>)` }])
    const existing = opts.id === undefined ? undefined : this.tasks.get(opts.id)
    if (existing !== undefined && existing.submitter === this.init.self) return existing
    const id = opts.id ?? makeId('t', now, randomBytes(8))
    const created = this.tasks.create(id, spec, now)
    const status = opts.avoid !== undefined || opts.workflow !== undefined
      ? this.tasks.set({ ...created, avoid: [...new Set(opts.avoid ?? [])], ...(opts.workflow !== undefined ? { workflow: opts.workflow } : {}) })
      : created
    this.records.saveTask(status)
    this.enqueue(status, now)
    this.init.events.emit('task:submitted', status)
    return status
  }

  async get (id: string, signal?: AbortSignal): Promise<TaskStatus | undefined> {
    const local = this.tasks.get(id)
    if (local !== undefined && local.submitter === this.init.self) return local
    const answers = await this.askPeers<TaskStatus | null>({ op: 'get', task: id }, signal)
    const found = answers.filter((a): a is TaskStatus => a !== null && typeof a === 'object' && a.id === id)
    // The owner's copy is the truth; an executor's copy is the fallback; the DHT is the last word
    // when both are gone.
    const answer = found.find(a => a.submitter !== undefined && answers.length > 0 && this.isOwnerCopy(a)) ?? found[0] ?? local
    if (answer !== undefined && (isFinal(answer.state) || this.init.view.status(answer.submitter) !== 'dead')) return answer
    const [record, result] = await Promise.all([this.records.loadTask(id, signal), this.records.loadResult(id, signal)])
    const best = record !== undefined && (answer === undefined || record.attempt >= answer.attempt) ? record : answer
    return best === undefined ? undefined : withResult(best, result)
  }

  async list (opts: { all?: boolean, limit?: number, signal?: AbortSignal }): Promise<TaskStatus[]> {
    const byId = new Map<string, TaskStatus>()
    const add = (t: TaskStatus): void => {
      const have = byId.get(t.id)
      if (have === undefined || (t.updatedAt > have.updatedAt)) byId.set(t.id, t)
    }
    for (const t of this.tasks.all()) add(t)
    if (opts.all === true) {
      for (const list of await this.askPeers<TaskStatus[]>({ op: 'list', limit: opts.limit ?? 100 }, opts.signal)) {
        if (Array.isArray(list)) for (const t of list) if (typeof t?.id === 'string') add(t)
      }
    }
    return [...byId.values()].sort((a, b) => b.submittedAt - a.submittedAt).slice(0, opts.limit ?? 100)
  }

  async cancel (id: string, signal?: AbortSignal): Promise<TaskStatus> {
    const local = this.tasks.get(id)
    if (local !== undefined && local.submitter === this.init.self) return this.cancelOwned(local)
    const status = await this.get(id, signal)
    if (status === undefined) throw new NotFoundError('task', id)
    if (isFinal(status.state)) return status
    const answer = await this.rpc.call(status.submitter, { op: 'cancel', task: id }, signal)
    return answer as TaskStatus
  }

  async logs (id: string, opts: { after?: number, limit?: number, signal?: AbortSignal }): Promise<LogsPage> {
    const local = this.localLogs(id, opts.after, opts.limit)
    if (local !== undefined) return local
    const status = await this.get(id, opts.signal)
    if (status === undefined) throw new NotFoundError('task', id)
    if (status.node === undefined) return { lines: [], ended: isFinal(status.state) }
    if (status.node === this.init.self) return { lines: [], ended: true, node: status.node }
    const page = await this.rpc.call(status.node, { op: 'logs', task: id, after: opts.after ?? 0, limit: opts.limit ?? 1000 }, opts.signal) as LogsPage
    return page
  }

  frameworks (): FrameworkInfo[] {
    const names = new Set([...this.ledger.frameworks(), ...this.weightStamps.keys(), ...this.tasks.owned().map(t => t.spec.framework)])
    const running = new Map<string, number>()
    const pending = new Map<string, number>()
    for (const e of this.init.view.alive()) {
      for (const [f] of Object.entries(e.advert.usageByFramework)) running.set(f, running.get(f) ?? 0)
    }
    for (const t of this.tasks.owned()) {
      const map = t.state === 'running' || t.state === 'placed' ? running : t.state === 'pending' || t.state === 'bidding' ? pending : undefined
      map?.set(t.spec.framework, (map.get(t.spec.framework) ?? 0) + 1)
    }
    return [...names].sort().map(name => ({
      name,
      weight: this.ledger.weight(name),
      usage: { ...this.ledger.usage(name) },
      dominantShare: this.ledger.dominantShare(name),
      running: running.get(name) ?? 0,
      pending: pending.get(name) ?? 0
    }))
  }

  setWeight (framework: string, weight: number): void {
    this.applyWeight(framework, weight, this.now())
    this.weightsChanged?.(framework, weight, this.weightStamps.get(framework) ?? this.now())
  }

  /** Set by the node: spreads a weight change to the mesh. */
  weightsChanged?: (framework: string, weight: number, stamp: number) => void

  /** Takes a weight heard from the mesh; the newest stamp wins everywhere. */
  applyWeight (framework: string, weight: number, stamp: number): boolean {
    if (!Number.isFinite(weight) || weight <= 0) throw new ValidationError('framework weight', [{ path: 'weight', message: 'must be a positive number' }])
    const have = this.weightStamps.get(framework)
    if (have !== undefined && have >= stamp) return false
    this.weightStamps.set(framework, stamp)
    this.ledger.setWeight(framework, weight)
    return true
  }

  weights (): Array<{ framework: string, weight: number, stamp: number }> {
    return [...this.weightStamps].map(([framework, stamp]) => ({ framework, weight: this.ledger.weight(framework), stamp }))
  }

  // ---- the owner's side: placing, retrying, recovering -------------------------------------

  private enqueue (status: TaskStatus, now: number): void {
    this.auctioneer.submit(auctionTaskFromSpec(status.id, status.spec, {
      attempt: status.attempt,
      submittedAt: status.submittedAt,
      avoid: status.avoid,
      locality: [this.init.self]
    }), now)
    this.planSoon()
  }

  /** Many submits in one tick go out as one batched round (Sparrow batch sampling). */
  private planSoon (): void {
    if (this.planQueued || this.stopped) return
    this.planQueued = true
    setImmediate(() => {
      this.planQueued = false
      if (this.stopped) return
      this.handleAuctioneer(this.auctioneer.plan(this.now(), this.peerViews(), Math.random))
    })
  }

  private peerViews (): PeerView[] {
    const views: PeerView[] = []
    for (const e of this.init.view.entries()) {
      if (e.status === 'dead') continue
      // Our own free capacity is known exactly; gossip about ourselves lags; an offer is fresher than an advert.
      const offer = this.offered.get(e.peer)
      const free = e.peer === this.init.self ? this.bidder.free() : offer !== undefined && offer.at > e.lastSeen ? offer.free : undefined
      const advert = free !== undefined ? { ...e.advert, free } : e.advert
      views.push({ peer: e.peer, status: e.status, advert })
    }
    return views
  }

  private handleAuctioneer (out: AuctioneerOutput): void {
    for (const { peer, msg } of out.send) this.sendAuction(peer, msg)
    const now = this.now()
    for (const p of out.placed) {
      const t = this.tasks.get(p.task)
      if (t === undefined || t.attempt !== p.attempt || isFinal(t.state) || t.state === 'running') continue
      this.tryApply(p.task, { to: 'placed', at: now, attempt: p.attempt, node: p.peer })
      this.init.events.emit('task:placed', this.tasks.get(p.task)!)
    }
    for (const p of out.pending) {
      const t = this.tasks.get(p.task)
      if (t !== undefined && t.state === 'pending' && t.pendingReason !== p.reason) this.tasks.set({ ...t, pendingReason: p.reason, updatedAt: now })
    }
    for (const s of out.superseded) {
      // The award went unanswered: the old attempt may run on s.peer. Fence it there.
      this.sendTask(s.peer, { type: 'kill', v: TASK_WIRE_VERSION, task: s.task, attempt: s.attempt, reason: 'superseded by a newer attempt' })
      const t = this.tasks.get(s.task)
      if (t !== undefined && !isFinal(t.state)) this.records.saveTask(this.tasks.set({ ...t, attempt: s.attempt + 1, state: 'pending', updatedAt: now, history: [...t.history, { state: 'pending', at: now, attempt: s.attempt + 1, reason: s.reason }] }))
    }
    this.scheduleWake()
  }

  private onUpdate (u: TaskUpdate, from: string): void {
    const t = this.tasks.get(u.task)
    if (t === undefined || t.submitter !== this.init.self) { this.counters.updatesFromStrangers++; return }
    // We own it: whatever we make of a final report (even a stale one), it need not come again.
    if (u.state !== 'running' && from !== this.init.self) this.sendTask(from, { type: 'ack', v: TASK_WIRE_VERSION, task: u.task, attempt: u.attempt })
    if (u.attempt < t.attempt || isFinal(t.state)) {
      this.counters.staleUpdates++
      // A stale copy still running somewhere: stop it.
      if (u.state === 'running') this.sendTask(from, { type: 'kill', v: TASK_WIRE_VERSION, task: u.task, attempt: u.attempt, reason: isFinal(t.state) ? `task is already ${t.state}` : `superseded by attempt ${t.attempt}` })
      return
    }
    if (u.attempt > t.attempt) { this.counters.staleUpdates++; return }
    const now = this.now()
    if (u.state === 'running') {
      if (t.state === 'pending' || t.state === 'bidding') this.tryApply(t.id, { to: 'placed', at: now, attempt: u.attempt, node: from })
      this.tryApply(t.id, { to: 'running', at: u.at, attempt: u.attempt, node: from })
      this.init.events.emit('task:started', this.tasks.get(t.id)!)
      return
    }
    if (u.state === 'succeeded') {
      this.finish(t.id, { to: 'succeeded', at: now, attempt: u.attempt, node: from, patch: { result: u.result, ...(u.exitCode !== undefined ? { exitCode: u.exitCode } : {}) } })
      return
    }
    if (u.state === 'cancelled') {
      this.finish(t.id, { to: 'cancelled', at: now, attempt: u.attempt, node: from, reason: u.error ?? 'cancelled' })
      return
    }
    if (u.state === 'lost') { this.recover(t, from, 'the node stopped before the task ended'); return }
    // Failed: retry elsewhere while retries last, then fail with the last error.
    const error = u.error ?? 'failed'
    if (u.permanent !== true && t.retries < t.spec.retries.max) {
      const next = t.attempt + 1
      const delay = retryDelayMs(t.spec.retries, t.retries + 1)
      const updated = this.tasks.set({
        ...t,
        state: 'pending',
        attempt: next,
        retries: t.retries + 1,
        avoid: [...new Set([...t.avoid, from])],
        error,
        ...(u.exitCode !== undefined ? { exitCode: u.exitCode } : {}),
        pendingReason: `retry ${t.retries + 1} of ${t.spec.retries.max} in ${delay} ms after: ${error}`,
        updatedAt: now,
        history: [...t.history, { state: 'failed', at: now, attempt: t.attempt, node: from, reason: error }, { state: 'pending', at: now, attempt: next, reason: 'retry' }]
      })
      this.records.saveTask(updated)
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer)
        const cur = this.tasks.get(t.id)
        if (cur !== undefined && cur.state === 'pending' && cur.attempt === next) this.enqueue(cur, this.now())
      }, delay)
      this.retryTimers.add(timer)
      this.init.events.emit('task:retry', updated)
      return
    }
    this.finish(t.id, { to: 'failed', at: now, attempt: u.attempt, node: from, reason: error, patch: { error, ...(u.exitCode !== undefined ? { exitCode: u.exitCode } : {}) } })
  }

  private finish (id: string, t: Parameters<TaskTable['apply']>[1]): void {
    const cur = this.tasks.get(id)
    if (cur !== undefined && cur.state === 'pending') {
      // A reply that overtook the auction's own news: record the placement first.
      this.tryApply(id, { to: 'placed', at: t.at, attempt: t.attempt, ...(t.node !== undefined ? { node: t.node } : {}) })
    }
    if (this.tryApply(id, t)) {
      const done = this.tasks.get(id)!
      this.records.saveTask(done)
      this.init.events.emit('task:finished', done)
    }
  }

  /** The node running an attempt is gone: place the task again as a new attempt. */
  private recover (t: TaskStatus, lostNode: string, reason: string): void {
    const now = this.now()
    const next = t.attempt + 1
    const updated = this.tasks.set({
      ...t,
      state: 'pending',
      attempt: next,
      recoveries: t.recoveries + 1,
      pendingReason: `re-placing: ${reason}`,
      updatedAt: now,
      history: [...t.history, { state: 'pending', at: now, attempt: next, node: lostNode, reason }]
    })
    this.records.saveTask(updated)
    this.init.events.emit('task:recovered', updated)
    this.enqueue(updated, now)
  }

  /** Takes over a task whose owner died (the recovery leader chose us): a new attempt, placed again. */
  private adoptOrphan (status: TaskStatus, reason: string): void {
    const now = this.now()
    const next = status.attempt + 1
    const adopted = this.tasks.set({
      ...status,
      submitter: this.init.self,
      state: 'pending',
      attempt: next,
      recoveries: status.recoveries + 1,
      pendingReason: `re-placing: ${reason}`,
      updatedAt: now,
      history: [...status.history, { state: 'pending', at: now, attempt: next, reason }]
    })
    this.records.saveTask(adopted)
    this.init.events.emit('task:recovered', adopted)
    this.enqueue(adopted, now)
  }

  /**
   * An executor whose task's owner died hands the task to us (nearest to its id). The attempt
   * runs on: we only become the owner it reports to. A lower attempt than one we already hold
   * is a stale copy, and is stopped.
   */
  private onAdopt (msg: TaskAdopt, from: string): void {
    const mine = this.tasks.get(msg.task)
    if (mine !== undefined && mine.submitter === this.init.self) {
      if (msg.attempt < mine.attempt || isFinal(mine.state)) {
        this.sendTask(from, { type: 'kill', v: TASK_WIRE_VERSION, task: msg.task, attempt: msg.attempt, reason: isFinal(mine.state) ? `task is already ${mine.state}` : `superseded by attempt ${mine.attempt}` })
      }
      return
    }
    let spec: TaskSpec
    try { spec = parseTaskSpec(msg.spec) } catch { this.counters.badTaskFrames++; return }
    const now = this.now()
    const status = this.tasks.set({
      id: msg.task,
      spec,
      state: 'running',
      attempt: msg.attempt,
      submitter: this.init.self,
      node: from,
      submittedAt: msg.submittedAt,
      updatedAt: now,
      retries: msg.retries,
      recoveries: msg.recoveries,
      avoid: [],
      ...(mine?.checkpoint !== undefined ? { checkpoint: mine.checkpoint } : {}),
      history: [...(mine?.history ?? []), { state: 'running', at: now, attempt: msg.attempt, node: from, reason: `adopted: owner ${msg.deadOwner} died` }]
    })
    this.records.saveTask(status)
  }

  /**
   * The owner of tasks running here died: hand each to the live peer nearest its id, which
   * every peer computes alike, so the attempt keeps running and its news has somewhere to go.
   */
  private rehomeTasksOf (deadOwner: string): void {
    for (const info of this.init.runner.running()) {
      const copy = this.tasks.get(info.taskId)
      if (copy === undefined || copy.submitter !== deadOwner || copy.attempt !== info.attempt) continue
      const heir = this.recovery.leaderOf(info.taskId) ?? this.init.self
      const msg = adoptMessage(copy, deadOwner)
      if (heir === this.init.self) { this.onAdopt(msg, heir); continue }
      this.tasks.set({ ...copy, submitter: heir })
      this.sendTask(heir, msg)
    }
    // Attempts that ended here but whose end the dead owner never acknowledged: the heir must
    // learn of them too, or it would think them lost and run them again.
    for (const report of this.finals.unacked()) {
      const copy = this.tasks.get(report.task)
      if (copy === undefined || copy.submitter !== deadOwner || copy.attempt !== report.attempt) continue
      const heir = this.recovery.leaderOf(report.task) ?? this.init.self
      const msg = adoptMessage(copy, deadOwner)
      if (heir === this.init.self) {
        this.finals.onAck(report.task, report.attempt)
        this.onAdopt(msg, heir)
        this.onUpdate(report, heir)
        continue
      }
      this.tasks.set({ ...copy, submitter: heir })
      this.sendTask(heir, msg)
      this.finals.resend(report.task, report.attempt)
    }
  }

  private onPeerDead (peer: string): void {
    this.rehomeTasksOf(peer)
    this.recovery.onPeerDead()
    this.ledger.remove(peer)
    this.offered.delete(peer)
    this.waitersByPeer.delete(peer)
    this.refreshMeshWaiters()
    this.handleAuctioneer(this.auctioneer.onPeerGone(peer, this.now()))
    for (const t of this.tasks.owned()) {
      if ((t.state === 'running' || t.state === 'placed') && t.node === peer) this.recover(t, peer, `node ${peer} died`)
    }
  }

  /**
   * A peer we had given up for dead is back (it was frozen or cut off). Attempts we moved away
   * from it may still run there: stop them before they complete a second time.
   */
  private fenceReturned (peer: string): void {
    // Finished tasks too: a stale copy of a task that since succeeded elsewhere must not end twice.
    for (const t of this.tasks.owned()) {
      for (const h of t.history) {
        if (h.node === peer && h.attempt < t.attempt && (h.state === 'running' || h.state === 'placed')) {
          this.sendTask(peer, { type: 'kill', v: TASK_WIRE_VERSION, task: t.id, attempt: h.attempt, reason: `superseded by attempt ${t.attempt}` })
        }
      }
    }
  }

  private cancelOwned (t: TaskStatus): TaskStatus {
    if (isFinal(t.state)) return t
    const outcome = this.auctioneer.cancel(t.id)
    const target = outcome.kind === 'awarded' ? outcome.peer : t.node
    if (target !== undefined && (t.state === 'placed' || t.state === 'running' || outcome.kind === 'awarded')) {
      this.sendTask(target, { type: 'kill', v: TASK_WIRE_VERSION, task: t.id, attempt: t.attempt, reason: 'cancelled by user' })
    }
    this.finish(t.id, { to: 'cancelled', at: this.now(), attempt: t.attempt, reason: 'cancelled by user' })
    return this.tasks.get(t.id)!
  }

  private tryApply (id: string, t: Parameters<TaskTable['apply']>[1]): boolean {
    try {
      this.tasks.apply(id, t)
      return true
    } catch (err) {
      if (err instanceof ConflictError) { this.counters.staleUpdates++; return false }
      throw err
    }
  }

  private isOwnerCopy (t: TaskStatus): boolean {
    return t.history.length > 0 && t.submitter !== undefined
  }

  // ---- the executor's side ----------------------------------------------------------------

  private startTasks (starts: StartTask[]): void {
    for (const s of starts) this.startTask(s)
  }

  private startTask (s: StartTask): void {
    const spec: TaskSpec | undefined = s.spec
    if (spec === undefined) {
      this.bidder.onTaskFinished(s.task, s.attempt)
      this.sendUpdate(s.from, { task: s.task, attempt: s.attempt, state: 'failed', error: 'the award carried no task spec', permanent: true })
      return
    }
    const now = this.now()
    if (s.from !== this.init.self) {
      this.tasks.adopt({ id: s.task, spec, state: 'running', attempt: s.attempt, submitter: s.from, node: this.init.self, submittedAt: now, updatedAt: now, retries: 0, recoveries: 0, avoid: [], history: [{ state: 'running', at: now, attempt: s.attempt, node: this.init.self }] })
    }
    if (s.attempt > 1 && this.records.enabled) {
      // A later attempt resumes from the newest checkpoint of any earlier one.
      const key = `${s.task}/${s.attempt}`
      void this.records.loadCheckpoint(s.task).catch(() => undefined).then(ckpt => {
        if (this.killedBeforeStart.delete(key) || this.stopped) {
          this.bidder.onTaskFinished(s.task, s.attempt)
          this.sendUpdate(s.from, { task: s.task, attempt: s.attempt, state: this.stopped ? 'lost' : 'cancelled', error: 'stopped before it started' })
          return
        }
        this.runTask(s, spec, ckpt?.body)
      })
      return
    }
    this.runTask(s, spec, undefined)
  }

  private runTask (s: StartTask, spec: TaskSpec, checkpoint: Uint8Array | undefined): void {
    let handle
    try {
      handle = this.init.runner.start({
        taskId: s.task,
        attempt: s.attempt,
        spec,
        ...(spec.kind === 'exec' && spec.input !== undefined ? { input: spec.input } : {}),
        ...(checkpoint !== undefined ? { checkpoint } : {}),
        ...(this.records.enabled ? { onCheckpoint: async (bytes: Uint8Array, seq: number, o: { signal: AbortSignal }) => { await this.saveCheckpoint(s.task, s.attempt, seq, bytes, spec.checkpoint.quorum, o.signal) } } : {}),
        workDir: taskWorkDir(join(this.init.dataDir, 'tasks'), s.task, s.attempt)
      })
    } catch (err: any) {
      this.bidder.onTaskFinished(s.task, s.attempt)
      // A node that is shutting down hands the task back rather than failing it.
      this.sendUpdate(s.from, { task: s.task, attempt: s.attempt, state: err.name === 'RunnerStoppedError' ? 'lost' : 'failed', error: err.message })
      return
    }
    this.sendUpdate(s.from, { task: s.task, attempt: s.attempt, state: 'running' })
    this.init.events.emit('task:executing', { task: s.task, attempt: s.attempt, node: this.init.self })
    this.init.advertiseSoon()
    void handle.done.then(outcome => {
      this.init.events.emit('task:executed', { task: s.task, attempt: s.attempt, node: this.init.self, outcome: outcome.kind })
      this.bidder.onTaskFinished(s.task, s.attempt)
      this.reportSelf()
      this.offerToWaiters()
      this.init.advertiseSoon()
      this.planSoonIfPending()
      const update = outcomeUpdate(outcome)
      // The result is saved (two copies) before the owner hears of it: once anyone knows the
      // attempt ended, its result survives this node, and a peer taking over never runs it again.
      const saved = update.state === 'lost'
        ? Promise.resolve()
        : this.records.saveResultNow(s.task, s.attempt, {
          state: update.state === 'running' ? 'failed' : update.state,
          node: this.init.self,
          at: this.now(),
          ...(update.result !== undefined ? { result: update.result } : {}),
          ...(update.error !== undefined ? { error: update.error } : {}),
          ...(update.exitCode !== undefined ? { exitCode: update.exitCode } : {})
        }, Math.min(2, 1 + this.init.view.alive().filter(e => e.peer !== this.init.self).length)).catch(() => {})
      void saved.then(() => {
        // The owner may have changed while it ran (the first one died): report to the current one.
        const current = this.tasks.get(s.task)
        const owner = current !== undefined && current.attempt === s.attempt ? current.submitter : s.from
        this.sendUpdate(owner, { task: s.task, attempt: s.attempt, ...update })
      })
      const copy = this.tasks.get(s.task)
      if (copy !== undefined && copy.submitter !== this.init.self) {
        const u = outcomeUpdate(outcome)
        this.tasks.set({ ...copy, state: u.state === 'lost' ? 'failed' : u.state, updatedAt: this.now(), ...(u.error !== undefined ? { error: u.error } : {}), ...(u.result !== undefined ? { result: u.result } : {}) })
      }
    })
  }

  /**
   * Writes a checkpoint to the DHT, then tells the task's owner its seq and size. A refusal
   * because a newer attempt exists means this copy is stale: it is stopped.
   */
  private async saveCheckpoint (task: string, attempt: number, seq: number, bytes: Uint8Array, quorum: number, signal: AbortSignal): Promise<void> {
    // A quorum larger than the mesh could never be met: a lone node still saves its checkpoints.
    const reachable = 1 + this.init.view.alive().filter(e => e.peer !== this.init.self).length
    try {
      await this.records.saveCheckpoint(task, attempt, seq, bytes, Math.min(quorum, reachable), signal)
    } catch (err) {
      if (err instanceof StaleRecordError) void this.init.runner.get(task)?.cancel(`a newer attempt exists: ${err.message}`)
      throw err
    }
    const at = this.now()
    const copy = this.tasks.get(task)
    if (copy === undefined || copy.attempt !== attempt) return
    this.tasks.set({ ...copy, checkpoint: { attempt, seq, bytes: bytes.byteLength, at } })
    if (copy.submitter !== this.init.self) this.sendTask(copy.submitter, { type: 'checkpoint', v: TASK_WIRE_VERSION, task, attempt, seq, bytes: bytes.byteLength, at })
  }

  private onCheckpointNote (msg: TaskCheckpointNote): void {
    const t = this.tasks.get(msg.task)
    if (t === undefined || t.submitter !== this.init.self || t.attempt !== msg.attempt || isFinal(t.state)) return
    if ((t.checkpoint?.attempt ?? 0) === msg.attempt && (t.checkpoint?.seq ?? 0) >= msg.seq) return
    this.tasks.set({ ...t, checkpoint: { attempt: msg.attempt, seq: msg.seq, bytes: msg.bytes, at: msg.at } })
  }

  /**
   * Room just freed here: offer it straight to the submitters waiting for a framework that now
   * fits, lowest share first, rather than have them wait for the next advert.
   */
  private offerToWaiters (): void {
    const free = this.bidder.free()
    const waiting: Array<{ peer: string, share: number }> = []
    for (const [peer, byFramework] of this.waitersByPeer) {
      if (peer === this.init.self) continue
      let best = Number.POSITIVE_INFINITY
      for (const [f, demand] of Object.entries(byFramework)) {
        if (fits(demand, free)) best = Math.min(best, this.ledger.dominantShareWith(f, demand))
      }
      if (Number.isFinite(best)) waiting.push({ peer, share: best })
    }
    waiting.sort((a, b) => a.share - b.share)
    const offer = normalizeResources(free)
    for (const w of waiting.slice(0, 3)) this.sendTask(w.peer, { type: 'offer', v: TASK_WIRE_VERSION, free: offer })
  }

  /** An offer from a peer: its free capacity now, fresher than its last advert. */
  private onOffer (peer: string, free: Resources): void {
    this.offered.set(peer, { free, at: this.now() })
    this.planSoonIfPending()
  }

  /** Offers newer than the peer's advert override the advert's `free` for a short while. */
  private readonly offered = new Map<string, { free: Resources, at: number }>()

  private planSoonIfPending (): void {
    if (this.auctioneer.size > 0) { this.auctioneer.onCapacityChange(this.now()); this.planSoon() }
  }

  private sendUpdate (to: string, u: Omit<TaskUpdate, 'type' | 'v' | 'at'>): void {
    const msg: TaskUpdate = { type: 'update', v: TASK_WIRE_VERSION, at: this.now(), ...u }
    if (to === this.init.self) { queueMicrotask(() => { this.onUpdate(msg, to) }); return }
    // The end of an attempt must arrive: it is re-sent until the owner acknowledges it.
    if (msg.state !== 'running') this.finals.report(to, msg)
    else this.sendTask(to, msg)
  }

  private onKill (task: string, attempt: number, reason: string, from: string): void {
    const handle = this.init.runner.get(task)
    if (handle === undefined) {
      const copy = this.tasks.get(task)
      if (copy !== undefined && copy.attempt === attempt && !isFinal(copy.state) && (copy.submitter === from || from === this.init.self)) this.killedBeforeStart.add(`${task}/${attempt}`)
      return
    }
    if (handle.attempt > attempt) return
    const copy = this.tasks.get(task)
    // Only the task's owner may stop it.
    if (copy !== undefined && copy.submitter !== from && from !== this.init.self) { this.counters.updatesFromStrangers++; return }
    void handle.cancel(reason)
  }

  private localLogs (id: string, after = 0, limit = 1000): LogsPage | undefined {
    const log = this.init.runner.logs.get(id)
    if (log === undefined) return undefined
    const lines: TaskLogLine[] = log.tail().filter(l => l.seq > after).slice(0, limit)
    return { lines, ended: log.ended, node: this.init.self }
  }

  // ---- wire --------------------------------------------------------------------------------

  private sendAuction (peer: string, msg: AuctionMessage): void {
    if (peer === this.init.self) {
      queueMicrotask(() => { this.dispatchAuction(msg, peer) })
      return
    }
    void this.auctionPool.send(peerIdOf(this.init.view, peer), encodeAuctionMessage(msg))
  }

  private onAuctionFrame (frame: Uint8Array, peer: string): void {
    const decoded = decodeAuctionMessage(frame)
    if (!decoded.ok) { this.counters.badAuctionFrames++; return }
    this.dispatchAuction(decoded.msg, peer)
  }

  private dispatchAuction (msg: AuctionMessage, peer: string): void {
    if (this.stopped) return
    const now = this.now()
    switch (msg.type) {
      case 'cfb': this.handleBidder(this.bidder.onCallForBids(msg, now, peer)); break
      case 'award': {
        const out = this.bidder.onAward(msg, now, peer)
        this.handleBidder(out)
        this.startTasks(out.start)
        break
      }
      case 'release': if (this.bidder.onRelease(msg, peer) > 0) this.init.advertiseSoon(); break
      case 'bids': this.handleAuctioneer(this.auctioneer.onBids(peer, msg, now)); this.planSoon(); break
      case 'awardReply': this.handleAuctioneer(this.auctioneer.onAwardReply(peer, msg, now)); this.planSoon(); break
    }
  }

  private handleBidder (out: BidderOutput): void {
    this.notePeak()
    this.reportSelf()
    for (const { peer, msg } of out.send) this.sendAuction(peer, msg)
    for (const s of out.stale) void this.init.runner.get(s.task)?.cancel(s.reason)
    this.scheduleWake()
    this.init.advertiseSoon()
  }

  private sendTask (peer: string, msg: TaskWireMessage): void {
    if (peer === this.init.self) { queueMicrotask(() => { this.dispatchTask(msg, peer) }); return }
    void this.taskPool.send(peerIdOf(this.init.view, peer), encodeTaskWire(msg))
  }

  private onTaskFrame (frame: Uint8Array, peer: string): void {
    const decoded = decodeTaskWire(frame)
    if (!decoded.ok) { this.counters.badTaskFrames++; return }
    this.dispatchTask(decoded.msg, peer)
  }

  private dispatchTask (msg: TaskWireMessage, peer: string): void {
    if (this.stopped) return
    switch (msg.type) {
      case 'update': this.onUpdate(msg, peer); break
      case 'kill': this.onKill(msg.task, msg.attempt, msg.reason, peer); break
      case 'offer': this.onOffer(peer, msg.free); break
      case 'checkpoint': this.onCheckpointNote(msg); break
      case 'ack': this.finals.onAck(msg.task, msg.attempt); break
      case 'adopt': this.onAdopt(msg, peer); break
      case 'req': void this.answer(msg, peer); break
      case 'res': this.rpc.onResponse(msg); break
    }
  }

  private async answer (req: TaskRequest, peer: string): Promise<void> {
    const reply = (ok: boolean, body?: unknown, error?: string): void => {
      this.sendTask(peer, { type: 'res', v: TASK_WIRE_VERSION, req: req.req, ok, ...(body !== undefined ? { body } : {}), ...(error !== undefined ? { error } : {}) })
    }
    try {
      switch (req.op) {
        case 'get': reply(true, this.tasks.get(req.task ?? '') ?? null); break
        case 'list': reply(true, this.tasks.all().sort((a, b) => b.submittedAt - a.submittedAt).slice(0, req.limit ?? 100)); break
        case 'logs': reply(true, this.localLogs(req.task ?? '', req.after, req.limit) ?? { lines: [], ended: true }); break
        case 'advert': reply(true, this.init.view.get(this.init.self)?.advert ?? null); break
        case 'peers': reply(true, this.init.view.alive().slice(0, 1000).map(e => ({ peer: e.peer, addrs: e.advert.addrs }))); break
        case 'cancel': {
          const t = this.tasks.get(req.task ?? '')
          if (t === undefined || t.submitter !== this.init.self) { reply(false, undefined, 'not the owner of this task'); break }
          reply(true, this.cancelOwned(t))
          break
        }
      }
    } catch (err: any) {
      reply(false, undefined, err.message)
    }
  }

  /** The alive peers a peer knows, with their addresses: a joining node dials these. */
  async fetchPeers (peer: string, signal?: AbortSignal): Promise<Array<{ peer: string, addrs: string[] }>> {
    const list = await this.rpc.call(peer, { op: 'peers' }, signal)
    if (!Array.isArray(list)) return []
    return list.filter((p): p is { peer: string, addrs: string[] } =>
      typeof p?.peer === 'string' && Array.isArray(p.addrs) && p.addrs.every((a: unknown) => typeof a === 'string')).slice(0, 1000)
  }

  /** The peer's own current advert, asked of the peer itself. */
  async fetchAdvert (peer: string): Promise<unknown> {
    return await this.rpc.call(peer, { op: 'advert' })
  }

  /** Asks every other alive peer; unanswered or failed requests are left out. */
  private async askPeers<T> (req: Omit<TaskRequest, 'type' | 'v' | 'req'>, signal?: AbortSignal): Promise<T[]> {
    return await this.rpc.ask<T>(this.init.view.alive().map(e => e.peer).filter(p => p !== this.init.self), req, signal)
  }

  // ---- gossip and timers ------------------------------------------------------------------

  private onAdvert (advert: NodeAdvert): void {
    this.fenceStaleCopies(advert)
    const before = this.ledgerFree.get(advert.peer)
    this.ledgerFree.set(advert.peer, advert.free)
    this.ledger.report(advert.peer, { capacity: advert.capacity, usageByFramework: advert.usageByFramework })
    this.waitersByPeer.set(advert.peer, advert.pendingByFramework)
    this.refreshMeshWaiters()
    // More room somewhere: pending tasks should not wait out their backoff.
    if (before === undefined || Object.entries(advert.free).some(([k, v]) => v > (before[k] ?? 0))) this.planSoonIfPending()
  }

  private readonly ledgerFree = new Map<string, Resources>()

  /**
   * A peer runs a newer attempt of a task we still run: we were frozen or cut off while the mesh
   * moved it. Our copy is stale; stop it before it completes a second time.
   */
  private fenceStaleCopies (advert: NodeAdvert): void {
    if (advert.peer === this.init.self) return
    for (const r of advert.running) {
      const handle = this.init.runner.get(r.id)
      if (handle !== undefined && handle.attempt < r.attempt) void handle.cancel(`superseded by attempt ${r.attempt} on ${advert.peer}`)
    }
  }

  private scheduleWake (): void {
    if (this.stopped) return
    const next = Math.min(this.bidder.nextWakeup() ?? Number.POSITIVE_INFINITY, this.auctioneer.nextWakeup() ?? Number.POSITIVE_INFINITY)
    if (!Number.isFinite(next) || next >= this.wakeAt) return
    clearTimeout(this.wakeTimer)
    this.wakeAt = next
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Number.POSITIVE_INFINITY
      const now = this.now()
      this.handleBidder(this.bidder.tick(now))
      this.handleAuctioneer(this.auctioneer.plan(now, this.peerViews(), Math.random))
    }, Math.max(0, next - this.now()))
  }
}

/** Executor → heir: the task, as the executor knows it, for the peer taking over from a dead owner. */
function adoptMessage (copy: TaskStatus, deadOwner: string): TaskAdopt {
  return { type: 'adopt', v: TASK_WIRE_VERSION, task: copy.id, attempt: copy.attempt, spec: copy.spec, submittedAt: copy.submittedAt, retries: copy.retries, recoveries: copy.recoveries, deadOwner }
}

/** What an executor tells the owner about a finished run. */
function outcomeUpdate (o: RunOutcome): Pick<TaskUpdate, 'state' | 'result' | 'error' | 'exitCode' | 'permanent'> {
  switch (o.kind) {
    case 'succeeded': {
      const size = JSON.stringify(o.result ?? null).length
      if (size > MAX_RESULT_BYTES) return { state: 'failed', error: `result of ${size} bytes is over the ${MAX_RESULT_BYTES}-byte limit`, permanent: true }
      return { state: 'succeeded', result: o.result ?? null, ...(o.exitCode !== undefined ? { exitCode: o.exitCode } : {}) }
    }
    case 'failed': return { state: 'failed', error: o.error, ...(o.exitCode !== undefined ? { exitCode: o.exitCode } : {}) }
    case 'timedOut': return { state: 'failed', error: `timed out after ${o.timeoutMs} ms` }
    case 'cancelled': return { state: 'cancelled', error: o.reason }
    case 'interrupted': return { state: 'lost', error: o.reason }
  }
}

const peerIds = new Map<string, PeerId>()

/** Peer ids travel as strings; libp2p dials PeerId objects. Parsed once per peer. */
function peerIdOf (_view: ClusterView, peer: string): PeerId {
  let id = peerIds.get(peer)
  if (id === undefined) {
    id = peerIdFromString(peer)
    peerIds.set(peer, id)
  }
  return id
}
