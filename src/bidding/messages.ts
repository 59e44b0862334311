import { z } from 'zod'
import { ValidationError } from '../core/errors.js'
import { zodIssues } from '../core/schema.js'

/** The libp2p stream protocol the auction runs on (length-prefixed JSON, one long-lived stream per peer pair). */
export const AUCTION_PROTOCOL = '/bidmesh/auction/1.0.0'
/** The wire version every auction message carries as `v`; a receiver drops versions it does not know. */
export const AUCTION_VERSION = 1
/**
 * The most bytes one auction message may take on the wire. Awards carry task specs (up to ~200 KB
 * each), so this is larger than a call for bids needs; the auctioneer splits awards to stay under it.
 */
export const MAX_AUCTION_MESSAGE_BYTES = 4 * 1024 * 1024
/** The most tasks (bids, declines, refs) one message may carry: Sparrow-style batches, bounded. */
export const MAX_BATCH_TASKS = 1024
/** The longest decline or reject reason, in characters. */
export const MAX_REASON_CHARS = 256
/** The longest hold lease a call for bids may ask for. */
export const MAX_LEASE_MS = 60_000

/** Framework names follow the task spec: letters, digits and `. _ : -`. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

// zod drops `__proto__` record keys, so a hostile key cannot reach an output object's prototype
// (the tests hold it to that).
const key = z.string().min(1).max(128)
const maxKeys = (n: number) => (r: Record<string, unknown>): boolean => Object.keys(r).length <= n

const peerId = z.string().min(1).max(128)
const auctionId = z.string().min(1).max(64)
const taskId = z.string().min(1).max(64)
const attempt = z.number().int().positive().max(1_000_000_000)
const reason = z.string().max(MAX_REASON_CHARS)

/** A resource vector on the wire: cpu in millicores, like the node's own accounting. */
export const wireResourcesSchema = z.record(key, z.number().finite().nonnegative().max(1e15))
  .refine(maxKeys(64), 'at most 64 resources')

const constraintValue = z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).min(1).max(64)])
const constraintsSchema = z.record(key, constraintValue).refine(maxKeys(64), 'at most 64 constraints')

/** One task offered in a call for bids: everything a bidder needs to decide, nothing it does not. */
export const cfbTaskSchema = z.strictObject({
  task: taskId,
  attempt,
  framework: z.string().min(1).max(64).regex(NAME),
  demand: wireResourcesSchema,
  constraints: constraintsSchema,
  priority: z.number().finite().min(-1e9).max(1e9),
  submittedAt: z.number().finite().nonnegative(),
  kind: z.enum(['exec', 'js']),
  placement: z.enum(['spread', 'binpack'])
})

const taskRefSchema = z.strictObject({ task: taskId, attempt })

/** Rejects a batch that names the same task twice: every reply is matched per task. */
function uniqueTasks (lists: (m: any) => Array<ReadonlyArray<{ task: string }>>) {
  return (m: any, ctx: z.core.$RefinementCtx): void => {
    const seen = new Set<string>()
    for (const list of lists(m)) {
      for (const t of list) {
        if (seen.has(t.task)) { ctx.addIssue({ code: 'custom', message: `task ${t.task} appears twice` }); return }
        seen.add(t.task)
      }
    }
  }
}

export const callForBidsSchema = z.strictObject({
  type: z.literal('cfb'),
  v: z.literal(AUCTION_VERSION),
  /** The auction (round) id, unique per auctioneer; replies name it. */
  auction: auctionId,
  /** The auctioneer; must equal the stream's remote peer. */
  from: peerId,
  tasks: z.array(cfbTaskSchema).min(1).max(MAX_BATCH_TASKS),
  /** How long the bidder should keep a hold for this auctioneer; bidders clamp it to their own bounds. */
  leaseMs: z.number().int().positive().max(MAX_LEASE_MS)
}).superRefine(uniqueTasks(m => [m.tasks]))

export const bidsSchema = z.strictObject({
  type: z.literal('bids'),
  v: z.literal(AUCTION_VERSION),
  auction: auctionId,
  /** The lease the bidder granted to every bid in this reply, counted from when it sent them. */
  leaseMs: z.number().int().nonnegative().max(MAX_LEASE_MS),
  bids: z.array(z.strictObject({ task: taskId, attempt, score: z.number().finite().min(-1e6).max(1e6) })).max(MAX_BATCH_TASKS),
  declines: z.array(z.strictObject({ task: taskId, attempt, reason, retryable: z.boolean() })).max(MAX_BATCH_TASKS)
}).superRefine(uniqueTasks(m => [m.bids, m.declines]))

export const awardSchema = z.strictObject({
  type: z.literal('award'),
  v: z.literal(AUCTION_VERSION),
  auction: auctionId,
  /**
   * The awarded tasks. `spec` is the full task spec (the bidder validates it with `parseTaskSpec`),
   * carried here so the winner can start without another round trip; it may be left out when the
   * winner fetches it from the DHT instead.
   */
  tasks: z.array(z.strictObject({ task: taskId, attempt, spec: z.unknown().optional() })).min(1).max(MAX_BATCH_TASKS)
}).superRefine(uniqueTasks(m => [m.tasks]))

export const awardReplySchema = z.strictObject({
  type: z.literal('awardReply'),
  v: z.literal(AUCTION_VERSION),
  auction: auctionId,
  accepted: z.array(taskRefSchema).max(MAX_BATCH_TASKS),
  rejected: z.array(z.strictObject({ task: taskId, attempt, reason })).max(MAX_BATCH_TASKS)
}).superRefine(uniqueTasks(m => [m.accepted, m.rejected]))

export const releaseSchema = z.strictObject({
  type: z.literal('release'),
  v: z.literal(AUCTION_VERSION),
  auction: auctionId,
  tasks: z.array(taskRefSchema).min(1).max(MAX_BATCH_TASKS)
}).superRefine(uniqueTasks(m => [m.tasks]))

export const auctionMessageSchema = z.discriminatedUnion('type', [
  callForBidsSchema, bidsSchema, awardSchema, awardReplySchema, releaseSchema
])

export type CfbTask = z.output<typeof cfbTaskSchema>
export type TaskRef = z.output<typeof taskRefSchema>
export type CallForBids = z.output<typeof callForBidsSchema>
export type Bids = z.output<typeof bidsSchema>
export type Bid = Bids['bids'][number]
export type Decline = Bids['declines'][number]
export type Award = z.output<typeof awardSchema>
export type AwardedTask = Award['tasks'][number]
export type AwardReply = z.output<typeof awardReplySchema>
export type Release = z.output<typeof releaseSchema>
export type AuctionMessage = z.output<typeof auctionMessageSchema>
export type AuctionMessageType = AuctionMessage['type']

/** A message to send: the state machines return these as values; the shell writes them to streams. */
export interface Outgoing {
  peer: string
  msg: AuctionMessage
}

/** The outcome of parsing a wire message: a value, never a throw. */
export type ParseResult =
  | { ok: true, msg: AuctionMessage }
  | { ok: false, error: ValidationError }

/**
 * Checks an already-decoded message (e.g. from `JSON.parse`). A malformed message gives
 * `{ ok: false, error }` naming the bad fields; it must never crash a node, so nothing here throws.
 */
export function parseAuctionMessage (input: unknown): ParseResult {
  try {
    const result = auctionMessageSchema.safeParse(input)
    if (result.success) return { ok: true, msg: result.data }
    return { ok: false, error: new ValidationError('auction message', zodIssues(result.error).slice(0, 10)) }
  } catch (err) {
    // zod does not throw on bad input, but an exotic object (a throwing getter, a revoked proxy) could.
    return { ok: false, error: new ValidationError('auction message', [{ path: '', message: `unreadable: ${describe(err)}` }]) }
  }
}

function describe (err: unknown): string {
  try { return err instanceof Error ? err.message : String(err) } catch { return 'unknown error' }
}
