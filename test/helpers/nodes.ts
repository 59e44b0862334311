import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseNodeConfig, type NodeConfigInput } from '../../src/node/config.js'
import { BidmeshNode } from '../../src/node/node.js'

export interface TestSwarm {
  nodes: BidmeshNode[]
  dirs: string[]
  root: string
  /** Starts one more node joined to the first, on its own data dir (or a given one, for restarts). */
  add: (overrides: Partial<NodeConfigInput>, dataDir?: string) => Promise<BidmeshNode>
  stop: () => Promise<void>
}

/** Starts `n` real libp2p nodes on 127.0.0.1 in this process, each with its own data dir. */
export async function startSwarm (n: number, overrides: (i: number) => Partial<NodeConfigInput> = () => ({})): Promise<TestSwarm> {
  const root = mkdtempSync(join(tmpdir(), 'bidmesh-test-'))
  const nodes: BidmeshNode[] = []
  const dirs: string[] = []
  const make = async (o: Partial<NodeConfigInput>, dataDir?: string): Promise<BidmeshNode> => {
    const dir = dataDir ?? join(root, `node-${dirs.length}`)
    if (dataDir === undefined) dirs.push(dir)
    const first = nodes[0]
    const config = parseNodeConfig({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: first !== undefined ? first.addrs() : [],
      dataDir: dir,
      api: { port: 0 },
      capacity: { cpu: 4, memMb: 8192 },
      ...o
    })
    const node = new BidmeshNode(config)
    await node.start()
    nodes.push(node)
    return node
  }
  await make(overrides(0))
  // Start the rest in small batches: 100 simultaneous dials in one process time out (LIBP2P-NOTES).
  for (let i = 1; i < n; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, n - i) }, async (_, j) => await make(overrides(i + j))))
  }
  return {
    nodes,
    dirs,
    root,
    add: make,
    stop: async () => {
      await Promise.allSettled(nodes.map(async n => { await n.stop() }))
      rmSync(root, { recursive: true, force: true })
    }
  }
}
