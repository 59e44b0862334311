import { z } from 'zod'
import { parseOrThrow } from './schema.js'
import type { Resources } from './resources.js'

/** The most inline JS source a task may carry, so that a spec stays a small message. */
export const MAX_INLINE_SOURCE_BYTES = 64 * 1024
/** The most JSON input a task may carry inline. */
export const MAX_INPUT_BYTES = 128 * 1024

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

const amount = z.number().finite().nonnegative()

export const resourcesSchema = z.object({
  cpu: z.number().finite().positive().max(100_000).default(1).describe('cores; fractions allowed'),
  memMb: amount.max(1e9).default(256),
  gpu: z.number().int().nonnegative().max(1024).default(0)
}).catchall(amount)

const constraintValue = z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).min(1).max(64)])

export const retriesSchema = z.strictObject({
  max: z.number().int().min(0).max(100).default(0),
  backoffMs: z.number().int().min(0).max(3_600_000).default(1000),
  factor: z.number().finite().min(1).max(10).default(2)
})

export const checkpointSchema = z.strictObject({
  intervalMs: z.number().int().min(10).max(3_600_000).default(1000),
  /**
   * How many copies (the writer's own counts as one) must be confirmed before a checkpoint counts
   * as saved. 2 by default: a checkpoint only the writer holds dies with it. Capped by the peers
   * there are, and by the store's replica set (the writer plus 5).
   */
  quorum: z.number().int().min(1).max(6).default(2)
})

const jsonValue: z.ZodType<unknown> = z.unknown().refine(
  v => { try { return JSON.stringify(v ?? null).length <= MAX_INPUT_BYTES } catch { return false } },
  { message: `must be JSON of at most ${MAX_INPUT_BYTES} bytes` }
)

const common = {
  name: z.string().min(1).max(128).regex(NAME, 'letters, digits and . _ : - only, starting with a letter or digit'),
  framework: z.string().min(1).max(64).regex(NAME, 'letters, digits and . _ : - only').default('default'),
  resources: resourcesSchema.default({ cpu: 1, memMb: 256, gpu: 0 }),
  constraints: z.record(z.string().min(1).max(128), constraintValue).default({}),
  priority: z.number().int().min(-1000).max(1000).default(0),
  timeoutMs: z.number().int().positive().max(7 * 24 * 3_600_000).optional(),
  retries: retriesSchema.default({ max: 0, backoffMs: 1000, factor: 2 }),
  placement: z.enum(['spread', 'binpack']).default('spread'),
  checkpoint: checkpointSchema.default({ intervalMs: 1000, quorum: 2 })
}

export const execTaskSchema = z.strictObject({
  ...common,
  kind: z.literal('exec'),
  command: z.array(z.string().max(4096)).min(1, 'must name the program to run').max(1024),
  env: z.record(z.string().min(1).max(256), z.string().max(32_768)).default({}),
  cwd: z.string().max(4096).optional(),
  /** Written to `input.json` in the task's directory, named by `$BIDMESH_INPUT_FILE` (workflows pass upstream results here). */
  input: jsonValue.optional()
})

export const jsTaskSchema = z.strictObject({
  ...common,
  kind: z.literal('js'),
  module: z.string().min(1).max(4096).optional(),
  source: z.string().max(MAX_INLINE_SOURCE_BYTES, `inline source is limited to ${MAX_INLINE_SOURCE_BYTES} bytes`).optional(),
  export: z.string().min(1).max(128).default('default'),
  input: jsonValue.optional()
}).refine(s => (s.module === undefined) !== (s.source === undefined), {
  message: 'a js task needs exactly one of module or source',
  path: ['module']
})

export const taskSpecSchema = z.discriminatedUnion('kind', [execTaskSchema, jsTaskSchema])

export type ExecTaskSpec = z.output<typeof execTaskSchema>
export type JsTaskSpec = z.output<typeof jsTaskSchema>
/** A validated task spec with every default filled in. */
export type TaskSpec = z.output<typeof taskSpecSchema>
/** What a user may write: defaults may be left out. */
export type TaskSpecInput = z.input<typeof taskSpecSchema>

/** Validates a task spec as written by a user (parsed JSON or YAML). Throws ValidationError. */
export function parseTaskSpec (input: unknown): TaskSpec {
  if (typeof input === 'object' && input !== null && !('kind' in input)) {
    // Name the missing discriminator plainly instead of zod's "invalid union".
    return parseOrThrow(taskSpecSchema, { ...input, kind: undefined }, 'task spec')
  }
  return parseOrThrow(taskSpecSchema, input, 'task spec')
}

/**
 * The resource vector a task asks for, in the units nodes account in: cpu in millicores
 * (so 0.25 cores is 250), everything else as written.
 */
export function taskDemand (spec: Pick<TaskSpec, 'resources'>): Resources {
  const { cpu, ...rest } = spec.resources
  const out: Record<string, number> = { cpu: Math.round(cpu * 1000) }
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && v > 0) out[k] = v
  return out
}

/** True when a node's labels satisfy every constraint of the task. */
export function constraintsHold (constraints: TaskSpec['constraints'], labels: Readonly<Record<string, string>>): boolean {
  for (const [key, want] of Object.entries(constraints)) {
    const have = labels[key]
    if (have === undefined) return false
    if (typeof want === 'string' ? have !== want : !want.includes(have)) return false
  }
  return true
}
