import { ValidationError } from '../core/errors.js'
import { addResources, scaleResources, type Resources } from '../core/resources.js'
import { zodIssues } from '../core/schema.js'
import type { AuctioneerOutput, AuctioneerStats, CancelOutcome, PendingInfo, SubmitOutcome, TaskPhase } from './auctioneer-types.js'
import { planBatch } from './batch.js'
import { createAuctioneerConfig, type AuctioneerConfig } from './config.js'
import type { PeerView } from './feasibility.js'
import { AUCTION_VERSION, cfbTaskSchema, MAX_BATCH_TASKS, type AwardedTask, type AwardReply, type Bids, type TaskRef } from './messages.js'
import { drfOrder, type ShareOf } from './order.js'
import { classKey } from './rank.js'
import { joinReasons, summarizeDeclines } from './reasons.js'
import { toCfbTask, type AuctionTask } from './task.js'

export interface AuctioneerInit extends Partial<AuctioneerConfig> {
  /** This node's peer id: the `from` of its calls for bids. */
  self: string
}

export interface AuctioneerComponents {
  /** The weighted dominant share of a framework across the mesh (from `src/fairness`). */
  shareOf: ShareOf
}

interface Entry {
  task: AuctionTask
  phase: TaskPhase
  failures: number
  retryAt: number
  reason: string
  retryable: boolean
  /** The round while bidding. */
  round?: string
  /** The award key while awarding. */
  award?: string
  /** The filter's summary of peers left out at the last plan, merged into "why pending". */
  filterWhy: string
  /** Peers that declined this attempt for good (constraints, exec, too large) or never answered its award. */
  refused: Set<string>
  specBytes: number
  /** The planner's class key, cached until `refused` or the attempt changes. */
  classKey?: string
}

interface Round {
  id: string
  deadline: number
  waiting: number
  peers: Map<string, { tasks: Set<string>, replied: boolean }>
  /** task id → attempt offered */
  tasks: Map<string, number>
  bids: Map<string, Array<{ peer: string, score: number, until: number }>>
  declines: Map<string, Array<{ peer: string, reason: string, retryable: boolean }>>
}

interface AwardState {
  key: string
  auction: string
  peer: string
  /** task id → attempt, still unanswered */
  tasks: Map<string, number>
  deadline: number
  tries: number
}

/** How many resolved rounds to remember, to tell a late first reply (release its holds) from a duplicate. */
const CLOSED_ROUNDS = 4096

/**
 * The auctioneer of one node: the tasks submitted here, from pending to placed.
 *
 * `plan` takes the ready pending tasks in DRF order (share, priority, age), filters and ranks
 * peers on the cluster view, and sends batched calls for bids (one per peer per round). When a
 * round's replies are in (or its deadline passed) each task is awarded to its best bid, unused
 * holds are released, and tasks without bids go back to pending with a reason and exponential
 * backoff. Rejected awards go back to pending; unanswered awards are sent again and finally
 * given up by moving the task to the next attempt, which fences any copy the silent peer runs.
 * Nothing is dropped: a submitted task is pending, bidding, awarding, placed or cancelled.
 */
export class Auctioneer {
  readonly config: AuctioneerConfig
  readonly self: string
  readonly #shareOf: ShareOf
  readonly #tasks = new Map<string, Entry>()
  readonly #rounds = new Map<string, Round>()
  readonly #closed = new Map<string, Set<string>>()
  readonly #awards = new Map<string, AwardState>()
  #idPrefix: string | undefined
  #counter = 0
  readonly #stats: AuctioneerStats = {
    submitted: 0, cancelled: 0, rounds: 0, callsSent: 0, probes: 0, placed: 0, rejected: 0,
    roundTimeouts: 0, awardResends: 0, superseded: 0, lateBids: 0, invalidReplies: 0
  }

  constructor (init: AuctioneerInit, components: AuctioneerComponents) {
    const { self, ...config } = init
    this.config = createAuctioneerConfig(config)
    this.self = self
    this.#shareOf = components.shareOf
  }

  /**
   * Queues a task. Throws ValidationError if it could not be sent (a fault of the caller, who
   * should pass a validated spec). A known task at the same or a newer attempt is a duplicate; a
   * newer attempt replaces an older one (its in-flight holds are released when its round ends).
   */
  submit (task: AuctionTask, now: number): SubmitOutcome {
    const check = cfbTaskSchema.safeParse(toCfbTask(task))
    if (!check.success) throw new ValidationError(`auction task ${task.id}`, zodIssues(check.error))
    let specBytes = 0
    try {
      specBytes = task.spec === undefined ? 0 : JSON.stringify(task.spec).length
    } catch {
      throw new ValidationError(`auction task ${task.id}`, [{ path: 'spec', message: 'must be JSON' }])
    }
    const existing = this.#tasks.get(task.id)
    if (existing !== undefined && existing.task.attempt >= task.attempt) return { kind: 'duplicate', attempt: existing.task.attempt }
    this.#tasks.set(task.id, {
      task, phase: 'pending', failures: 0, retryAt: now, reason: 'waiting for the first round', retryable: true,
      filterWhy: '', refused: new Set(), specBytes
    })
    this.#stats.submitted++
    if (existing === undefined) return { kind: 'queued' }
    const awardedTo = existing.award !== undefined ? this.#awards.get(existing.award)?.peer : undefined
    return { kind: 'replaced', previousAttempt: existing.task.attempt, ...(awardedTo !== undefined ? { awardedTo } : {}) }
  }

  /** Forgets a task. Holds of its round in flight are released when the round ends. */
  cancel (task: string): CancelOutcome {
    const e = this.#tasks.get(task)
    if (e === undefined) return { kind: 'unknown' }
    this.#tasks.delete(task)
    this.#stats.cancelled++
    const peer = e.award !== undefined ? this.#awards.get(e.award)?.peer : undefined
    return peer !== undefined ? { kind: 'awarded', peer, attempt: e.task.attempt } : { kind: 'cancelled' }
  }

  /**
   * Handles due timeouts, then sends calls for bids for the pending tasks whose backoff has
   * elapsed, at most `maxRoundTasks` per round. `view` is the cluster view (gossip); `rng` breaks
   * ties and makes auction ids.
   */
  plan (now: number, view: readonly PeerView[], rng: () => number): AuctioneerOutput {
    const out = emptyOutput()
    this.#due(now, out)
    const ready: Array<{ task: string, framework: string, priority: number, submittedAt: number, e: Entry }> = []
    for (const e of this.#tasks.values()) {
      if (e.phase === 'pending' && e.retryAt <= now) ready.push({ task: e.task.id, framework: e.task.framework, priority: e.task.priority, submittedAt: e.task.submittedAt, e })
    }
    if (ready.length === 0) return out
    const ordered = drfOrder(ready, this.#shareOf)
    let reserved = this.#reserved()
    const d = this.config.probes
    for (let i = 0; i < ordered.length; i += this.config.maxRoundTasks) {
      const chunk = ordered.slice(i, i + this.config.maxRoundTasks).map(({ e }) => {
        const avoid = e.refused.size === 0 ? e.task.avoid : [...(e.task.avoid ?? []), ...e.refused]
        e.classKey ??= classKey({ ...e.task, avoid })
        return { ...e.task, avoid, classKey: e.classKey, entry: e }
      })
      const plan = planBatch(chunk, view, d, rng, { reserved, localityBonus: this.config.localityBonus })
      reserved = plan.reserved
      for (const u of plan.unprobed) this.#pend(u.task.entry, now, u.why, u.verdict === 'wait', out)
      if (plan.probes.size === 0) continue

      const round: Round = { id: this.#newId(rng), deadline: now + this.config.roundTimeoutMs, waiting: 0, peers: new Map(), tasks: new Map(), bids: new Map(), declines: new Map() }
      for (const p of plan.probed) {
        const e = p.task.entry
        e.phase = 'bidding'
        e.round = round.id
        e.filterWhy = p.why
        round.tasks.set(e.task.id, e.task.attempt)
      }
      for (const [peer, list] of plan.probes) {
        round.peers.set(peer, { tasks: new Set(list.map(t => t.id)), replied: false })
        round.waiting++
        this.#stats.probes += list.length
        out.send.push({ peer, msg: { type: 'cfb', v: AUCTION_VERSION, auction: round.id, from: this.self, tasks: list.map(t => toCfbTask(t.entry.task)), leaseMs: this.config.leaseMs } })
      }
      this.#rounds.set(round.id, round)
      this.#stats.rounds++
      this.#stats.callsSent += plan.probes.size
    }
    return out
  }

  /** A peer's bids and declines for a round. The round resolves when every probed peer has replied. */
  onBids (peer: string, msg: Bids, now: number): AuctioneerOutput {
    const out = emptyOutput()
    const round = this.#rounds.get(msg.auction)
    const slot = round?.peers.get(peer)
    if (round === undefined || slot === undefined) {
      const closed = this.#closed.get(msg.auction)
      // A duplicate of a reply already used must not release holds that may have been awarded.
      if (closed?.has(peer) === true) return out
      // A late first reply (or one to a round we never ran): give back whatever it holds for us.
      this.#stats.lateBids++
      this.#release(out, peer, msg.auction, msg.bids)
      return out
    }
    if (slot.replied) return out
    slot.replied = true
    round.waiting--
    // The lease started when the bidder replied and the award still has to travel: count on half of it.
    const until = now + msg.leaseMs / 2
    for (const b of msg.bids) {
      if (!slot.tasks.has(b.task) || round.tasks.get(b.task) !== b.attempt) { this.#stats.invalidReplies++; continue }
      push(round.bids, b.task, { peer, score: b.score, until })
    }
    for (const dcl of msg.declines) {
      if (!slot.tasks.has(dcl.task)) { this.#stats.invalidReplies++; continue }
      push(round.declines, dcl.task, { peer, reason: dcl.reason, retryable: dcl.retryable })
    }
    if (round.waiting === 0) this.#resolve(round, now, out)
    return out
  }

  /** A peer's answer to an award: accepted tasks are placed, rejected ones go back to pending. */
  onAwardReply (peer: string, msg: AwardReply, now: number): AuctioneerOutput {
    const out = emptyOutput()
    const state = this.#awards.get(awardKey(msg.auction, peer))
    if (state === undefined) return out // late or duplicate: the attempt was settled already
    for (const a of msg.accepted) {
      if (state.tasks.get(a.task) !== a.attempt) { this.#stats.invalidReplies++; continue }
      state.tasks.delete(a.task)
      const e = this.#liveAward(a.task, a.attempt, state)
      if (e === undefined) continue
      this.#tasks.delete(a.task)
      this.#stats.placed++
      out.placed.push({ task: a.task, attempt: a.attempt, peer, auction: msg.auction })
    }
    for (const r of msg.rejected) {
      if (state.tasks.get(r.task) !== r.attempt) { this.#stats.invalidReplies++; continue }
      state.tasks.delete(r.task)
      const e = this.#liveAward(r.task, r.attempt, state)
      if (e === undefined) continue
      this.#stats.rejected++
      // After a resend the first copy may have been accepted (and the bidder may have forgotten
      // it since): re-bidding the same attempt could run it twice, so fence it with the next one.
      if (state.tries > 0) this.#supersede(e, r.attempt, peer, `award to ${peer} rejected after a resend (${r.reason})`, now, out)
      else this.#pend(e, now, `${peer} rejected the award: ${r.reason}`, true, out)
    }
    if (state.tasks.size === 0) this.#awards.delete(state.key)
    return out
  }

  /**
   * The timer of `auction` fired: resolves its round with the replies so far, and handles its
   * awards whose reply is overdue (send again, or give the attempt up).
   */
  onTimeout (auction: string, now: number): AuctioneerOutput {
    const out = emptyOutput()
    const round = this.#rounds.get(auction)
    if (round !== undefined) {
      this.#stats.roundTimeouts++
      this.#resolve(round, now, out)
    }
    for (const state of [...this.#awards.values()]) {
      if (state.auction === auction && state.deadline <= now) this.#awardOverdue(state, now, out)
    }
    return out
  }

  /** Handles every due round and award timeout. Call at `nextWakeup()` (plan does it too). */
  tick (now: number): AuctioneerOutput {
    const out = emptyOutput()
    this.#due(now, out)
    return out
  }

  /** An advert showed new capacity: pending tasks are bid again at the next plan, whatever their backoff. */
  onCapacityChange (now: number): void {
    for (const e of this.#tasks.values()) if (e.phase === 'pending' && e.retryAt > now) e.retryAt = now
  }

  /** The failure detector gave a peer up: stop waiting for its bids, and give up its unanswered awards. */
  onPeerGone (peer: string, now: number): AuctioneerOutput {
    const out = emptyOutput()
    for (const round of [...this.#rounds.values()]) {
      const slot = round.peers.get(peer)
      if (slot === undefined || slot.replied) continue
      slot.replied = true
      round.waiting--
      if (round.waiting === 0) this.#resolve(round, now, out)
    }
    for (const state of [...this.#awards.values()]) {
      if (state.peer === peer) { state.tries = this.config.awardRetries; this.#awardOverdue(state, now, out) }
    }
    return out
  }

  /** When `tick` or `plan` next has work: a round or award deadline, or a backoff ending. */
  nextWakeup (): number | undefined {
    let next = Number.POSITIVE_INFINITY
    for (const r of this.#rounds.values()) next = Math.min(next, r.deadline)
    for (const a of this.#awards.values()) next = Math.min(next, a.deadline)
    for (const e of this.#tasks.values()) if (e.phase === 'pending') next = Math.min(next, e.retryAt)
    return next === Number.POSITIVE_INFINITY ? undefined : next
  }

  /** Every task not placed yet, with why: the "why pending" of the API and the advert's `pending` list. */
  pendingTasks (): PendingInfo[] {
    return [...this.#tasks.values()].map(info)
  }

  get (task: string): PendingInfo | undefined {
    const e = this.#tasks.get(task)
    return e === undefined ? undefined : info(e)
  }

  /** How many tasks are not placed yet. */
  get size (): number {
    return this.#tasks.size
  }

  stats (): AuctioneerStats {
    return { ...this.#stats }
  }

  // ---------------------------------------------------------------------------------------------

  #due (now: number, out: AuctioneerOutput): void {
    for (const round of [...this.#rounds.values()]) {
      if (round.deadline <= now) { this.#stats.roundTimeouts++; this.#resolve(round, now, out) }
    }
    for (const state of [...this.#awards.values()]) if (state.deadline <= now) this.#awardOverdue(state, now, out)
  }

  /** Awards each task of the round to its best live bid; releases the rest; re-pends tasks without bids. */
  #resolve (round: Round, now: number, out: AuctioneerOutput): void {
    this.#rounds.delete(round.id)
    const replied = new Set<string>()
    const silent: Array<Set<string>> = []
    for (const [peer, slot] of round.peers) {
      if (slot.replied) replied.add(peer)
      else silent.push(slot.tasks)
    }
    this.#closed.set(round.id, replied)
    if (this.#closed.size > CLOSED_ROUNDS) this.#closed.delete(this.#closed.keys().next().value as string)

    const awards = new Map<string, Entry[]>()
    const releases = new Map<string, TaskRef[]>()
    const release = (peer: string, ref: TaskRef): void => { push(releases, peer, ref) }
    for (const [task, attempt] of round.tasks) {
      const bids = round.bids.get(task) ?? []
      const e = this.#tasks.get(task)
      if (e === undefined || e.phase !== 'bidding' || e.round !== round.id || e.task.attempt !== attempt) {
        for (const b of bids) release(b.peer, { task, attempt })
        continue
      }
      const local = new Set(e.task.locality ?? [])
      let best: { peer: string, score: number } | undefined
      for (const b of bids) {
        if (b.until <= now) continue // the hold lapsed before we could award it
        const score = b.score + (local.has(b.peer) ? this.config.localityBonus : 0)
        if (best === undefined || score > best.score || (score === best.score && b.peer < best.peer)) best = { peer: b.peer, score }
      }
      for (const b of bids) if (b.peer !== best?.peer) release(b.peer, { task, attempt })
      if (best !== undefined) {
        e.phase = 'awarding'
        e.round = undefined
        push(awards, best.peer, e)
        continue
      }
      const declines = round.declines.get(task) ?? []
      for (const dcl of declines) {
        if (!dcl.retryable && !e.refused.has(dcl.peer)) { e.refused.add(dcl.peer); e.classKey = undefined }
      }
      const unanswered = silent.filter(s => s.has(task)).length
      const lapsed = bids.length > 0 ? 'bids lapsed before the award' : undefined
      const retryable = declines.length === 0 || unanswered > 0 || declines.some(x => x.retryable)
      this.#pend(e, now, joinReasons([summarizeDeclines(declines, unanswered), lapsed, e.filterWhy]), retryable, out)
    }
    for (const [peer, entries] of awards) this.#award(peer, round.id, entries, now, out)
    for (const [peer, refs] of releases) this.#release(out, peer, round.id, refs)
  }

  #award (peer: string, auction: string, entries: Entry[], now: number, out: AuctioneerOutput): void {
    const key = awardKey(auction, peer)
    const state: AwardState = { key, auction, peer, tasks: new Map(), deadline: now + this.config.awardTimeoutMs, tries: 0 }
    for (const e of entries) {
      e.award = key
      state.tasks.set(e.task.id, e.task.attempt)
    }
    this.#awards.set(key, state)
    this.#sendAward(state, out)
  }

  /** Sends the unanswered tasks of an award, split by count and by spec bytes. */
  #sendAward (state: AwardState, out: AuctioneerOutput): void {
    let batch: AwardedTask[] = []
    let bytes = 0
    const flush = (): void => {
      if (batch.length > 0) out.send.push({ peer: state.peer, msg: { type: 'award', v: AUCTION_VERSION, auction: state.auction, tasks: batch } })
      batch = []
      bytes = 0
    }
    for (const [task, attempt] of state.tasks) {
      const e = this.#liveAward(task, attempt, state)
      if (e === undefined) continue
      if (batch.length >= MAX_BATCH_TASKS || (batch.length > 0 && bytes + e.specBytes > this.config.maxAwardBytes)) flush()
      batch.push(e.task.spec === undefined ? { task, attempt } : { task, attempt, spec: e.task.spec })
      bytes += e.specBytes
    }
    flush()
  }

  /** An award's reply is overdue: send it again, or give the attempt up and bid the next one. */
  #awardOverdue (state: AwardState, now: number, out: AuctioneerOutput): void {
    if (state.tries < this.config.awardRetries) {
      state.tries++
      state.deadline = now + this.config.awardTimeoutMs
      this.#stats.awardResends++
      this.#sendAward(state, out)
      return
    }
    this.#awards.delete(state.key)
    for (const [task, attempt] of state.tasks) {
      const e = this.#liveAward(task, attempt, state)
      if (e !== undefined) this.#supersede(e, attempt, state.peer, `award to ${state.peer} unanswered`, now, out)
    }
  }

  /** The peer may run `attempt`: bid the task again as the next attempt, which fences that copy. */
  #supersede (e: Entry, attempt: number, peer: string, reason: string, now: number, out: AuctioneerOutput): void {
    this.#stats.superseded++
    out.superseded.push({ task: e.task.id, attempt, peer, reason })
    e.task = { ...e.task, attempt: attempt + 1 }
    e.refused = new Set([peer])
    e.classKey = undefined
    this.#pend(e, now, `${reason}; retrying as attempt ${attempt + 1}`, true, out)
  }

  #liveAward (task: string, attempt: number, state: AwardState): Entry | undefined {
    const e = this.#tasks.get(task)
    return e !== undefined && e.phase === 'awarding' && e.award === state.key && e.task.attempt === attempt ? e : undefined
  }

  #pend (e: Entry, now: number, reason: string, retryable: boolean, out: AuctioneerOutput): void {
    e.phase = 'pending'
    e.round = undefined
    e.award = undefined
    e.failures++
    const delay = Math.min(this.config.backoffMaxMs, this.config.backoffBaseMs * Math.pow(2, Math.min(30, e.failures - 1)))
    e.retryAt = now + delay
    e.reason = reason === '' ? 'no bids' : reason
    e.retryable = retryable
    out.pending.push({ task: e.task.id, attempt: e.task.attempt, reason: e.reason, retryable, retryAt: e.retryAt })
  }

  #release (out: AuctioneerOutput, peer: string, auction: string, refs: readonly TaskRef[]): void {
    for (let i = 0; i < refs.length; i += MAX_BATCH_TASKS) {
      const tasks = refs.slice(i, i + MAX_BATCH_TASKS).map(r => ({ task: r.task, attempt: r.attempt }))
      if (tasks.length > 0) out.send.push({ peer, msg: { type: 'release', v: AUCTION_VERSION, auction, tasks } })
    }
  }

  /**
   * What gossip does not show yet: `demand / d` on each peer probed by an open round, and the
   * full demand on each peer with an unanswered award.
   */
  #reserved (): Map<string, Resources> {
    const reserved = new Map<string, Resources>()
    const add = (peer: string, r: Resources): void => { reserved.set(peer, addResources(reserved.get(peer) ?? {}, r)) }
    for (const round of this.#rounds.values()) {
      for (const [peer, slot] of round.peers) {
        for (const task of slot.tasks) {
          const e = this.#tasks.get(task)
          if (e?.round === round.id) add(peer, scaleResources(e.task.demand, 1 / this.config.probes))
        }
      }
    }
    for (const state of this.#awards.values()) {
      for (const [task, attempt] of state.tasks) {
        const e = this.#liveAward(task, attempt, state)
        if (e !== undefined) add(state.peer, e.task.demand)
      }
    }
    return reserved
  }

  #newId (rng: () => number): string {
    // A random prefix per incarnation, so that a restarted node's auction ids do not meet old holds.
    this.#idPrefix ??= Math.floor(rng() * 36 ** 6).toString(36).padStart(6, '0')
    return `${this.#idPrefix}.${(this.#counter++).toString(36)}`
  }
}

function info (e: Entry): PendingInfo {
  return {
    task: e.task.id, attempt: e.task.attempt, framework: e.task.framework, phase: e.phase,
    reason: e.reason, retryable: e.retryable, retryAt: e.retryAt, failures: e.failures
  }
}

function emptyOutput (): AuctioneerOutput {
  return { send: [], placed: [], pending: [], superseded: [] }
}

function awardKey (auction: string, peer: string): string {
  return `${auction}\n${peer}`
}

function push<K, V> (map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}
