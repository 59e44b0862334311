import { readFileSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ValidationError } from '../core/errors.js'
import { parseOrThrow } from '../core/schema.js'

/**
 * Everything a node can be configured with. Sources, lowest precedence first: defaults, the
 * config file (JSON or YAML), `BIDMESH_*` environment variables, command-line flags.
 */
export const nodeConfigSchema = z.strictObject({
  /** Multiaddrs to listen on. @default ['/ip4/0.0.0.0/tcp/7000'] */
  listen: z.array(z.string().min(1)).min(1).default(['/ip4/0.0.0.0/tcp/7000']),
  /** Multiaddrs (with /p2p/<id>) of peers to join through. Empty starts a new mesh. */
  bootstrap: z.array(z.string().min(1)).default([]),
  /** Holds the peer key and the datastore. @default ~/.bidmesh/node */
  dataDir: z.string().min(1).default(join(os.homedir(), '.bidmesh', 'node')),
  api: z.strictObject({
    /** @default '127.0.0.1' */
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. @default 7070 */
    port: z.number().int().min(0).max(65535).default(7070),
    /** Required when `host` is not a loopback address; every request must carry it as a bearer token. */
    token: z.string().min(16, 'must be at least 16 characters').optional()
  }).default({ host: '127.0.0.1', port: 7070 }),
  capacity: z.strictObject({
    /** Cores. @default the machine's core count */
    cpu: z.number().finite().positive().max(100_000).default(os.availableParallelism()),
    /** MiB. @default the machine's total memory */
    memMb: z.number().finite().nonnegative().default(Math.floor(os.totalmem() / (1024 * 1024))),
    /** @default 0 */
    gpu: z.number().int().nonnegative().max(1024).default(0),
    /** Named custom amounts, e.g. `{ disk: 100, 'license:matlab': 2 }`. */
    custom: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9._:-]*$/, 'letters, digits and . _ : -'), z.number().finite().nonnegative()).default({})
  }).default(() => ({ cpu: os.availableParallelism(), memMb: Math.floor(os.totalmem() / (1024 * 1024)), gpu: 0, custom: {} })),
  /** key=value labels that task constraints match on. */
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  /** Whether this node runs `exec` tasks (arbitrary commands). @default false */
  allowExec: z.boolean().default(false),
  gossip: z.strictObject({
    /** How often a node re-sends its advert when nothing changed. @default 1000 */
    advertIntervalMs: z.number().int().min(50).max(60_000).default(1000),
    /** A peer with no advert for this long is `suspect` and gets pinged. @default 1500 */
    suspectAfterMs: z.number().int().min(100).max(600_000).default(1500),
    /** A suspect peer that also fails a ping, or is silent this long, is `dead`. @default 2500 */
    deadAfterMs: z.number().int().min(200).max(3_600_000).default(2500),
    /** How many peers a node keeps connections to (it dials peers it learns of up to this). @default 200 */
    maxPeers: z.number().int().min(1).max(10_000).default(200),
    /** Extra IPs exempt from gossipsub's same-IP penalty (loopback always is). For test/dev setups only. */
    trustedIps: z.array(z.string()).default([])
  }).default({ advertIntervalMs: 1000, suspectAfterMs: 1500, deadAfterMs: 2500, maxPeers: 200, trustedIps: [] }),
  /** The signed DHT record store (tasks, checkpoints, results). */
  store: z.strictObject({
    /** Largest encoded record a node writes or accepts; bigger writes fail where they are made. @default 262144 (256 KiB) */
    maxRecordBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(256 * 1024),
    /** How often a node re-sends the records it wrote (kad-dht never republishes values). @default 60000 */
    republishIntervalMs: z.number().int().min(100).max(86_400_000).default(60_000)
  }).default({ maxRecordBytes: 256 * 1024, republishIntervalMs: 60_000 })
}).superRefine((c, ctx) => {
  if (c.gossip.deadAfterMs <= c.gossip.suspectAfterMs) {
    ctx.addIssue({ code: 'custom', path: ['gossip', 'deadAfterMs'], message: `must be greater than gossip.suspectAfterMs (${c.gossip.suspectAfterMs})` })
  }
  if (!isLoopbackHost(c.api.host) && c.api.token === undefined) {
    ctx.addIssue({ code: 'custom', path: ['api', 'token'], message: `is required when the API listens on a non-loopback address (${c.api.host}); pass --api-token` })
  }
})

export type NodeConfig = z.output<typeof nodeConfigSchema>
export type NodeConfigInput = z.input<typeof nodeConfigSchema>

export function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Validates a config object (defaults filled in). Throws ValidationError naming each bad field. */
export function parseNodeConfig (input: unknown): NodeConfig {
  return parseOrThrow(nodeConfigSchema, input, 'node config')
}

/** Reads a JSON or YAML config file into a plain object (not yet validated). */
export function readConfigFile (file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err: any) {
    throw new ValidationError('config file', [{ path: 'config', message: `cannot read ${file}: ${err.code ?? err.message}` }])
  }
  let value: unknown
  try {
    value = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text)
  } catch (err: any) {
    throw new ValidationError('config file', [{ path: 'config', message: `${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${err.message}` }])
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('config file', [{ path: 'config', message: `${file} must hold an object of settings` }])
  }
  return value as Record<string, unknown>
}

/** The `BIDMESH_*` environment variables a node reads, as a partial config. */
export function configFromEnv (env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, any> = {}
  const list = (v: string): string[] => v.split(',').map(s => s.trim()).filter(s => s !== '')
  if (env.BIDMESH_LISTEN !== undefined) out.listen = list(env.BIDMESH_LISTEN)
  if (env.BIDMESH_BOOTSTRAP !== undefined) out.bootstrap = list(env.BIDMESH_BOOTSTRAP)
  if (env.BIDMESH_DATA !== undefined) out.dataDir = env.BIDMESH_DATA
  if (env.BIDMESH_API_TOKEN !== undefined) out.api = { token: env.BIDMESH_API_TOKEN }
  if (env.BIDMESH_ALLOW_EXEC !== undefined) out.allowExec = ['1', 'true', 'yes'].includes(env.BIDMESH_ALLOW_EXEC.toLowerCase())
  return out
}

/** Deep-merges plain objects; arrays and scalars from `b` replace those of `a`. */
export function mergeConfig (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue
    const prev = out[k]
    out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeConfig(prev, v) : v
  }
  return out
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Resolves the data dir against the working directory, so child processes agree on it. */
export function resolveDataDir (config: NodeConfig): NodeConfig {
  return { ...config, dataDir: resolve(config.dataDir) }
}
