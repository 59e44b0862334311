import { ValidationError, type FieldIssue } from '../core/errors.js'
import { MAX_LEASE_MS } from './messages.js'

/** Tuning of the bidder side (the node that owns capacity). */
export interface BidderConfig {
  /**
   * How long calls for bids that cannot all be satisfied wait so that competing requests are
   * decided together in DRF order. An uncontended call is answered at once.
   * @default 15
   */
  bidWindowMs: number
  /** Holds last at least this long, whatever the auctioneer asked. @default 100 */
  minLeaseMs: number
  /** Holds last at most this long, so an auctioneer cannot pin capacity. @default 10000 */
  maxLeaseMs: number
  /** The most task requests waiting in the contention window; beyond it calls are declined as busy. @default 10000 */
  maxQueuedTasks: number
  /** Whether this node runs `exec` tasks (`--allow-exec`). @default false */
  allowExec: boolean
  /**
   * After turning a framework away for lack of room, hold freed room for it this long against
   * frameworks with a higher share: the Mesos offer to the lowest share, for submitters whose
   * calls arrive later (over gossip and the network) than a local submitter's. 0 turns it off.
   * @default 1500
   */
  reserveForWaitersMs: number
}

/** Tuning of the auctioneer side (the node a task was submitted to). */
export interface AuctioneerConfig {
  /** Probes per task: the d of power-of-d choices. @default 2 */
  probes: number
  /** The hold lease asked for in calls for bids. @default 1000 */
  leaseMs: number
  /** How long a round waits for bids; must exceed the bidders' `bidWindowMs` plus a round trip. @default 250 */
  roundTimeoutMs: number
  /** How long an award waits for its reply before it is sent again. @default 250 */
  awardTimeoutMs: number
  /** How often an unanswered award is sent again before the attempt is given up (fenced). @default 2 */
  awardRetries: number
  /** The first retry delay of a task that got no bid. @default 25 */
  backoffBaseMs: number
  /** The longest retry delay; a task is always bid again at least this often. @default 5000 */
  backoffMaxMs: number
  /** The most tasks in one round (one auction id). @default 512 */
  maxRoundTasks: number
  /** The most spec bytes (JSON) in one award message; awards are split beyond it. @default 1048576 */
  maxAwardBytes: number
  /** Added to the rank and bid score of a task's locality peers (submitter, checkpoint holder). @default 0.25 */
  localityBonus: number
}

export const defaultBidderConfig: Readonly<BidderConfig> = Object.freeze({
  bidWindowMs: 15,
  reserveForWaitersMs: 1500,
  minLeaseMs: 100,
  maxLeaseMs: 10_000,
  maxQueuedTasks: 10_000,
  allowExec: false
})

export const defaultAuctioneerConfig: Readonly<AuctioneerConfig> = Object.freeze({
  probes: 2,
  leaseMs: 1000,
  roundTimeoutMs: 250,
  awardTimeoutMs: 250,
  awardRetries: 2,
  backoffBaseMs: 25,
  backoffMaxMs: 5000,
  maxRoundTasks: 512,
  maxAwardBytes: 1024 * 1024,
  localityBonus: 0.25
})

type Rule = [field: string, ok: (v: number) => boolean, allowed: string]

function check (what: string, cfg: object, rules: Rule[], extra: FieldIssue[] = []): void {
  const issues: FieldIssue[] = []
  const values = cfg as Record<string, unknown>
  for (const [field, ok, allowed] of rules) {
    const v = values[field]
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) issues.push({ path: field, message: `is ${String(v)}; allowed: ${allowed}` })
  }
  issues.push(...extra)
  if (issues.length > 0) throw new ValidationError(what, issues)
}

const int = (min: number, max: number): Rule[1] => v => Number.isInteger(v) && v >= min && v <= max

/** Throws ValidationError naming every field that is out of range. */
export function validateBidderConfig (cfg: BidderConfig): void {
  const extra: FieldIssue[] = []
  if (cfg.minLeaseMs > cfg.maxLeaseMs) extra.push({ path: 'minLeaseMs', message: 'must not exceed maxLeaseMs' })
  if (typeof cfg.allowExec !== 'boolean') extra.push({ path: 'allowExec', message: 'must be true or false' })
  check('bidder config', cfg, [
    ['bidWindowMs', int(0, 10_000), 'an integer from 0 to 10000'],
    ['reserveForWaitersMs', int(0, 60_000), 'an integer from 0 to 60000'],
    ['minLeaseMs', int(1, MAX_LEASE_MS), `an integer from 1 to ${MAX_LEASE_MS}`],
    ['maxLeaseMs', int(1, MAX_LEASE_MS), `an integer from 1 to ${MAX_LEASE_MS}`],
    ['maxQueuedTasks', int(1, 1_000_000), 'an integer from 1 to 1000000']
  ], extra)
}

/** Throws ValidationError naming every field that is out of range. */
export function validateAuctioneerConfig (cfg: AuctioneerConfig): void {
  const extra: FieldIssue[] = []
  if (cfg.backoffBaseMs > cfg.backoffMaxMs) extra.push({ path: 'backoffBaseMs', message: 'must not exceed backoffMaxMs' })
  check('auctioneer config', cfg, [
    ['probes', int(1, 64), 'an integer from 1 to 64'],
    ['leaseMs', int(1, MAX_LEASE_MS), `an integer from 1 to ${MAX_LEASE_MS}`],
    ['roundTimeoutMs', int(1, 600_000), 'an integer from 1 to 600000'],
    ['awardTimeoutMs', int(1, 600_000), 'an integer from 1 to 600000'],
    ['awardRetries', int(0, 100), 'an integer from 0 to 100'],
    ['backoffBaseMs', int(0, 3_600_000), 'an integer from 0 to 3600000'],
    ['backoffMaxMs', int(1, 3_600_000), 'an integer from 1 to 3600000'],
    ['maxRoundTasks', int(1, 1024), 'an integer from 1 to 1024 (the batch bound of a message)'],
    ['maxAwardBytes', int(1024, 64 * 1024 * 1024), 'an integer from 1024 to 67108864'],
    ['localityBonus', v => v >= 0 && v <= 10, 'a number from 0 to 10']
  ], extra)
}

/** Defaults overlaid with `partial`, validated. */
export function createBidderConfig (partial: Partial<BidderConfig> = {}): BidderConfig {
  const cfg = { ...defaultBidderConfig, ...definedOnly(partial) }
  validateBidderConfig(cfg)
  return cfg
}

/** Defaults overlaid with `partial`, validated. */
export function createAuctioneerConfig (partial: Partial<AuctioneerConfig> = {}): AuctioneerConfig {
  const cfg = { ...defaultAuctioneerConfig, ...definedOnly(partial) }
  validateAuctioneerConfig(cfg)
  return cfg
}

// `{ probes: undefined }` from an options object means "default", not "undefined".
function definedOnly<T extends object> (partial: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<T>
}
