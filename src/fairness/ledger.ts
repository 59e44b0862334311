import type { Resources } from '../core/resources.js'
import { EPSILON, Issues, checkName, checkVector, checkWeight, compareNames, isRecord } from './validate.js'

/** What one node says about itself: a `NodeAdvert` is one (only these two fields are read). */
export interface NodeUsageReport {
  /** Everything the node offers. */
  readonly capacity: Resources
  /** What each framework's tasks hold on the node now. */
  readonly usageByFramework: Readonly<Record<string, Resources>>
}

export interface FairnessLedgerInit {
  /** Framework weights; a framework not named here has weight 1. @default {} */
  weights?: Readonly<Record<string, number>>
}

/**
 * A sum kept together with how many nodes contribute to it, so that when the last one goes the
 * amount becomes exactly 0 instead of the float dust of many additions and subtractions.
 */
interface Tally {
  sum: number
  nodes: number
}

type Amounts = Map<string, number>

interface NodeEntry {
  capacity: Amounts
  usage: Map<string, Amounts>
}

/**
 * Folds the per-node reports of the mesh (the adverts' `capacity` and `usageByFramework`) into
 * global usage per framework, and answers the DRF questions the auctions ask: each framework's
 * weighted dominant share against the capacity of all reporting nodes, and the order in which
 * frameworks' bids go.
 *
 * Cheap on the hot path: a report updates the totals by its difference from the node's previous
 * report (an unchanged capacity or framework costs a comparison), and shares are cached until a
 * report, a removal or a weight touches them.
 *
 * A node reports itself too, from its own allocation, whenever that changes: its usage then
 * counts at once, before its next advert goes out.
 *
 * @example
 * ```ts
 * const ledger = new FairnessLedger({ weights: { batch: 2 } })
 * ledger.report('peer-a', { capacity: { cpu: 8000, memMb: 16384 }, usageByFramework: { web: { cpu: 2000 } } })
 * ledger.report('peer-b', { capacity: { cpu: 8000, memMb: 16384 }, usageByFramework: { batch: { memMb: 8192 } } })
 * ledger.dominantShare('web')           // 0.125 (2000 of 16000 millicores)
 * ledger.dominantShare('batch')         // 0.125 (8192 of 32768 MB, weight 2)
 * ledger.order(['web', 'batch', 'ml'])  // ['ml', 'batch', 'web']: ml holds nothing; equal shares go by name
 * ledger.remove('peer-b')               // the node died: its usage and capacity leave the totals
 * ```
 */
export class FairnessLedger {
  private readonly nodes = new Map<string, NodeEntry>()
  private readonly capacity = new Map<string, Tally>()
  private readonly usageTotals = new Map<string, Map<string, Tally>>()
  private readonly weights = new Map<string, number>()
  private readonly shares = new Map<string, number>()

  constructor (init: FairnessLedgerInit = {}) {
    const issues = new Issues()
    if (init.weights !== undefined && !isRecord(init.weights)) issues.add('weights', 'must be an object of weights by framework')
    else {
      for (const [name, weight] of Object.entries(init.weights ?? {})) {
        if (checkWeight(weight, `weights.${name}`, issues)) this.weights.set(name, weight)
      }
    }
    issues.throwIfAny('fairness ledger init')
  }

  /** How many nodes have reported (and not been removed). */
  get size (): number {
    return this.nodes.size
  }

  /**
   * Replaces what `nodeId` said before with `report`. An empty capacity is allowed (a node that
   * offers nothing, say a client); shares are measured against the sum of all capacities.
   * @throws ValidationError on an empty id or a negative or non-finite amount; the ledger is then unchanged.
   */
  report (nodeId: string, report: NodeUsageReport): void {
    const issues = new Issues()
    checkName(nodeId, 'nodeId', issues)
    if (!isRecord(report)) issues.add('report', 'must be an object { capacity, usageByFramework }')
    else {
      checkVector(report.capacity, 'capacity', issues, 'usage')
      if (!isRecord(report.usageByFramework)) issues.add('usageByFramework', 'must be an object of usage vectors by framework')
      else {
        for (const [framework, usage] of Object.entries(report.usageByFramework)) {
          if (framework === '') issues.add('usageByFramework', 'framework names must not be empty')
          else checkVector(usage, `usageByFramework.${framework}`, issues, 'usage')
        }
      }
    }
    issues.throwIfAny('usage report')

    const before = this.nodes.get(nodeId)
    const next: NodeEntry = { capacity: amounts(report.capacity), usage: new Map() }
    for (const [framework, usage] of Object.entries(report.usageByFramework)) {
      const a = amounts(usage)
      if (a.size > 0) next.usage.set(framework, a)
    }

    if (before === undefined || !sameAmounts(before.capacity, next.capacity)) {
      if (before !== undefined) fold(this.capacity, before.capacity, -1)
      fold(this.capacity, next.capacity, +1)
      this.shares.clear()
    } else {
      next.capacity = before.capacity
    }
    for (const [framework, now] of next.usage) {
      const old = before?.usage.get(framework)
      if (old !== undefined && sameAmounts(old, now)) continue
      if (old !== undefined) this.foldUsage(framework, old, -1)
      this.foldUsage(framework, now, +1)
      this.shares.delete(framework)
    }
    for (const [framework, old] of before?.usage ?? []) {
      if (next.usage.has(framework)) continue
      this.foldUsage(framework, old, -1)
      this.shares.delete(framework)
    }
    this.nodes.set(nodeId, next)
  }

  /** Forgets a node (it died or left): its capacity and usage leave the totals. Returns whether it was known. */
  remove (nodeId: string): boolean {
    const entry = this.nodes.get(nodeId)
    if (entry === undefined) return false
    this.nodes.delete(nodeId)
    fold(this.capacity, entry.capacity, -1)
    for (const [framework, usage] of entry.usage) this.foldUsage(framework, usage, -1)
    this.shares.clear()
    return true
  }

  /** Sets a framework's weight (1 is the default). @throws ValidationError unless the name is non-empty and the weight finite and > 0. */
  setWeight (framework: string, weight: number): void {
    const issues = new Issues()
    checkName(framework, 'framework', issues)
    checkWeight(weight, 'weight', issues)
    issues.throwIfAny('framework weight')
    this.weights.set(framework, weight)
    this.shares.delete(framework)
  }

  weight (framework: string): number {
    return this.weights.get(framework) ?? 1
  }

  /** The frameworks that hold something somewhere, in name order. */
  frameworks (): string[] {
    return [...this.usageTotals.keys()].sort(compareNames)
  }

  /** What `framework` holds across all reporting nodes. */
  usage (framework: string): Resources {
    return toRecord(this.usageTotals.get(framework))
  }

  /** The capacity of all reporting nodes together. */
  totalCapacity (): Resources {
    return toRecord(this.capacity)
  }

  /**
   * The weighted dominant share of `framework` against the total capacity: 0 if it holds nothing,
   * Infinity if it holds a resource no reporting node offers (never NaN).
   */
  dominantShare (framework: string): number {
    // holding nothing is share 0; caching only holders keeps the cache as small as the totals
    if (!this.usageTotals.has(framework)) return 0
    let share = this.shares.get(framework)
    if (share === undefined) {
      share = this.shareWith(framework, undefined)
      this.shares.set(framework, share)
    }
    return share
  }

  /**
   * The weighted dominant share `framework` would have if it held `extra` on top of what the
   * ledger knows: what a bid would cost it, or a node's own not-yet-reported allocation.
   * @throws ValidationError on a negative or non-finite amount in `extra`.
   */
  dominantShareWith (framework: string, extra: Resources): number {
    const issues = new Issues()
    checkVector(extra, 'extra', issues, 'usage')
    issues.throwIfAny('extra usage')
    return this.shareWith(framework, extra)
  }

  /** The weighted dominant share of every framework that holds something. */
  dominantShares (): Record<string, number> {
    return Object.fromEntries(this.frameworks().map(f => [f, this.dominantShare(f)]))
  }

  /**
   * `frameworks` sorted by ascending weighted dominant share, equal shares by name (code-unit
   * order, the same on every node): the order in which their bids go. Frameworks that hold
   * nothing have share 0 and come first. Duplicates are kept.
   */
  order (frameworks: Iterable<string>): string[] {
    return [...frameworks]
      .map(name => ({ name, share: this.dominantShare(name) }))
      .sort((a, b) => a.share < b.share ? -1 : a.share > b.share ? 1 : compareNames(a.name, b.name))
      .map(x => x.name)
  }

  private foldUsage (framework: string, usage: Amounts, sign: 1 | -1): void {
    let totals = this.usageTotals.get(framework)
    if (totals === undefined) { totals = new Map(); this.usageTotals.set(framework, totals) }
    fold(totals, usage, sign)
    if (totals.size === 0) this.usageTotals.delete(framework)
  }

  private shareWith (framework: string, extra: Resources | undefined): number {
    const held = this.usageTotals.get(framework)
    let max = 0
    const consider = (name: string, amount: number): void => {
      if (amount <= EPSILON) return
      const cap = this.capacity.get(name)?.sum ?? 0
      const share = cap > 0 ? amount / cap : Number.POSITIVE_INFINITY
      if (share > max) max = share
    }
    if (held !== undefined) {
      for (const [name, t] of held) consider(name, t.sum + (extra !== undefined && Object.hasOwn(extra, name) ? extra[name] ?? 0 : 0))
    }
    if (extra !== undefined) {
      for (const [name, amount] of Object.entries(extra)) if (held?.has(name) !== true) consider(name, amount)
    }
    return max / this.weight(framework)
  }
}

function amounts (v: Resources): Amounts {
  const out: Amounts = new Map()
  for (const [name, amount] of Object.entries(v)) if (amount > EPSILON) out.set(name, amount)
  return out
}

function sameAmounts (a: Amounts, b: Amounts): boolean {
  if (a.size !== b.size) return false
  for (const [name, amount] of a) if (b.get(name) !== amount) return false
  return true
}

function fold (totals: Map<string, Tally>, amounts: Amounts, sign: 1 | -1): void {
  for (const [name, amount] of amounts) {
    const t = totals.get(name)
    if (t === undefined) {
      totals.set(name, { sum: sign * amount, nodes: sign })
    } else {
      t.nodes += sign
      if (t.nodes === 0) totals.delete(name)
      else t.sum += sign * amount
    }
  }
}

function toRecord (totals: ReadonlyMap<string, Tally> | undefined): Resources {
  return Object.fromEntries([...(totals ?? [])].map(([name, t]) => [name, t.sum]))
}
