import { Command } from 'commander'
import { registerFrameworkCommand } from './framework-command.js'
import { registerNodeCommand } from './node-command.js'
import { registerStatusCommand } from './status-command.js'
import { registerSwarmCommand } from './swarm-command.js'
import { registerTaskCommands } from './task-commands.js'
import { registerWorkflowCommands } from './workflow-commands.js'

export function buildProgram (): Command {
  const program = new Command('bidmesh')
    .description('a peer-to-peer task scheduler with no master')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
  registerNodeCommand(program)
  registerStatusCommand(program)
  registerSwarmCommand(program)
  registerTaskCommands(program)
  registerFrameworkCommand(program)
  registerWorkflowCommands(program)
  return program
}
