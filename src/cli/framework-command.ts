import type { Command } from 'commander'
import { formatResources } from '../core/resources.js'
import type { FrameworkInfo } from '../node/task-service.js'
import { numberOption } from './options.js'
import { formatTable } from './table.js'
import { API_FLAG, API_HELP, badInputFromApi, clientFor, defaultIo, type CliIo } from './task-commands.js'

/**
 * `bidmesh framework list | set NAME --weight W`. Frameworks share the mesh by weighted DRF: a
 * framework of weight 2 is entitled to twice the dominant share of one of weight 1.
 */
export function registerFrameworkCommand (program: Command, io: CliIo = defaultIo()): void {
  const framework = program.command('framework')
    .description('frameworks share the mesh by weighted dominant resource fairness: list them or set a weight')

  framework.command('list')
    .description('every framework with its weight, dominant share, running and pending tasks and usage')
    .option('--json', 'print JSON instead of a table')
    .option(API_FLAG, API_HELP)
    .action(async (flags: { json?: boolean, api?: string }) => {
      const { frameworks } = await clientFor(flags, io).get<{ frameworks: FrameworkInfo[] }>('/v1/frameworks')
      io.out(flags.json === true ? JSON.stringify(frameworks, null, 2) : formatFrameworkTable(frameworks))
    })

  framework.command('set')
    .description("set a framework's weight; every node uses it within seconds")
    .argument('<name>', 'the framework')
    .requiredOption('--weight <w>', 'a positive number: 2 is entitled to twice the share of 1', numberOption(0, true))
    .option('--json', 'print JSON')
    .option(API_FLAG, API_HELP)
    .action(async (name: string, flags: { weight: number, json?: boolean, api?: string }) => {
      const client = clientFor(flags, io)
      const entry = await badInputFromApi(async () => await client.request<FrameworkInfo>('PUT', `/v1/frameworks/${encodeURIComponent(name)}`, { weight: flags.weight }))
      io.out(flags.json === true ? JSON.stringify(entry, null, 2) : `framework ${entry.name}: weight ${entry.weight}, share ${formatShare(entry.dominantShare)}`)
    })
}

export function formatFrameworkTable (frameworks: FrameworkInfo[]): string {
  if (frameworks.length === 0) return 'no frameworks'
  return formatTable(['NAME', 'WEIGHT', 'SHARE', 'RUNNING', 'PENDING', 'USAGE'], frameworks.map(f => [
    f.name, String(f.weight), formatShare(f.dominantShare), String(f.running), String(f.pending), formatResources(f.usage) || '-'
  ]))
}

/** The weighted dominant share as a percentage; it can exceed 100% for a weight below 1. */
function formatShare (share: number): string {
  return `${(share * 100).toFixed(1)}%`
}
