import { z } from 'zod'

/** Stream protocol for task status, cancel, logs and lookups between peers. */
export const TASK_PROTOCOL = '/bidmesh/task/1.0.0'
export const TASK_WIRE_VERSION = 1
/** The largest frame a peer may send on the task protocol. */
export const MAX_TASK_FRAME_BYTES = 4 * 1024 * 1024
/** The largest result a task may return; bigger results fail the task with a clear error. */
export const MAX_RESULT_BYTES = 256 * 1024

const id = z.string().min(1).max(64)
const attempt = z.number().int().positive()

/** Executor → submitter: what happened to an attempt. */
const update = z.strictObject({
  type: z.literal('update'),
  v: z.literal(TASK_WIRE_VERSION),
  task: id,
  attempt,
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled', 'lost']),
  at: z.number().int().nonnegative(),
  result: z.unknown().optional(),
  error: z.string().max(4096).optional(),
  exitCode: z.number().int().optional(),
  /** True when a failure should not be retried (bad spec, result too large). */
  permanent: z.boolean().optional()
})

/** Submitter → executor: stop this attempt (a user cancel, or a newer attempt fences it). */
const kill = z.strictObject({
  type: z.literal('kill'),
  v: z.literal(TASK_WIRE_VERSION),
  task: id,
  attempt,
  reason: z.string().max(512)
})

/**
 * Bidder → waiting submitter: "I have this much free now". The Mesos resource offer: a node that
 * frees room tells the submitters waiting for it at once, instead of letting them learn it from
 * the next advert.
 */
const offer = z.strictObject({
  type: z.literal('offer'),
  v: z.literal(TASK_WIRE_VERSION),
  free: z.record(z.string().min(1).max(128), z.number().finite().nonnegative()).refine(r => Object.keys(r).length <= 64, 'at most 64 resources')
})

/** Owner → executor: the final update of this attempt arrived; stop re-sending it. */
const ack = z.strictObject({
  type: z.literal('ack'),
  v: z.literal(TASK_WIRE_VERSION),
  task: id,
  attempt
})

/** Executor → owner: the attempt saved a checkpoint (the bytes are in the DHT, not here). */
const checkpointNote = z.strictObject({
  type: z.literal('checkpoint'),
  v: z.literal(TASK_WIRE_VERSION),
  task: id,
  attempt,
  seq: z.number().int().positive(),
  bytes: z.number().int().nonnegative(),
  at: z.number().int().nonnegative()
})

/**
 * Executor → the peer nearest the task id, when the task's owner died: "you own this task now".
 * It carries what the executor knows, so the running attempt goes on without a restart.
 */
const adopt = z.strictObject({
  type: z.literal('adopt'),
  v: z.literal(TASK_WIRE_VERSION),
  task: id,
  attempt,
  spec: z.unknown(),
  submittedAt: z.number().int().nonnegative(),
  retries: z.number().int().nonnegative(),
  recoveries: z.number().int().nonnegative(),
  deadOwner: z.string().min(1).max(128)
})

const request = z.strictObject({
  type: z.literal('req'),
  v: z.literal(TASK_WIRE_VERSION),
  req: z.number().int().nonnegative(),
  op: z.enum(['get', 'list', 'logs', 'cancel', 'advert', 'peers']),
  task: id.optional(),
  after: z.number().int().nonnegative().optional(),
  limit: z.number().int().positive().max(10_000).optional()
})

const response = z.strictObject({
  type: z.literal('res'),
  v: z.literal(TASK_WIRE_VERSION),
  req: z.number().int().nonnegative(),
  ok: z.boolean(),
  body: z.unknown().optional(),
  error: z.string().max(4096).optional()
})

export const taskWireSchema = z.discriminatedUnion('type', [update, kill, offer, ack, checkpointNote, adopt, request, response])
export type TaskWireMessage = z.output<typeof taskWireSchema>
export type TaskUpdate = z.output<typeof update>
export type TaskRequest = z.output<typeof request>
export type TaskAdopt = z.output<typeof adopt>
export type TaskCheckpointNote = z.output<typeof checkpointNote>
export type TaskResponse = z.output<typeof response>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeTaskWire (msg: TaskWireMessage): Uint8Array {
  return encoder.encode(JSON.stringify(msg))
}

/** Never throws: a malformed frame is a value the caller counts and drops. */
export function decodeTaskWire (frame: Uint8Array): { ok: true, msg: TaskWireMessage } | { ok: false, error: string } {
  try {
    const parsed = taskWireSchema.safeParse(JSON.parse(decoder.decode(frame)))
    if (parsed.success) return { ok: true, msg: parsed.data }
    return { ok: false, error: parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ') }
  } catch (err: any) {
    return { ok: false, error: `not JSON: ${err.message}` }
  }
}
