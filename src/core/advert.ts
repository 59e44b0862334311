import { z } from 'zod'

/** The gossip wire version; a receiver drops adverts of a version it does not know. */
export const ADVERT_VERSION = 1
/** The most bytes one advert may take on the wire; bigger ones are dropped unread. */
export const MAX_ADVERT_BYTES = 16 * 1024
/** How many task ids an advert lists in `running` and `pending` at most. */
export const MAX_ADVERT_TASKS = 200

const name = z.string().min(1).max(128)
const amounts = z.record(name, z.number().finite().nonnegative()).refine(r => Object.keys(r).length <= 64, 'at most 64 resources')

const taskRef = z.strictObject({ id: z.string().min(1).max(64), attempt: z.number().int().positive() })

/**
 * What a node tells the mesh about itself, every `advertIntervalMs` and on change: the Mesos
 * resource offer, made peer-to-peer. Receivers keep the newest `seq` per peer.
 */
export const nodeAdvertSchema = z.strictObject({
  v: z.literal(ADVERT_VERSION),
  peer: z.string().min(1).max(128),
  /** Grows with every advert a node sends; restarts from the wall clock, so it keeps growing across restarts. */
  seq: z.number().int().nonnegative(),
  capacity: amounts,
  free: amounts,
  labels: z.record(name, z.string().max(256)).refine(r => Object.keys(r).length <= 64, 'at most 64 labels'),
  usageByFramework: z.record(name, amounts).refine(r => Object.keys(r).length <= 256, 'at most 256 frameworks'),
  /**
   * Per framework, the smallest demand among the tasks this node submitted and has not placed
   * yet: every bidder learns who waits for room, and holds freed room for the lowest share.
   */
  pendingByFramework: z.record(name, amounts).refine(r => Object.keys(r).length <= 256, 'at most 256 frameworks'),
  /** How many tasks run now (the full count, even when `running` is cut to MAX_ADVERT_TASKS). */
  runningCount: z.number().int().nonnegative(),
  running: z.array(taskRef).max(MAX_ADVERT_TASKS),
  pending: z.array(taskRef).max(MAX_ADVERT_TASKS),
  /** Whether this node runs `exec` tasks (`--allow-exec`). */
  allowExec: z.boolean(),
  /** The node's listen multiaddrs, so peers that are not yet connected can dial it. */
  addrs: z.array(z.string().min(1).max(256)).max(16),
  /** The node's HTTP API URL, so peers and tools can reach it; empty when the API is off. */
  api: z.string().max(256),
  ts: z.number().int().nonnegative()
})

export type NodeAdvert = z.output<typeof nodeAdvertSchema>

/**
 * The beat a node sends when its advert has not changed: proof of life at a fraction of the
 * bytes. Gossip costs grow with nodes × mesh degree per beat, so the beat stays tiny and the
 * full advert goes out only on change, when a peer joins, and every few beats as a refresh.
 */
export const heartbeatSchema = z.strictObject({
  v: z.literal(ADVERT_VERSION),
  peer: z.string().min(1).max(128),
  /** Shares the advert's sequence: a beat is newer than every advert sent before it. */
  seq: z.number().int().nonnegative(),
  hb: z.literal(1)
})

export type Heartbeat = z.output<typeof heartbeatSchema>

/** A peer as one node sees it. */
export type PeerStatus = 'alive' | 'suspect' | 'dead'
