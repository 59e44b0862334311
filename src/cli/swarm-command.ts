import type { Command } from 'commander'
import { join } from 'node:path'
import { intOption } from './options.js'
import { Swarm } from './swarm.js'
import { formatTable } from './table.js'

export function registerSwarmCommand (program: Command): void {
  program.command('swarm')
    .description('start N nodes on this machine as one mesh, for development and tests; Ctrl-C stops them all')
    .option('--nodes <n>', 'how many nodes', intOption(1, 200), 4)
    .option('--base-port <p>', 'API of node i on P+i, libp2p on P+100+i; 0 picks free ports', intOption(0, 65000), 7070)
    .option('--data <dir>', 'where each node keeps its data dir (node-0, node-1, ...)', join('.bidmesh', 'swarm'))
    .option('--cpu <cores>', 'cores each node offers [default: all of this machine]')
    .option('--mem <mib>', 'MiB each node offers [default: all of this machine]')
    .action(async (flags: { nodes: number, basePort: number, data: string, cpu?: string, mem?: string }) => {
      const nodeArgs = [...(flags.cpu !== undefined ? ['--cpu', flags.cpu] : []), ...(flags.mem !== undefined ? ['--mem', flags.mem] : [])]
      const swarm = new Swarm({ nodes: flags.nodes, basePort: flags.basePort, dataDir: flags.data, nodeArgs, log: line => { console.log(line) } })
      let stopping = false
      const shutdown = (): void => {
        if (stopping) return
        stopping = true
        console.log('\nstopping the swarm...')
        swarm.stop().then(() => { console.log('all nodes stopped'); process.exit(0) }, () => { process.exit(1) })
      }
      process.on('SIGINT', shutdown)
      process.on('SIGTERM', shutdown)
      console.log(`starting ${flags.nodes} nodes (data in ${flags.data})...`)
      let members
      try {
        members = await swarm.start()
      } catch (err) {
        await swarm.stop(1_000)
        throw err
      }
      console.log(formatTable(['NODE', 'PEER', 'API', 'LIBP2P', 'PID'], members.map(m => [
        String(m.index), m.peerId, m.api, m.addrs[0] ?? '', String(m.pid)
      ])))
      console.log(`\ntry: node dist/cli/main.js status --api ${members[0]?.api ?? ''}`)
      console.log('Ctrl-C stops every node.')
    })
}
