import { writeFile, rename } from 'node:fs/promises'
import { ApiServer } from '../api/server.js'
import type { NodeConfig } from './config.js'
import { BidmeshNode } from './node.js'

export interface RunningNode {
  node: BidmeshNode
  api: ApiServer
  stop: () => Promise<void>
}

/** What `--ready-file` receives once the node and its API are up. */
export interface ReadyInfo {
  peerId: string
  addrs: string[]
  api: string
  pid: number
}

/** Starts a node and its HTTP API; `stop()` stops both and leaves nothing running. */
export async function startNodeWithApi (config: NodeConfig): Promise<RunningNode> {
  const node = new BidmeshNode(config)
  await node.start()
  const api = new ApiServer(node, { host: config.api.host, port: config.api.port, ...(config.api.token !== undefined ? { token: config.api.token } : {}) })
  try {
    node.apiUrl = await api.start()
  } catch (err: any) {
    await node.stop()
    throw err.code === 'EADDRINUSE'
      ? new Error(`the API port ${config.api.port} on ${config.api.host} is in use; pick another with --api-port (0 picks a free one)`)
      : err
  }
  node.gossip.advertiseSoon()
  return {
    node,
    api,
    stop: async () => {
      await api.stop()
      await node.stop()
    }
  }
}

export async function writeReadyFile (file: string, info: ReadyInfo): Promise<void> {
  // Write then rename: whoever polls for the file never reads half of it.
  await writeFile(`${file}.tmp`, JSON.stringify(info, null, 2) + '\n')
  await rename(`${file}.tmp`, file)
}
