import type { BidmeshNode } from '../../src/node/node.js'
import type { WorkflowStatus } from '../../src/workflow/index.js'
import { waitFor } from '../helpers/wait.js'

/** Small js tasks share these defaults: a quarter core, so that a 3-node swarm runs 48 at once. */
export const JS_DEFAULTS = { kind: 'js', resources: { cpu: 0.25, memMb: 32 } }

/** Waits until the workflow is final as seen from `node` (its driver or any other), and returns that status. */
export async function waitWorkflowFinal (node: BidmeshNode, id: string, timeoutMs = 60_000): Promise<WorkflowStatus> {
  let last: WorkflowStatus | undefined
  await waitFor(async () => {
    last = await node.workflows.get(id) ?? last
    return last !== undefined && last.state !== 'running'
  }, `workflow ${id} to end (last seen: ${last?.text ?? 'nothing'})`, timeoutMs, 50)
  return last!
}

/**
 * A js task body that records each run as a file `<dir>/<tag><index>.<random>` (index for a
 * fan-out instance) and returns `input.value` (or the tag) after `input.ms`.
 */
export const MARKING = `export default async (input) => {
  const fs = await import('node:fs')
  fs.writeFileSync(input.dir + '/' + input.tag + (input.index ?? '') + '.' + Math.random().toString(36).slice(2), String(Date.now()))
  await new Promise(r => setTimeout(r, input.ms ?? 0))
  return input.value ?? input.tag
}`
