import type { Command } from 'commander'
import { formatResources } from '../core/resources.js'
import { ApiClient, resolveApi } from './client.js'
import { formatTable, shortPeer } from './table.js'

export function registerStatusCommand (program: Command): void {
  program.command('status')
    .description('show this node and every peer it knows, with status and resources')
    .option('--api <url>', 'the node API [default $BIDMESH_API or http://127.0.0.1:7070]')
    .option('--json', 'print JSON instead of a table')
    .action(async (flags: { api?: string, json?: boolean }) => {
      const client = new ApiClient(resolveApi(flags.api))
      const [node, cluster] = await Promise.all([client.get('/v1/node'), client.get('/v1/cluster')])
      if (flags.json === true) {
        console.log(JSON.stringify({ node, cluster }, null, 2))
        return
      }
      console.log(`node ${node.peerId}  api ${node.api}`)
      console.log(`  capacity ${formatResources(node.capacity)}   free ${formatResources(node.free)}`)
      console.log(`  connections ${node.mesh.connections}, gossip mesh ${node.mesh.meshPeers}, DHT ${node.mesh.dhtPeers}`)
      const c = cluster.counts
      console.log(`\ncluster: ${c.alive} alive, ${c.suspect} suspect, ${c.dead} dead\n`)
      const rows = (cluster.peers as any[]).map(p => [
        shortPeer(p.peerId) + (p.self === true ? ' *' : ''),
        p.status,
        formatResources(p.capacity),
        formatResources(p.free),
        String(p.running),
        Object.entries(p.labels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(','),
        `${(p.lastSeenMsAgo / 1000).toFixed(1)}s`,
        p.api
      ])
      console.log(formatTable(['PEER', 'STATUS', 'CAPACITY', 'FREE', 'RUNNING', 'LABELS', 'SEEN', 'API'], rows))
    })
}
