import { z } from 'zod'
import { parseOrThrow } from '../core/schema.js'

/**
 * Weight of the newest duration in the exponentially weighted mean: `mean += α (d - mean)`.
 * 0.3 lets the last three or so runs carry most of the weight (0.3, 0.21, 0.15, …), so an
 * estimate follows a task that got slower within a few runs without jumping on one outlier.
 */
export const ESTIMATE_ALPHA = 0.3
/** The estimate of a task with no history yet. Any positive value ranks unknown tasks by path length in tasks. */
export const DEFAULT_ESTIMATE_MS = 1000
/** Task keys `trimEstimates` keeps; past this the keys with the least history are dropped. Keeps the DHT record small. */
export const MAX_ESTIMATE_KEYS = 512
/** Nodes kept per key; past this the nodes with the least history are dropped. */
export const MAX_ESTIMATE_NODES = 8
/**
 * A node's weight in the combined estimate is its number of observations, capped here, so a node
 * with a long history does not drown out the others.
 */
const WEIGHT_CAP = 10

/** One node's view of one task key: the weighted mean, how many runs it has seen, and when it last saw one. */
export interface EstimateSample {
  mean: number
  n: number
  at: number
}

/**
 * Runtime estimates: key → node → sample. Each node only updates its own samples, so merging is
 * taking the newer sample per (key, node), keeping the `MAX_ESTIMATE_NODES` most experienced
 * nodes per key: commutative, associative and idempotent, whatever order the copies travel in.
 * A plain JSON value, shared through the DHT.
 */
export interface Estimates {
  v: 1
  keys: Record<string, Record<string, EstimateSample>>
}

/** The estimates of a node with no history. */
export function emptyEstimates (): Estimates {
  return { v: 1, keys: {} }
}

/**
 * The history key of a task: its name within its workflow, since "build" in two different
 * workflows is not the same job. Instances of a fan-out share their task's key.
 */
export function estimateKey (workflow: string, task: string): string {
  return `${workflow}/${task}`
}

function own<T> (record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}

/** Total order on samples of one (key, node): more runs first, then the later, then the larger mean. */
function compareSamples (a: EstimateSample, b: EstimateSample): number {
  return (a.n - b.n) || (a.at - b.at) || (a.mean - b.mean)
}

/** One observed run: `node` (the peer recording it) saw task `key` take `durationMs`. */
export interface Observation {
  key: string
  node: string
  durationMs: number
  now: number
}

/** Adds one observed duration to `node`'s own sample for `key`. Returns new estimates; a bad duration is ignored. */
export function observeDuration (estimates: Estimates, o: Observation, alpha = ESTIMATE_ALPHA): Estimates {
  if (!Number.isFinite(o.durationMs) || o.durationMs < 0) return estimates
  const slots = own(estimates.keys, o.key)
  const prev = own(slots, o.node)
  const sample: EstimateSample = prev === undefined
    ? { mean: o.durationMs, n: 1, at: o.now }
    : { mean: prev.mean + alpha * (o.durationMs - prev.mean), n: prev.n + 1, at: Math.max(prev.at, o.now) }
  return trimEstimates({ v: 1, keys: { ...estimates.keys, [o.key]: capNodes({ ...slots, [o.node]: sample }) } })
}

/**
 * The estimated duration of task `key`: the mean of every node's sample, weighted by its number of
 * observations (capped at 10), or `fallbackMs` before any history exists.
 */
export function estimateMs (estimates: Estimates | undefined, key: string, fallbackMs = DEFAULT_ESTIMATE_MS): number {
  const slots = own(estimates?.keys, key)
  if (slots === undefined) return fallbackMs
  let sum = 0
  let weight = 0
  for (const s of Object.values(slots)) {
    const w = Math.min(s.n, WEIGHT_CAP)
    sum += w * s.mean
    weight += w
  }
  return weight > 0 ? sum / weight : fallbackMs
}

/**
 * Merges estimates from another node (or the DHT): the newer sample per (key, node) wins. The
 * result may hold more keys than either side: `trimEstimates` it before storing or publishing.
 */
export function mergeEstimates (a: Estimates, b: Estimates): Estimates {
  // Maps, not objects, while merging: a key such as "__proto__" must stay data.
  const keys = new Map(Object.entries(a.keys))
  for (const [key, theirs] of Object.entries(b.keys)) {
    const mine = keys.get(key)
    if (mine === undefined) { keys.set(key, theirs); continue }
    const merged = new Map(Object.entries(mine))
    for (const [node, s] of Object.entries(theirs)) {
      const m = merged.get(node)
      if (m === undefined || compareSamples(s, m) > 0) merged.set(node, s)
    }
    keys.set(key, capNodes(Object.fromEntries(merged)))
  }
  return { v: 1, keys: Object.fromEntries(keys) }
}

type Ranked = [name: string, sample: EstimateSample]

/**
 * Orders the nodes of one key by the same order the merge keeps newer samples by (then by name),
 * so that cutting to the top nodes commutes with merging: a sample dropped in between would
 * have been dropped at the end too.
 */
function byRank (a: Ranked, b: Ranked): number {
  return compareSamples(b[1], a[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
}

function capNodes (slots: Record<string, EstimateSample>): Record<string, EstimateSample> {
  const entries = Object.entries(slots)
  if (entries.length <= MAX_ESTIMATE_NODES) return slots
  return Object.fromEntries(entries.sort(byRank).slice(0, MAX_ESTIMATE_NODES))
}

/**
 * Keeps the `maxKeys` keys with the most history (by their best sample). This cut is lossy and,
 * unlike the per-key one, does not commute with merging (a key dropped here could have been
 * kept alive by a later merge), so it is applied to a node's own copy, not inside `mergeEstimates`.
 */
export function trimEstimates (estimates: Estimates, maxKeys = MAX_ESTIMATE_KEYS): Estimates {
  const entries = Object.entries(estimates.keys)
  if (entries.length <= maxKeys) return estimates
  const ranked = entries.flatMap(([key, slots]) => {
    const best = Object.entries(slots).sort(byRank)[0]
    return best === undefined ? [] : [{ key, slots, best: best[1] }]
  })
  ranked.sort((x, y) => byRank([x.key, x.best], [y.key, y.best]))
  return { v: 1, keys: Object.fromEntries(ranked.slice(0, maxKeys).map(k => [k.key, k.slots])) }
}

const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/

const estimatesSchema = z.strictObject({
  v: z.literal(1),
  keys: z.record(
    z.string().max(300).regex(SAFE_KEY),
    z.record(z.string().max(128).regex(SAFE_KEY), z.strictObject({
      mean: z.number().finite().nonnegative(),
      n: z.number().int().positive(),
      at: z.number().finite()
    }))
  )
})

/** Checks estimates received from another node or the DHT, and cuts them to the size limits. Throws ValidationError. */
export function parseEstimates (input: unknown): Estimates {
  const parsed = parseOrThrow(estimatesSchema, input, 'estimates')
  const keys = Object.fromEntries(Object.entries(parsed.keys).map(([k, slots]) => [k, capNodes(slots)]))
  return trimEstimates({ v: 1, keys })
}
