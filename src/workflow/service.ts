import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { NotFoundError } from '../core/errors.js'
import { isId, makeId } from '../core/ids.js'
import { emptyEstimates, observeDuration, parseWorkflow, runSummary, startRun, type Estimates } from '../dag/index.js'
import type { NodeEvents, TypedEmitter } from '../node/events.js'
import type { TaskService } from '../node/task-service.js'
import { nearestPeer } from '../store/nearest.js'
import type { WorkflowAnnouncement, WorkflowGossip } from './announce.js'
import { RunDriver } from './run-driver.js'
import type { WorkflowStateStore } from './state-store.js'
import { workflowStatus, type WorkflowStatus } from './status.js'

export interface WorkflowServiceInit {
  self: string
  tasks: TaskService
  events: TypedEmitter<NodeEvents>
  store: WorkflowStateStore
  /** The workflow topic; without it (a node on its own) nobody takes over this node's runs. */
  gossip?: WorkflowGossip
  /** Peers alive in this node's view. */
  alivePeers: () => string[]
  /** True once this node's failure detector holds `peer` dead. */
  isDead: (peer: string) => boolean
  now?: () => number
  /**
   * How often a driver announces the workflows it drives.
   * @default 2000
   */
  announceIntervalMs?: number
  /**
   * A task handed out and not heard of for this long is looked up on the mesh.
   * @default 1000
   */
  pollAfterMs?: number
  /**
   * Lookups in a row that find no trace of a task before the driver hands it out again.
   * @default 3
   */
  lostAfterMisses?: number
  log?: (message: string) => void
}

/** A line of `GET /v1/workflows`: what every node knows of every workflow from the drivers' announcements. */
export type WorkflowListEntry = WorkflowAnnouncement

/** Final workflows a node remembers for listings; the oldest are forgotten first. */
const KEEP_FINISHED = 1000

/**
 * The workflows of one node: those it drives (submitted here, or taken over) and what it hears
 * of the others. Submitting validates the spec before anything runs; the run is then driven
 * by a RunDriver. When a driver dies, the alive peer nearest (XOR) to the workflow id loads the
 * recorded state and drives on with the next epoch.
 */
export class WorkflowService {
  private readonly runs = new Map<string, RunDriver>()
  private readonly known = new Map<string, WorkflowAnnouncement & { heardAt: number }>()
  private readonly routes = new Map<string, RunDriver>()
  private readonly takingOver = new Set<string>()
  private readonly offs: Array<() => void> = []
  private readonly shutdown = new AbortController()
  private estimates: Estimates = emptyEstimates()
  private announceTimer?: ReturnType<typeof setInterval>
  private pollTimer?: ReturnType<typeof setInterval>
  private readonly now: () => number
  private readonly log: (message: string) => void

  constructor (private readonly init: WorkflowServiceInit) {
    this.now = init.now ?? Date.now
    this.log = init.log ?? (() => {})
  }

  start (): void {
    const e = this.init.events
    this.offs.push(
      e.on('task:started', s => { this.routes.get(s.id)?.onTask(s) }),
      e.on('task:finished', s => { this.routes.get(s.id)?.onTask(s) }),
      e.on('peer:status', change => { if (change.to === 'dead') this.adoptOrphans() })
    )
    this.init.gossip?.start({
      onAnnounce: (a, from) => { this.onAnnounce(a, from) },
      onCancel: (id, reason) => { const run = this.runs.get(id); if (run !== undefined && !run.final) run.cancel(reason ?? 'cancelled by user') }
    })
    this.announceTimer = setInterval(() => { this.announceAll(); this.adoptOrphans() }, this.init.announceIntervalMs ?? 2_000)
    const pollAfter = this.init.pollAfterMs ?? 1_000
    this.pollTimer = setInterval(() => { for (const run of this.runs.values()) run.poll() }, Math.max(100, pollAfter / 2))
  }

  /** Stops driving (the tasks run on; a peer takes the runs over once this node is gone). */
  stop (): void {
    this.shutdown.abort()
    clearInterval(this.announceTimer)
    clearInterval(this.pollTimer)
    for (const off of this.offs) off()
    this.offs.length = 0
    for (const run of this.runs.values()) run.abandon()
    this.init.gossip?.stop()
  }

  /** Validates a workflow (ValidationError naming the field, before anything runs) and starts it here. */
  submit (body: unknown): WorkflowStatus {
    const spec = parseWorkflow(body)
    const now = this.now()
    const id = makeId('w', now, randomBytes(8))
    const run = this.drive(startRun(spec, { id, now }), 1)
    run.start()
    this.announce([run])
    return run.status()
  }

  /** The status of a workflow: from its driver when that is this node, else from the recorded state. */
  async get (id: string, signal?: AbortSignal): Promise<WorkflowStatus | undefined> {
    const run = this.runs.get(id)
    if (run !== undefined) return run.status()
    if (!isId(id) || !id.startsWith('w-')) return undefined
    const rec = await this.init.store.load(id, withTimeout(signal, 10_000))
    if (rec === undefined) return undefined
    return workflowStatus(rec.state, { driver: rec.driver, epoch: rec.epoch, taskIds: rec.tasks })
  }

  /** Every workflow this node drives or has heard of, newest first. */
  list (): WorkflowListEntry[] {
    const out = new Map<string, WorkflowListEntry>()
    for (const k of this.known.values()) { const { heardAt: _, ...entry } = k; out.set(k.id, entry) }
    for (const run of this.runs.values()) out.set(run.id, this.announcement(run))
    return [...out.values()].sort((a, b) => b.id.localeCompare(a.id))
  }

  /**
   * Cancels a workflow and its running tasks. At its driver this is immediate; elsewhere the
   * request goes to the driver over gossip, and the answer is the recorded state once it is final
   * (or the newest one within 10 s).
   */
  async cancel (id: string, signal?: AbortSignal): Promise<WorkflowStatus> {
    const run = this.runs.get(id)
    if (run !== undefined) {
      if (!run.final) run.cancel('cancelled by user')
      await run.saved()
      return run.status()
    }
    let status = await this.get(id, signal)
    if (status === undefined) throw new NotFoundError('workflow', id)
    const deadline = this.now() + 10_000
    while (status.state === 'running' && this.now() < deadline && signal?.aborted !== true) {
      // Asked again each round: the driver may be changing hands.
      this.init.gossip?.requestCancel(id, 'cancelled by user')
      await delay(500, undefined, { signal: withTimeout(signal, 1_000) }).catch(() => {})
      status = await this.get(id, signal) ?? status
    }
    return status
  }

  /** The runs this node drives now (for tests and status pages). */
  driving (): RunDriver[] {
    return [...this.runs.values()]
  }

  private drive (state: Parameters<typeof workflowStatus>[0], epoch: number, seq = 0): RunDriver {
    const run = new RunDriver({
      self: this.init.self,
      tasks: this.init.tasks,
      store: this.init.store,
      now: this.now,
      estimates: () => this.estimates,
      observe: (key, durationMs) => { this.estimates = observeDuration(this.estimates, { key, node: this.init.self, durationMs, now: this.now() }) },
      track: (taskId, r) => { if (r === undefined) this.routes.delete(taskId); else this.routes.set(taskId, r) },
      changed: r => { this.announce([r]) },
      superseded: r => {
        this.log(`workflow ${r.id}: a newer driver saved its state; stopping here (epoch ${r.epoch})`)
        r.abandon()
        if (this.runs.get(r.id) === r) this.runs.delete(r.id)
      },
      log: this.log,
      pollAfterMs: this.init.pollAfterMs ?? 1_000,
      lostAfterMisses: this.init.lostAfterMisses ?? 3
    }, state, epoch, seq)
    this.runs.set(state.id, run)
    return run
  }

  private announcement (run: RunDriver): WorkflowAnnouncement {
    const s = runSummary(run.state)
    return { id: run.id, name: run.state.spec.name, driver: this.init.self, epoch: run.epoch, state: run.state.status, updatedAt: run.state.updatedAt, done: s.done, total: s.total }
  }

  private announce (runs: RunDriver[]): void {
    const list = runs.map(r => this.announcement(r))
    for (const a of list) this.remember(a)
    this.init.gossip?.announce(list)
  }

  /** Running runs every round; final ones for a minute, so that peers which missed the end learn it. */
  private announceAll (): void {
    const now = this.now()
    this.announce([...this.runs.values()].filter(r => !r.final || now - (r.state.finishedAt ?? now) < 60_000))
  }

  private remember (a: WorkflowAnnouncement): void {
    this.known.set(a.id, { ...a, heardAt: this.now() })
    if (this.known.size > KEEP_FINISHED * 2) {
      const finished = [...this.known.values()].filter(k => k.state !== 'running').sort((x, y) => x.heardAt - y.heardAt)
      for (const k of finished.slice(0, finished.length - KEEP_FINISHED)) this.known.delete(k.id)
    }
  }

  private onAnnounce (a: WorkflowAnnouncement, from: string): void {
    const mine = this.runs.get(a.id)
    if (mine !== undefined && from !== this.init.self) {
      // Two drivers: the higher epoch wins; at equal epochs (two peers took over at once) the
      // one nearer to the id does. The loser stops without touching the tasks.
      const theyWin = a.epoch > mine.epoch || (a.epoch === mine.epoch && nearestPeer(a.id, [from, this.init.self]) === from)
      if (!theyWin || mine.final) return
      this.log(`workflow ${a.id}: ${from} drives it now (epoch ${a.epoch}); stopping here (epoch ${mine.epoch})`)
      mine.abandon()
      this.runs.delete(a.id)
    }
    const have = this.known.get(a.id)
    // Older news (a late message from a replaced driver) must not undo a takeover.
    if (have !== undefined && (have.epoch > a.epoch || (have.epoch === a.epoch && have.updatedAt > a.updatedAt))) return
    this.remember(a)
  }

  /**
   * Takes over the running workflows whose driver is dead, when this node is the alive peer
   * nearest to the workflow id. Every node that sees the same alive set picks the same peer, so
   * one takes each over (two at once settle it by epoch and distance, see onAnnounce).
   */
  private adoptOrphans (): void {
    if (this.shutdown.signal.aborted) return
    const alive = new Set([...this.init.alivePeers(), this.init.self])
    for (const k of this.known.values()) {
      if (k.state !== 'running' || this.runs.has(k.id) || this.takingOver.has(k.id)) continue
      // Silence alone is no proof: a driver whose event loop stalls for a while is still driving,
      // and a second driver would hand out tasks twice. A driver that restarts is seen dead while
      // it is down, and taken over then.
      if (!(k.driver === this.init.self || this.init.isDead(k.driver))) continue
      const candidates = [...alive].filter(p => p !== k.driver || k.driver === this.init.self)
      if (nearestPeer(k.id, candidates) !== this.init.self) continue
      void this.takeOver(k.id, k.epoch)
    }
  }

  private async takeOver (id: string, knownEpoch: number): Promise<void> {
    this.takingOver.add(id)
    try {
      const rec = await this.loadWithRetry(id)
      if (rec === undefined || this.shutdown.signal.aborted || this.runs.has(id)) return
      const epoch = Math.max(rec.epoch, knownEpoch) + 1
      if (rec.epoch > knownEpoch && rec.driver !== this.init.self && !this.init.isDead(rec.driver)) {
        // Someone took it over already and its announcement has not reached us yet.
        return
      }
      if (rec.state.status !== 'running') {
        this.remember(this.announcementOf(rec.state, rec.driver, rec.epoch))
        return
      }
      this.log(`workflow ${id}: taking over from ${rec.driver} (epoch ${rec.epoch} → ${epoch})`)
      const run = this.drive(rec.state, epoch)
      run.resume(rec.tasks)
      this.announce([run])
    } catch (err) {
      this.log(`workflow ${id}: takeover failed: ${String(err)}`)
    } finally {
      this.takingOver.delete(id)
    }
  }

  private announcementOf (state: RunDriver['state'], driver: string, epoch: number): WorkflowAnnouncement {
    const s = runSummary(state)
    return { id: state.id, name: state.spec.name, driver, epoch, state: state.status, updatedAt: state.updatedAt, done: s.done, total: s.total }
  }

  /** The DHT may not answer at once while the mesh notices the dead peer: a few tries. */
  private async loadWithRetry (id: string): ReturnType<WorkflowStateStore['load']> {
    let lastErr: unknown
    for (let i = 0; i < 5 && !this.shutdown.signal.aborted; i++) {
      try {
        const rec = await this.init.store.load(id, withTimeout(this.shutdown.signal, 10_000))
        if (rec !== undefined) return rec
      } catch (err) { lastErr = err }
      await delay(200 * 2 ** i, undefined, { signal: this.shutdown.signal }).catch(() => {})
    }
    if (lastErr !== undefined) throw lastErr instanceof Error ? lastErr : new Error(JSON.stringify(lastErr))
    return undefined
  }
}

function withTimeout (signal: AbortSignal | undefined, ms: number): AbortSignal {
  return signal === undefined ? AbortSignal.timeout(ms) : AbortSignal.any([signal, AbortSignal.timeout(ms)])
}
