import { addResources, fits, normalizeResources, shortfall, subtractResources, type Resources } from '../core/resources.js'

/** A hold is a short lease on capacity promised in a bid; an allocation is a task that runs. */
export type LedgerState = 'held' | 'allocated'

export interface LedgerEntry {
  readonly key: string
  readonly demand: Resources
  readonly framework: string
  readonly state: LedgerState
  /** When a hold lapses (exclusive); `Infinity` for allocations. */
  readonly expiresAt: number
}

export type HoldResult =
  | { ok: true, expiresAt: number }
  | { ok: false, reason: 'exists' | 'invalid' }
  | { ok: false, reason: 'insufficient', short: string[] }

export type CommitResult =
  | { ok: true }
  | { ok: false, reason: 'unknown' | 'expired' | 'allocated' }

/**
 * One node's capacity accounting: `free = capacity - allocated - held`.
 *
 * Invariant: `allocated + held ≤ capacity` at every instant, because only `hold` adds to the
 * sum and it checks first; `commit` moves an amount from held to allocated, and everything else
 * subtracts. Holds lapse at `expiresAt`; every call that takes `now` sweeps lapsed holds first,
 * so callers need not call `expire` for correctness, only to learn which holds lapsed.
 * The clock must not go backwards.
 */
export class HoldLedger {
  readonly capacity: Resources
  readonly #entries = new Map<string, LedgerEntry>()
  #allocated: Resources = {}
  #held: Resources = {}
  #heldCount = 0
  /** The earliest expiry among holds, so that `expire` is O(1) when nothing is due. */
  #nextExpiry = Number.POSITIVE_INFINITY

  constructor (capacity: Resources) {
    this.capacity = normalizeResources(capacity)
  }

  /** Reserves `demand` under `key` until `now + leaseMs`, only if it fits in what is free. */
  hold (key: string, demand: Resources, now: number, leaseMs: number, framework = 'default'): HoldResult {
    this.expire(now)
    if (this.#entries.has(key)) return { ok: false, reason: 'exists' }
    // A negative amount would raise `free` and break the invariant.
    if (!Object.values(demand).every(v => Number.isFinite(v) && v >= 0) || !(leaseMs > 0)) return { ok: false, reason: 'invalid' }
    const free = this.free()
    if (!fits(demand, free)) return { ok: false, reason: 'insufficient', short: shortfall(demand, free) }
    const expiresAt = now + leaseMs
    this.#entries.set(key, { key, demand, framework, state: 'held', expiresAt })
    this.#held = addResources(this.#held, demand)
    this.#heldCount++
    if (expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt
    return { ok: true, expiresAt }
  }

  /** Extends a live hold to `now + leaseMs`. False when the hold is unknown, lapsed or already allocated. */
  renew (key: string, now: number, leaseMs: number): boolean {
    this.expire(now)
    const e = this.#entries.get(key)
    if (e?.state !== 'held' || !(leaseMs > 0)) return false
    const expiresAt = Math.max(e.expiresAt, now + leaseMs)
    this.#entries.set(key, { ...e, expiresAt })
    return true
  }

  /** Turns a live hold into an allocation. Fails for an unknown or lapsed hold. */
  commit (key: string, now: number): CommitResult {
    const e = this.#entries.get(key)
    if (e === undefined) return { ok: false, reason: 'unknown' }
    if (e.state === 'allocated') return { ok: false, reason: 'allocated' }
    if (e.expiresAt <= now) {
      this.#drop(e)
      return { ok: false, reason: 'expired' }
    }
    this.#entries.set(key, { ...e, state: 'allocated', expiresAt: Number.POSITIVE_INFINITY })
    this.#held = subtractResources(this.#held, e.demand)
    this.#allocated = addResources(this.#allocated, e.demand)
    this.#heldCount--
    this.#settle()
    return { ok: true }
  }

  /** Gives back a hold (the auctioneer chose another bid). False when there is no such hold. */
  release (key: string): boolean {
    const e = this.#entries.get(key)
    if (e?.state !== 'held') return false
    this.#drop(e)
    return true
  }

  /** Gives back an allocation (the task finished, failed or was killed). False when there is no such allocation. */
  finish (key: string): boolean {
    const e = this.#entries.get(key)
    if (e?.state !== 'allocated') return false
    this.#drop(e)
    return true
  }

  /** Drops every hold that lapsed by `now` and returns their keys. */
  expire (now: number): string[] {
    if (now < this.#nextExpiry) return []
    const lapsed: string[] = []
    let next = Number.POSITIVE_INFINITY
    for (const e of this.#entries.values()) {
      if (e.state !== 'held') continue
      if (e.expiresAt <= now) lapsed.push(e.key)
      else if (e.expiresAt < next) next = e.expiresAt
    }
    for (const key of lapsed) {
      const e = this.#entries.get(key)
      if (e !== undefined) this.#drop(e)
    }
    this.#nextExpiry = next
    return lapsed
  }

  get (key: string): LedgerEntry | undefined {
    return this.#entries.get(key)
  }

  /** How many holds and allocations there are. */
  get size (): number {
    return this.#entries.size
  }

  /** The earliest time a hold lapses, or undefined when there are no holds. */
  nextExpiry (): number | undefined {
    return Number.isFinite(this.#nextExpiry) ? this.#nextExpiry : undefined
  }

  /** `capacity - allocated - held`: what a new hold may take. */
  free (): Resources {
    return subtractResources(subtractResources(this.capacity, this.#allocated), this.#held)
  }

  allocated (): Resources {
    return normalizeResources(this.#allocated)
  }

  held (): Resources {
    return normalizeResources(this.#held)
  }

  /** Allocated (running) resources per framework, for the node's advert. Holds are not usage yet. */
  usageByFramework (): Record<string, Resources> {
    const out: Record<string, Resources> = {}
    for (const e of this.#entries.values()) {
      if (e.state === 'allocated') out[e.framework] = addResources(out[e.framework] ?? {}, e.demand)
    }
    return out
  }

  entries (): IterableIterator<LedgerEntry> {
    return this.#entries.values()
  }

  #drop (e: LedgerEntry): void {
    this.#entries.delete(e.key)
    if (e.state === 'held') {
      this.#held = subtractResources(this.#held, e.demand)
      this.#heldCount--
    } else {
      this.#allocated = subtractResources(this.#allocated, e.demand)
    }
    this.#settle()
  }

  // Running sums collect float dust over many add/subtract pairs; reset them when they must be zero.
  #settle (): void {
    if (this.#heldCount === 0) { this.#held = {}; this.#nextExpiry = Number.POSITIVE_INFINITY }
    if (this.#entries.size === this.#heldCount) this.#allocated = {}
  }
}
