import { gunzipSync, gzipSync } from 'node:zlib'
import { z } from 'zod'
import { parseRunState, type RunState } from '../dag/index.js'

/**
 * What `/bidmesh/wf/<id>` holds: the run state plus what a driver taking over needs besides it.
 * The DHT header carries `attempt = epoch` and `seq`, so the selector keeps the newest driver's
 * newest save and a stale driver's writes lose.
 */
export interface WorkflowRecord {
  /** The driver epoch: 1 for the driver that accepted the workflow, +1 for each takeover. */
  epoch: number
  /** Increases with every save within an epoch. */
  seq: number
  /** The peer driving the run when it was saved. */
  driver: string
  /**
   * Instance key → the task id its current attempt was submitted as. Only instances in flight
   * are kept: they are what a new driver checks against the task records, and keeping finished
   * ones would grow the record by every instance of a 10,000-task run.
   */
  tasks: Record<string, { id: string, attempt: number }>
  state: RunState
}

/** Records above this are stored gzipped: inline sources merged into every task repeat a lot. */
const COMPRESS_ABOVE_BYTES = 16 * 1024

const taskRefSchema = z.strictObject({ id: z.string().min(1).max(128), attempt: z.number().int().positive() })

const plainSchema = z.strictObject({
  v: z.literal(1),
  driver: z.string().min(1).max(256),
  tasks: z.record(z.string().max(160), taskRefSchema),
  state: z.unknown()
})

const packedSchema = z.strictObject({ v: z.literal(1), gz: z.string().max(8 * 1024 * 1024) })

/** The record's value as stored (epoch and seq travel in the DHT header). */
export function encodeRecordValue (r: WorkflowRecord): unknown {
  const plain = { v: 1, driver: r.driver, tasks: r.tasks, state: r.state }
  const json = JSON.stringify(plain)
  if (json.length <= COMPRESS_ABOVE_BYTES) return plain
  return { v: 1, gz: gzipSync(json, { level: 6 }).toString('base64') }
}

/** Checks a value read back from the DHT; throws ValidationError (or a zod-free Error) when it is not one. */
export function decodeRecordValue (value: unknown, header: { attempt: number, seq: number }): WorkflowRecord {
  let raw = value
  const packed = packedSchema.safeParse(value)
  if (packed.success) raw = JSON.parse(gunzipSync(Buffer.from(packed.data.gz, 'base64'), { maxOutputLength: 64 * 1024 * 1024 }).toString('utf8'))
  const plain = plainSchema.parse(raw)
  return { epoch: header.attempt, seq: header.seq, driver: plain.driver, tasks: plain.tasks, state: parseRunState(plain.state) }
}
