import { addResources, dominantFraction, fits, shortfall, subtractResources, type Resources } from '../core/resources.js'
import { constraintsHold, parseTaskSpec, taskDemand, type TaskSpec } from '../core/task-spec.js'
import type { AwardOutcome, BidderOutput, BidderStats, StaleCopy } from './bidder-types.js'
import { createBidderConfig, type BidderConfig } from './config.js'
import { progressiveFill } from './fill.js'
import { HoldLedger } from './hold-ledger.js'
import { AUCTION_VERSION, MAX_REASON_CHARS, type Award, type AwardReply, type Bid, type CallForBids, type CfbTask, type Decline, type Release } from './messages.js'
import type { ShareOf, ShareWith } from './order.js'
import { policyFor } from './policy.js'

export interface BidderInit extends Partial<BidderConfig> {
  /** The node's total resources, cpu in millicores. */
  capacity: Resources
  /** The node's labels, matched against task constraints. */
  labels?: Readonly<Record<string, string>>
}

export interface BidderComponents {
  /** The weighted dominant share of a framework across the mesh (from `src/fairness`). */
  shareOf: ShareOf
  /** The share a framework would have with `extra` more; see `ShareWith`. */
  shareWith?: ShareWith
}

interface Entry {
  task: string
  attempt: number
  from: string
  auction: string
  framework: string
  kind: CfbTask['kind']
  demand: Resources
  state: 'held' | 'running'
}

interface QueuedCall {
  from: string
  auction: string
  leaseMs: number
  bids: Bid[]
  declines: Decline[]
  requests: CfbTask[]
}

type Admission =
  | { kind: 'fresh' }
  | { kind: 'bid', score: number }
  | { kind: 'decline', reason: string, retryable: boolean }

/** How many lapsed holds to remember, so that a late award is told "expired" instead of "unknown". */
const RECENT_EXPIRED = 4096
/**
 * How many ended tasks to remember. An award may arrive again after its task ended here (a
 * duplicate, or a resend after a lost reply); it must be answered "accepted" again, never
 * "unknown", or the auctioneer would award the same attempt to another node.
 */
const RECENT_ENDED = 16_384

interface Remembered { from: string, auction: string, attempt: number }

/**
 * The bidder of one node: answers calls for bids from its own true free capacity (a HoldLedger,
 * not gossip), turns holds into allocations on award, and fences stale attempts. Pure: the shell
 * passes the clock and sends what comes back.
 *
 * DRF weighting lives here. A call that fits entirely while nothing waits is answered at once.
 * Otherwise its requests wait in a contention window of `bidWindowMs`; at `decide(now)` all
 * waiting requests are granted by progressive filling (lowest share first, counting this
 * window's grants; then priority; then age) until capacity runs out, and every call gets its reply.
 */
export class Bidder {
  readonly config: BidderConfig
  readonly capacity: Resources
  readonly labels: Readonly<Record<string, string>>
  readonly ledger: HoldLedger
  readonly #components: BidderComponents
  readonly #entries = new Map<string, Entry>()
  readonly #recentExpired = new Map<string, Remembered>()
  readonly #recentEnded = new Map<string, Remembered>()
  /** Frameworks turned away for lack of room lately: the smallest demand each asked for, and until when to hold room for it. */
  readonly #waiters = new Map<string, { demand: Resources, until: number }>()
  /** What the mesh's submitters wait to place, per framework (from adverts): held for like `#waiters`. */
  #meshWaiters = new Map<string, Resources>()
  #queue: QueuedCall[] = []
  #queuedTasks = 0
  #windowEndsAt: number | undefined
  readonly #stats: BidderStats = {
    calls: 0, bids: 0, declines: 0, windows: 0, holdsExpired: 0, accepted: 0, rejected: 0, released: 0, staleKilled: 0, duplicates: 0,
    invalid: { senderMismatch: 0, notCaller: 0, unknownAuction: 0, unknownHold: 0, staleAttempt: 0, badSpec: 0, badRelease: 0 }
  }

  constructor (init: BidderInit, components: BidderComponents) {
    const { capacity, labels, ...config } = init
    this.config = createBidderConfig(config)
    this.ledger = new HoldLedger(capacity)
    this.capacity = this.ledger.capacity
    this.labels = labels ?? {}
    this.#components = components
  }

  /**
   * Answers a call for bids, at once or (under contention) at the end of the window. `from` is the
   * stream's remote peer; a call whose `from` field differs is refused as spoofed.
   */
  onCallForBids (msg: CallForBids, now: number, from: string = msg.from): BidderOutput {
    const out: BidderOutput = { send: [], stale: [] }
    this.#stats.calls++
    this.#sweep(now)
    if (from !== msg.from) {
      this.#stats.invalid.senderMismatch++
      const declines = msg.tasks.map(t => ({ task: t.task, attempt: t.attempt, reason: 'sender mismatch', retryable: false }))
      this.#reply(out, from, msg.auction, 0, [], declines)
      return out
    }
    // The same call delivered twice (a retransmit) while it waits: one reply is enough.
    if (this.#queue.some(q => q.from === from && q.auction === msg.auction)) {
      this.#stats.duplicates++
      return out
    }
    const leaseMs = Math.min(this.config.maxLeaseMs, Math.max(this.config.minLeaseMs, msg.leaseMs))
    const bids: Bid[] = []
    const declines: Decline[] = []
    const fresh: CfbTask[] = []
    for (const t of msg.tasks) {
      const a = this.#admit(t, from, msg.auction, now, leaseMs, out)
      if (a.kind === 'fresh') fresh.push(t)
      else if (a.kind === 'bid') bids.push({ task: t.task, attempt: t.attempt, score: a.score })
      else declines.push({ task: t.task, attempt: t.attempt, reason: a.reason, retryable: a.retryable })
    }

    // Nothing new to place (all declined or re-bid), or everything fits while nobody waits: answer now.
    if (fresh.length === 0 || (this.#queue.length === 0 && fitsTogether(fresh, this.ledger.free()))) {
      for (const t of fresh) this.#grant(t, from, msg.auction, now, leaseMs, bids, declines)
      this.#reply(out, from, msg.auction, leaseMs, bids, declines)
      return out
    }
    if (this.#queuedTasks + fresh.length > this.config.maxQueuedTasks) {
      for (const t of fresh) declines.push({ task: t.task, attempt: t.attempt, reason: 'busy', retryable: true })
      this.#reply(out, from, msg.auction, leaseMs, bids, declines)
      return out
    }
    this.#queue.push({ from, auction: msg.auction, leaseMs, bids, declines, requests: fresh })
    this.#queuedTasks += fresh.length
    this.#windowEndsAt ??= now + this.config.bidWindowMs
    const decided = this.decide(now)
    out.send.push(...decided.send)
    out.stale.push(...decided.stale)
    return out
  }

  /**
   * Ends the contention window if it is due: grants the waiting requests in DRF order and replies
   * to every waiting call. Does nothing before `windowEndsAt`.
   */
  decide (now: number): BidderOutput {
    const out: BidderOutput = { send: [], stale: [] }
    if (this.#windowEndsAt === undefined || now < this.#windowEndsAt) return out
    this.#sweep(now)
    const calls = this.#queue
    this.#queue = []
    this.#queuedTasks = 0
    this.#windowEndsAt = undefined
    this.#stats.windows++

    const requests = calls.flatMap(call => call.requests.map(t => ({
      call, t, task: t.task, framework: t.framework, priority: t.priority, submittedAt: t.submittedAt, demand: t.demand
    })))
    const shareWith = this.#components.shareWith ??
      ((f: string, extra: Resources) => this.#components.shareOf(f) + dominantFraction(extra, this.capacity))
    progressiveFill(requests, shareWith, r => {
      const { call, t } = r
      // The window may have changed things (a newer attempt of the same task in another call).
      const a = this.#admit(t, call.from, call.auction, now, call.leaseMs, out)
      if (a.kind === 'bid') { call.bids.push({ task: t.task, attempt: t.attempt, score: a.score }); return false }
      if (a.kind === 'decline') { call.declines.push({ task: t.task, attempt: t.attempt, reason: a.reason, retryable: a.retryable }); return false }
      return this.#grant(t, call.from, call.auction, now, call.leaseMs, call.bids, call.declines)
    })
    for (const call of calls) this.#reply(out, call.from, call.auction, call.leaseMs, call.bids, call.declines)
    return out
  }

  /**
   * Commits the holds of an award (accept) or refuses it (reject): unknown or lapsed hold, a hold
   * of another auctioneer, another auction, a stale attempt, or a spec that is invalid or asks for
   * more than was held. A repeated award of a task that runs (or lately ran) here is accepted
   * again, so the auctioneer may resend an award whose reply was lost.
   */
  onAward (msg: Award, now: number, from: string): AwardOutcome {
    const out: AwardOutcome = { send: [], stale: [], start: [] }
    this.#sweep(now)
    const accepted: AwardReply['accepted'] = []
    const rejected: AwardReply['rejected'] = []
    const reject = (task: string, attempt: number, reason: string): void => {
      rejected.push({ task, attempt, reason: reason.slice(0, MAX_REASON_CHARS) })
    }
    for (const { task, attempt, spec } of msg.tasks) {
      const e = this.#entries.get(task)
      if (e === undefined) {
        const ended = this.#recentEnded.get(task)
        const lapsed = this.#recentExpired.get(task)
        if (ended !== undefined && same(ended, from, msg.auction, attempt)) accepted.push({ task, attempt })
        else if (lapsed !== undefined && same(lapsed, from, msg.auction, attempt)) reject(task, attempt, 'hold expired')
        else { this.#stats.invalid.unknownHold++; reject(task, attempt, 'no such hold') }
        continue
      }
      if (e.from !== from) { this.#stats.invalid.notCaller++; reject(task, attempt, 'not your hold'); continue }
      if (attempt < e.attempt) { this.#stats.invalid.staleAttempt++; reject(task, attempt, `stale attempt (have ${e.attempt})`); continue }
      if (attempt > e.attempt) { this.#stats.invalid.unknownHold++; reject(task, attempt, 'no hold for this attempt'); continue }
      if (e.auction !== msg.auction) { this.#stats.invalid.unknownAuction++; reject(task, attempt, 'unknown auction'); continue }
      if (e.state === 'running') { accepted.push({ task, attempt }); continue }

      let parsed: TaskSpec | undefined
      if (spec !== undefined) {
        const problem = this.#checkSpec(spec, e)
        if (typeof problem === 'string') {
          this.#stats.invalid.badSpec++
          this.#drop(e)
          reject(task, attempt, problem)
          continue
        }
        parsed = problem.spec
      }
      const c = this.ledger.commit(task, now)
      if (!c.ok) {
        this.#entries.delete(task)
        reject(task, attempt, c.reason === 'expired' ? 'hold expired' : 'no such hold')
        continue
      }
      e.state = 'running'
      accepted.push({ task, attempt })
      out.start.push({ task, attempt, framework: e.framework, demand: e.demand, from, auction: e.auction, ...(parsed !== undefined ? { spec: parsed } : {}) })
    }
    this.#stats.accepted += accepted.length
    this.#stats.rejected += rejected.length
    out.send.push({ peer: from, msg: { type: 'awardReply', v: AUCTION_VERSION, auction: msg.auction, accepted, rejected } })
    return out
  }

  /** Gives back holds the auctioneer does not need. Returns how many were released. */
  onRelease (msg: Release, from: string): number {
    let released = 0
    for (const ref of msg.tasks) {
      const e = this.#entries.get(ref.task)
      if (e === undefined) continue // lapsed already: nothing to do
      if (e.from !== from || e.state !== 'held' || e.attempt !== ref.attempt) { this.#stats.invalid.badRelease++; continue }
      // A newer auction of the same auctioneer re-used this hold: its release must not drop it.
      if (e.auction !== msg.auction) continue
      this.#drop(e)
      released++
    }
    this.#stats.released += released
    return released
  }

  /** The task finished, failed or was killed: frees its allocation. False if it was not running here. */
  onTaskFinished (task: string, attempt?: number): boolean {
    const e = this.#entries.get(task)
    if (e?.state !== 'running' || (attempt !== undefined && attempt !== e.attempt)) return false
    this.#drop(e)
    return true
  }

  /**
   * News that `attempt` is the task's current attempt (from the DHT, gossip or a peer): drops any
   * older hold here and reports an older running copy, which the shell must kill.
   */
  fence (task: string, attempt: number): StaleCopy[] {
    const e = this.#entries.get(task)
    if (e === undefined || e.attempt >= attempt) return []
    const out: StaleCopy[] = []
    this.#supersede(e, attempt, out)
    return out
  }

  /** Lapses due holds and ends a due contention window. Call at `nextWakeup()`. */
  tick (now: number): BidderOutput {
    this.#sweep(now)
    return this.decide(now)
  }

  /** When `tick` next has work: the end of the window or the next hold expiry. */
  nextWakeup (): number | undefined {
    const e = this.ledger.nextExpiry()
    if (e === undefined) return this.#windowEndsAt
    return this.#windowEndsAt === undefined ? e : Math.min(e, this.#windowEndsAt)
  }

  /** This node's true free capacity, for its advert. */
  free (): Resources {
    return this.ledger.free()
  }

  usageByFramework (): Record<string, Resources> {
    return this.ledger.usageByFramework()
  }

  /** The tasks that run here, for the advert's `running` list. */
  running (): Array<{ task: string, attempt: number, framework: string, from: string }> {
    const out: Array<{ task: string, attempt: number, framework: string, from: string }> = []
    for (const e of this.#entries.values()) if (e.state === 'running') out.push({ task: e.task, attempt: e.attempt, framework: e.framework, from: e.from })
    return out
  }

  /** How many task requests wait in the contention window. */
  get queued (): number {
    return this.#queuedTasks
  }

  stats (): BidderStats {
    return { ...this.#stats, invalid: { ...this.#stats.invalid } }
  }

  // ---------------------------------------------------------------------------------------------

  /** Attempt fencing and the checks that do not depend on free capacity. */
  #admit (t: CfbTask, from: string, auction: string, now: number, leaseMs: number, out: BidderOutput): Admission {
    const e = this.#entries.get(t.task)
    const ended = e === undefined ? this.#recentEnded.get(t.task) : undefined
    if (ended !== undefined && t.attempt <= ended.attempt) {
      // This attempt (or a newer one) already ran here: it must not run again.
      if (t.attempt < ended.attempt) this.#stats.invalid.staleAttempt++
      return { kind: 'decline', reason: t.attempt < ended.attempt ? 'stale attempt' : 'already ran here', retryable: false }
    }
    if (e !== undefined) {
      if (t.attempt < e.attempt) {
        this.#stats.invalid.staleAttempt++
        return { kind: 'decline', reason: 'stale attempt', retryable: false }
      }
      if (t.attempt > e.attempt) {
        this.#supersede(e, t.attempt, out.stale)
      } else if (e.state === 'running') {
        return { kind: 'decline', reason: 'already running here', retryable: false }
      } else if (e.from !== from) {
        return { kind: 'decline', reason: 'held for another auctioneer', retryable: true }
      } else {
        // The same auctioneer asks again (a new round): keep the hold, move it to the new auction.
        this.ledger.renew(t.task, now, leaseMs)
        e.auction = auction
        return { kind: 'bid', score: this.#score(t, addResources(this.ledger.free(), e.demand)) }
      }
    }
    if (t.kind === 'exec' && !this.config.allowExec) return { kind: 'decline', reason: 'exec disabled', retryable: false }
    if (!constraintsHold(t.constraints, this.labels)) return { kind: 'decline', reason: 'constraints', retryable: false }
    if (!fits(t.demand, this.capacity)) return { kind: 'decline', reason: `too large: ${shortfall(t.demand, this.capacity).join(',')}`, retryable: false }
    return { kind: 'fresh' }
  }

  /** Places a hold and records the bid, or records a retryable decline naming the short resources. */
  #grant (t: CfbTask, from: string, auction: string, now: number, leaseMs: number, bids: Bid[], declines: Decline[]): boolean {
    const freeBefore = this.ledger.free()
    const waiter = this.#reservedFor(t, freeBefore, now)
    if (waiter !== undefined) {
      declines.push({ task: t.task, attempt: t.attempt, reason: `reserved for framework ${waiter} (lower share)`, retryable: true })
      return false
    }
    const h = this.ledger.hold(t.task, t.demand, now, leaseMs, t.framework)
    if (!h.ok) {
      const reason = h.reason === 'insufficient' ? h.short.join(',') : h.reason
      if (h.reason === 'insufficient' && this.config.reserveForWaitersMs > 0) {
        const known = this.#waiters.get(t.framework)
        const smaller = known === undefined || dominantFraction(t.demand, this.capacity) < dominantFraction(known.demand, this.capacity)
        this.#waiters.set(t.framework, { demand: smaller ? t.demand : known.demand, until: now + this.config.reserveForWaitersMs })
      }
      declines.push({ task: t.task, attempt: t.attempt, reason, retryable: true })
      return false
    }
    this.#waiters.delete(t.framework)
    this.#entries.set(t.task, { task: t.task, attempt: t.attempt, from, auction, framework: t.framework, kind: t.kind, demand: t.demand, state: 'held' })
    bids.push({ task: t.task, attempt: t.attempt, score: this.#score(t, freeBefore) })
    return true
  }

  /**
   * Tells the bidder what the mesh waits to place: per framework, the smallest demand of a task
   * some submitter has not placed yet (as adverts report it). Replaces the previous picture.
   */
  setMeshWaiters (waiters: ReadonlyMap<string, Resources>): void {
    this.#meshWaiters = new Map(waiters)
  }

  /**
   * The framework to keep this room for instead of granting `t`: one turned away lately that
   * fits now, would not fit after `t`, and would have the lower share once granted.
   */
  #reservedFor (t: CfbTask, free: Resources, now: number): string | undefined {
    if (this.#waiters.size === 0 && this.#meshWaiters.size === 0) return undefined
    const shareWith = this.#components.shareWith ??
      ((f: string, extra: Resources) => this.#components.shareOf(f) + dominantFraction(extra, this.capacity))
    const after = subtractResources(free, t.demand)
    let mine: number | undefined
    for (const [framework, w] of this.#waiters) {
      if (w.until < now) { this.#waiters.delete(framework); continue }
      if (framework === t.framework || !fits(w.demand, free) || fits(w.demand, after)) continue
      mine ??= shareWith(t.framework, t.demand)
      if (shareWith(framework, w.demand) < mine) return framework
    }
    for (const [framework, demand] of this.#meshWaiters) {
      if (framework === t.framework || !fits(demand, free) || fits(demand, after)) continue
      mine ??= shareWith(t.framework, t.demand)
      if (shareWith(framework, demand) < mine) return framework
    }
    return undefined
  }

  #score (t: CfbTask, freeBefore: Resources): number {
    return policyFor(t.placement).score(t.demand, freeBefore, this.capacity)
  }

  #reply (out: BidderOutput, peer: string, auction: string, leaseMs: number, bids: Bid[], declines: Decline[]): void {
    this.#stats.bids += bids.length
    this.#stats.declines += declines.length
    out.send.push({ peer, msg: { type: 'bids', v: AUCTION_VERSION, auction, leaseMs, bids, declines } })
  }

  #checkSpec (spec: unknown, e: Entry): { spec: TaskSpec } | string {
    let parsed: TaskSpec
    try {
      parsed = parseTaskSpec(spec)
    } catch (err) {
      return `invalid spec: ${err instanceof Error ? err.message : 'unreadable'}`
    }
    // The award must not run more than was held, nor a different framework's task on its hold.
    if (parsed.framework !== e.framework || parsed.kind !== e.kind || !fits(taskDemand(parsed), e.demand)) {
      return 'spec does not match the hold'
    }
    return { spec: parsed }
  }

  #supersede (e: Entry, attempt: number, stale: StaleCopy[]): void {
    if (e.state === 'running') {
      this.#stats.staleKilled++
      stale.push({ task: e.task, attempt: e.attempt, reason: `superseded by attempt ${attempt}` })
    }
    this.#drop(e)
  }

  #drop (e: Entry): void {
    if (e.state === 'held') {
      this.ledger.release(e.task)
    } else {
      this.ledger.finish(e.task)
      remember(this.#recentEnded, e.task, { from: e.from, auction: e.auction, attempt: e.attempt }, RECENT_ENDED)
    }
    this.#entries.delete(e.task)
  }

  #sweep (now: number): void {
    for (const key of this.ledger.expire(now)) {
      const e = this.#entries.get(key)
      if (e === undefined) continue
      this.#entries.delete(key)
      this.#stats.holdsExpired++
      remember(this.#recentExpired, key, { from: e.from, auction: e.auction, attempt: e.attempt }, RECENT_EXPIRED)
    }
  }
}

function same (r: Remembered, from: string, auction: string, attempt: number): boolean {
  return r.from === from && r.auction === auction && r.attempt === attempt
}

/** A bounded memory: the newest `cap` keys, oldest dropped first. */
function remember<V> (map: Map<string, V>, key: string, value: V, cap: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > cap) {
    const oldest = map.keys().next()
    if (oldest.done !== true) map.delete(oldest.value)
  }
}

function fitsTogether (tasks: readonly CfbTask[], free: Resources): boolean {
  let sum: Resources = {}
  for (const t of tasks) sum = addResources(sum, t.demand)
  return fits(sum, free)
}
