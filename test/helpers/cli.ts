import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { waitFor } from './wait.js'

const run = promisify(execFile)

/** The compiled CLI; `npm test` builds it first (pretest). */
export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js')

export function assertBuilt (): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it for you)`)
}

/** Runs `bidmesh ARGS` to completion and returns its output and exit code. */
export async function bidmesh (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string, stderr: string, code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 })
    return { stdout, stderr, code: 0 }
  } catch (err: any) {
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : 1 }
  }
}

export interface SwarmMemberInfo { index: number, peerId: string, api: string, addrs: string[], pid: number, dataDir: string }

/** Starts `bidmesh swarm` as a user would, and waits for its swarm.json. */
export async function startCliSwarm (nodes: number, dataDir: string, extra: string[] = []): Promise<{ child: ChildProcess, members: SwarmMemberInfo[], output: () => string }> {
  assertBuilt()
  const child = spawn(process.execPath, [CLI, 'swarm', '--nodes', String(nodes), '--base-port', '0', '--data', dataDir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const file = join(dataDir, 'swarm.json')
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`swarm exited early:\n${out}`)
    return existsSync(file)
  }, 'the swarm to start', 60_000, 100)
  return { child, members: JSON.parse(readFileSync(file, 'utf8')) as SwarmMemberInfo[], output: () => out }
}

/** Waits until the first member's `bidmesh status` counts `nodes` alive peers. */
export async function waitForSwarmFormed (members: SwarmMemberInfo[], nodes: number): Promise<void> {
  await waitFor(async () => {
    const r = await bidmesh(['status', '--json', '--api', members[0]!.api])
    return r.code === 0 && JSON.parse(r.stdout).cluster.counts.alive === nodes
  }, 'the swarm to form', 30_000, 200)
}

/** Ends a CLI swarm and every node process it started, whatever state the test left them in. */
export function killCliSwarm (child: ChildProcess | undefined, members: SwarmMemberInfo[] | undefined): void {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL')
  for (const m of members ?? []) if (isAlive(m.pid)) process.kill(m.pid, 'SIGKILL')
}

export function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}
