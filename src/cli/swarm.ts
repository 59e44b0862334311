import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ReadyInfo } from '../node/run-node.js'

export interface SwarmOptions {
  nodes: number
  /** API of node i on basePort + i, libp2p on basePort + 100 + i; 0 picks free ports. */
  basePort: number
  dataDir: string
  /** The CLI script the nodes run. @default this process's script (the running `bidmesh`) */
  cli?: string
  /** Extra flags for every node (e.g. `--cpu 2`). */
  nodeArgs?: string[]
  /** How long to wait for all nodes to be ready. @default 60 s */
  readyTimeoutMs?: number
  log?: (line: string) => void
}

export interface SwarmMember extends ReadyInfo {
  index: number
  dataDir: string
  process: ChildProcess
}

/**
 * A local swarm: N `bidmesh node` child processes on loopback, each with its own data dir,
 * joined into one mesh. Node 0 starts first; the rest bootstrap through it and find each
 * other from its adverts. Children run the same script as this process (compiled JS).
 */
export class Swarm {
  readonly members: SwarmMember[] = []
  private readonly children = new Set<ChildProcess>()
  private stopping = false

  constructor (private readonly opts: SwarmOptions) {}

  async start (): Promise<SwarmMember[]> {
    mkdirSync(this.opts.dataDir, { recursive: true })
    const first = await this.spawnNode(0, [])
    const bootstrap = first.addrs.filter(a => a.includes('/127.0.0.1/'))
    const rest = await Promise.all(Array.from({ length: this.opts.nodes - 1 }, async (_, i) => await this.spawnNode(i + 1, bootstrap)))
    this.members.push(first, ...rest)
    writeFileSync(join(this.opts.dataDir, 'swarm.json'), JSON.stringify(this.members.map(({ process: _p, ...m }) => m), null, 2) + '\n')
    return this.members
  }

  private async spawnNode (index: number, bootstrap: string[]): Promise<SwarmMember> {
    const dataDir = resolve(this.opts.dataDir, `node-${index}`)
    mkdirSync(dataDir, { recursive: true })
    const readyFile = join(dataDir, 'ready.json')
    rmSync(readyFile, { force: true })
    const port = (offset: number): string => this.opts.basePort === 0 ? '0' : String(this.opts.basePort + offset + index)
    const args = [
      ...(this.opts.cli === undefined ? process.execArgv : []), this.opts.cli ?? process.argv[1] ?? '', 'node',
      '--listen', `/ip4/127.0.0.1/tcp/${port(100)}`,
      '--api-port', port(0),
      '--data', dataDir,
      '--ready-file', readyFile,
      '--allow-exec',
      // Lets tasks target one node of a dev swarm: `constraints: { swarm.index: "2" }`.
      '--label', `swarm.index=${index}`,
      ...bootstrap.flatMap(b => ['--bootstrap', b]),
      ...(this.opts.nodeArgs ?? [])
    ]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    const tail: string[] = []
    const keep = (chunk: Buffer): void => { tail.push(chunk.toString()); if (tail.length > 20) tail.shift() }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    child.on('exit', (code, signal) => {
      this.children.delete(child)
      if (!this.stopping) this.opts.log?.(`node ${index} (pid ${child.pid}) exited (${signal ?? `code ${code}`})`)
    })
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000)
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`node ${index} exited before it was ready:\n${tail.join('').trim()}`)
      }
      try {
        const info = JSON.parse(readFileSync(readyFile, 'utf8')) as ReadyInfo
        return { ...info, index, dataDir, process: child }
      } catch {}
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    throw new Error(`node ${index} was not ready within ${this.opts.readyTimeoutMs ?? 60_000} ms:\n${tail.join('').trim()}`)
  }

  /** SIGTERM to every node, SIGKILL to any still there after `graceMs`; resolves when all have exited. */
  async stop (graceMs = 5_000): Promise<void> {
    this.stopping = true
    const alive = [...this.children]
    await Promise.all(alive.map(async child => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    }))
  }
}
