// A small deterministic network for the auction: bidders and auctioneers exchange encoded
// messages through a queue with seeded random delays, drops and duplicates, on a fake clock.
// It plays the shell's part: timers (tick, plan), gossip (a periodically refreshed view),
// running tasks to completion, and telling peers about superseded attempts.
import { Auctioneer } from '../../src/bidding/auctioneer.js'
import type { AuctioneerOutput } from '../../src/bidding/auctioneer-types.js'
import { Bidder } from '../../src/bidding/bidder.js'
import type { AwardOutcome, BidderOutput } from '../../src/bidding/bidder-types.js'
import { decodeAuctionMessage, encodeAuctionMessage } from '../../src/bidding/codec.js'
import type { AuctioneerConfig, BidderConfig } from '../../src/bidding/config.js'
import type { PeerView } from '../../src/bidding/feasibility.js'
import type { Outgoing } from '../../src/bidding/messages.js'
import type { AuctionTask } from '../../src/bidding/task.js'
import { addResources, dominantFraction, fits, type Resources } from '../../src/core/resources.js'
import { Heap } from '../../src/bidding/heap.js'
import { advert, seeded } from './fixtures.js'

export interface SimNode {
  id: string
  capacity: Resources
  labels?: Record<string, string>
}

export interface SimOptions {
  seed: number
  nodes: SimNode[]
  /** Message delay range in ms. */
  delay?: [number, number]
  dropRate?: number
  duplicateRate?: number
  /** How often the cluster view (gossip) is refreshed. */
  gossipMs?: number
  bidder?: Partial<BidderConfig>
  auctioneer?: Partial<AuctioneerConfig>
  /** How long a task runs once accepted; Infinity for never. */
  runMs?: (task: string, rng: () => number) => number
}

interface InFlight { at: number, seq: number, from: string, to: string, bytes: Uint8Array }

export class Sim {
  now = 0
  readonly rng: () => number
  readonly bidders = new Map<string, Bidder>()
  readonly auctioneers = new Map<string, Auctioneer>()
  /** task → where and as which attempt the auctioneer saw it placed */
  readonly placed = new Map<string, { attempt: number, peer: string, at: number }>()
  /** `task#attempt` → the bidder that accepted it */
  readonly accepted = new Map<string, string>()
  /** `task#attempt` → when it ends, and where */
  readonly running = new Map<string, { peer: string, endsAt: number }>()
  readonly submitted = new Map<string, string>()
  readonly violations: string[] = []
  readonly counts = { sent: 0, dropped: 0, duplicated: 0, superseded: 0, staleKilled: 0 }
  view: PeerView[] = []
  readonly #opts: Required<Omit<SimOptions, 'bidder' | 'auctioneer'>> & Pick<SimOptions, 'bidder' | 'auctioneer'>
  readonly #queue = new Heap<InFlight>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  #seq = 0
  #lastFree = new Map<string, Resources>()

  constructor (opts: SimOptions) {
    this.#opts = { delay: [1, 15], dropRate: 0, duplicateRate: 0, gossipMs: 50, runMs: () => Number.POSITIVE_INFINITY, ...opts }
    this.rng = seeded(opts.seed)
    // Mesh-wide weighted dominant share (weight 1), as src/fairness would compute from adverts.
    const shareOf = (f: string): number => {
      let usage: Resources = {}
      let total: Resources = {}
      for (const b of this.bidders.values()) {
        usage = addResources(usage, b.usageByFramework()[f] ?? {})
        total = addResources(total, b.capacity)
      }
      return dominantFraction(usage, total)
    }
    for (const n of opts.nodes) {
      this.bidders.set(n.id, new Bidder({ capacity: n.capacity, labels: n.labels ?? {}, allowExec: true, ...opts.bidder }, { shareOf }))
      this.auctioneers.set(n.id, new Auctioneer({ self: n.id, ...opts.auctioneer }, { shareOf }))
    }
    this.#gossip()
  }

  submit (node: string, task: AuctionTask): void {
    this.submitted.set(task.id, node)
    this.#auctioneer(node).submit(task, this.now)
  }

  /** Runs until `done()` or `untilMs`; checks the capacity invariant at every step. */
  run (untilMs: number, done: () => boolean = () => false): void {
    while (this.now < untilMs && !done()) this.step()
  }

  /** Jumps to the next instant at which anything happens (a message, a timer, a task's end, gossip). */
  step (): void {
    const t = this.#nextEvent()
    this.now = t
    const touched = new Set<string>()
    for (;;) {
      const m = this.#queue.pop()
      if (m === undefined) break
      if (m.at > t) { this.#queue.push(m); break }
      this.#deliver(m, touched)
    }
    for (const [key, r] of this.running) {
      if (r.endsAt > t) continue
      this.running.delete(key)
      const [task, attempt] = key.split('#') as [string, string]
      this.#bidder(r.peer).onTaskFinished(task, Number(attempt))
    }
    for (const [id, b] of this.bidders) {
      const w = b.nextWakeup()
      if (w !== undefined && w <= t) this.#fromBidder(id, b.tick(t))
    }
    if (t % this.#opts.gossipMs === 0) this.#gossip()
    // A shell plans when replies arrive and when the auctioneer's own timer (nextWakeup) fires.
    for (const [id, a] of this.auctioneers) {
      const w = a.nextWakeup()
      if (a.size > 0 && (touched.has(id) || (w !== undefined && w <= t))) this.#fromAuctioneer(id, a.plan(t, this.view, this.rng))
    }
    this.#checkCapacity()
  }

  #nextEvent (): number {
    const after = this.now + 1
    let next = (Math.floor(this.now / this.#opts.gossipMs) + 1) * this.#opts.gossipMs
    const m = this.#queue.pop()
    if (m !== undefined) { next = Math.min(next, m.at); this.#queue.push(m) }
    for (const r of this.running.values()) next = Math.min(next, r.endsAt)
    for (const b of this.bidders.values()) next = Math.min(next, b.nextWakeup() ?? Infinity)
    for (const a of this.auctioneers.values()) next = Math.min(next, a.nextWakeup() ?? Infinity)
    // Timers fire no earlier than the next millisecond: the clock is in whole ms.
    return Math.max(after, Math.ceil(next))
  }

  /** How many tasks of each framework run on `peer` now. */
  runningByFramework (peer: string): Record<string, number> {
    const out: Record<string, number> = {}
    for (const r of this.#bidder(peer).running()) out[r.framework] = (out[r.framework] ?? 0) + 1
    return out
  }

  #deliver (m: InFlight, touched: Set<string>): void {
    const parsed = decodeAuctionMessage(m.bytes)
    if (!parsed.ok) { this.violations.push(`undecodable message ${parsed.error.message}`); return }
    const msg = parsed.msg
    const t = this.now
    switch (msg.type) {
      case 'cfb': this.#fromBidder(m.to, this.#bidder(m.to).onCallForBids(msg, t, m.from)); break
      case 'award': this.#fromBidder(m.to, this.#bidder(m.to).onAward(msg, t, m.from)); break
      case 'release': this.#bidder(m.to).onRelease(msg, m.from); break
      case 'bids': touched.add(m.to); this.#fromAuctioneer(m.to, this.#auctioneer(m.to).onBids(m.from, msg, t)); break
      case 'awardReply': touched.add(m.to); this.#fromAuctioneer(m.to, this.#auctioneer(m.to).onAwardReply(m.from, msg, t)); break
    }
  }

  #fromBidder (from: string, out: BidderOutput | AwardOutcome): void {
    this.#send(from, out.send)
    for (const s of out.stale) this.#kill(s.task, s.attempt)
    if ('start' in out) {
      for (const s of out.start) {
        const key = `${s.task}#${s.attempt}`
        const prior = this.accepted.get(key)
        if (prior !== undefined && prior !== from) this.violations.push(`${key} accepted by ${prior} and ${from}`)
        this.accepted.set(key, from)
        this.running.set(key, { peer: from, endsAt: this.now + this.#opts.runMs(s.task, this.rng) })
      }
    }
  }

  #fromAuctioneer (from: string, out: AuctioneerOutput): void {
    for (const p of out.placed) {
      if (this.placed.has(p.task)) this.violations.push(`${p.task} placed twice`)
      this.placed.set(p.task, { attempt: p.attempt, peer: p.peer, at: this.now })
    }
    for (const s of out.superseded) {
      // The shell tells the peer (task protocol); a stale copy it runs is killed.
      this.counts.superseded++
      for (const st of this.#bidder(s.peer).fence(s.task, s.attempt + 1)) this.#kill(st.task, st.attempt)
    }
    this.#send(from, out.send)
  }

  #send (from: string, msgs: readonly Outgoing[]): void {
    const [lo, hi] = this.#opts.delay
    for (const { peer, msg } of msgs) {
      this.counts.sent++
      if (this.rng() < this.#opts.dropRate) { this.counts.dropped++; continue }
      const copies = this.rng() < this.#opts.duplicateRate ? 2 : 1
      if (copies === 2) this.counts.duplicated++
      for (let i = 0; i < copies; i++) {
        const at = this.now + lo + Math.floor(this.rng() * (hi - lo + 1))
        this.#queue.push({ at, seq: this.#seq++, from, to: peer, bytes: encodeAuctionMessage(msg) })
      }
    }
  }

  #kill (task: string, attempt: number): void {
    this.counts.staleKilled++
    this.running.delete(`${task}#${attempt}`)
  }

  #gossip (): void {
    let grew = false
    this.view = [...this.bidders].map(([id, b]) => {
      const free = b.free()
      const before = this.#lastFree.get(id)
      if (before === undefined || !fits(free, before)) grew = true
      this.#lastFree.set(id, free)
      return { peer: id, status: 'alive' as const, advert: advert(b.capacity, { free, labels: { ...b.labels }, allowExec: b.config.allowExec }) }
    })
    if (grew) for (const a of this.auctioneers.values()) a.onCapacityChange(this.now)
  }

  #checkCapacity (): void {
    for (const [id, b] of this.bidders) {
      if (!fits(addResources(b.ledger.allocated(), b.ledger.held()), b.capacity)) this.violations.push(`${id} over capacity at ${this.now}`)
    }
  }

  #bidder (id: string): Bidder {
    const b = this.bidders.get(id)
    if (b === undefined) throw new Error(`no node ${id}`)
    return b
  }

  #auctioneer (id: string): Auctioneer {
    const a = this.auctioneers.get(id)
    if (a === undefined) throw new Error(`no node ${id}`)
    return a
  }
}
