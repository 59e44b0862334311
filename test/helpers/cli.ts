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

export function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}
