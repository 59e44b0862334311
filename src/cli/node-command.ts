import type { Command } from 'commander'
import { ValidationError } from '../core/errors.js'
import { configFromEnv, mergeConfig, parseNodeConfig, readConfigFile, resolveDataDir, type NodeConfig } from '../node/config.js'
import { startNodeWithApi, writeReadyFile } from '../node/run-node.js'
import { collect, intOption, keyValue, numberOption, resourceAmount } from './options.js'

/** Config fields and the flag that sets each, so errors name what the user typed. */
const FLAG_FOR_FIELD: Record<string, string> = {
  listen: '--listen',
  bootstrap: '--bootstrap',
  dataDir: '--data',
  'api.host': '--api-host',
  'api.port': '--api-port',
  'api.token': '--api-token',
  'capacity.cpu': '--cpu',
  'capacity.memMb': '--mem',
  'capacity.gpu': '--gpu',
  'capacity.custom': '--resource',
  labels: '--label',
  allowExec: '--allow-exec'
}

interface NodeFlags {
  listen?: string[]
  bootstrap?: string[]
  data?: string
  apiHost?: string
  apiPort?: number
  apiToken?: string
  cpu?: number
  mem?: number
  gpu?: number
  resource?: Record<string, number>
  label?: Record<string, string>
  allowExec?: boolean
  config?: string
  readyFile?: string
}

/** Builds the node config from file, environment and flags, in rising precedence. */
export function nodeConfigFrom (flags: NodeFlags, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const fromFile = flags.config !== undefined ? readConfigFile(flags.config) : {}
  const fromFlags = {
    listen: flags.listen,
    bootstrap: flags.bootstrap,
    dataDir: flags.data,
    api: { host: flags.apiHost, port: flags.apiPort, token: flags.apiToken },
    capacity: { cpu: flags.cpu, memMb: flags.mem, gpu: flags.gpu, custom: flags.resource },
    labels: flags.label,
    allowExec: flags.allowExec
  }
  try {
    return resolveDataDir(parseNodeConfig(mergeConfig(mergeConfig(fromFile, configFromEnv(env)), fromFlags)))
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    const issues = err.issues.map(i => {
      const flag = Object.entries(FLAG_FOR_FIELD).find(([field]) => i.path === field || i.path.startsWith(field + '.') || i.path.startsWith(field + '['))?.[1]
      return { path: flag !== undefined ? `${flag} (${i.path})` : i.path, message: i.message }
    })
    throw new ValidationError('node config', issues)
  }
}

export function registerNodeCommand (program: Command): void {
  program.command('node')
    .description('start a bidmesh node: it joins the mesh, gossips its resources and serves the HTTP API')
    .option('--listen <multiaddr>', 'address to listen on (repeatable) [default /ip4/0.0.0.0/tcp/7000]', collect)
    .option('--bootstrap <multiaddr>', 'a peer to join through, with /p2p/<id> (repeatable)', collect)
    .option('--data <dir>', 'data dir for the peer key and datastore [default ~/.bidmesh/node]')
    .option('--api-host <host>', 'API listen host [default 127.0.0.1]')
    .option('--api-port <n>', 'API port; 0 picks a free one [default 7070]', intOption(0, 65535))
    .option('--api-token <token>', 'bearer token the API requires (needed off loopback)')
    .option('--cpu <cores>', 'cores to offer [default: all of this machine]', numberOption(0, true))
    .option('--mem <mib>', 'memory to offer in MiB [default: all of this machine]', numberOption(0))
    .option('--gpu <n>', 'GPUs to offer [default 0]', intOption(0, 1024))
    .option('--resource <name=amount>', 'a custom resource to offer (repeatable)', resourceAmount)
    .option('--label <key=value>', 'a label for task constraints (repeatable)', keyValue)
    .option('--allow-exec', 'run exec tasks (arbitrary commands) on this node')
    .option('--config <file>', 'a JSON or YAML config file')
    .option('--ready-file <file>', 'write {peerId, addrs, api} as JSON here once ready')
    .action(async (flags: NodeFlags) => {
      const config = nodeConfigFrom(flags)
      const running = await startNodeWithApi(config)
      const { node } = running
      const info = { peerId: node.peerId, addrs: node.addrs(), api: node.apiUrl ?? '', pid: process.pid }
      console.log(`bidmesh node ${info.peerId}`)
      for (const a of info.addrs) console.log(`  listening on ${a}`)
      console.log(`  API ${info.api}`)
      if (flags.readyFile !== undefined) await writeReadyFile(flags.readyFile, info)

      let stopping = false
      const shutdown = (signal: string): void => {
        if (stopping) {
          console.error(`${signal} again: exiting now`)
          process.exit(130)
        }
        stopping = true
        console.log(`${signal}: stopping`)
        running.stop().then(() => { process.exit(0) }, err => {
          console.error(`error while stopping: ${err.message}`)
          process.exit(1)
        })
      }
      process.on('SIGINT', () => { shutdown('SIGINT') })
      process.on('SIGTERM', () => { shutdown('SIGTERM') })
    })
}
