import { isFinal, type TaskStatus } from '../../src/core/task-state.js'
import type { BidmeshNode } from '../../src/node/node.js'
import { waitFor } from './wait.js'

/** A js task body that sleeps `input.ms` and returns `input.value`. */
export const SLEEPER = 'export default async (input, ctx) => { await new Promise(r => setTimeout(r, input.ms ?? 0)); return input.value ?? null }'

export function sleeperSpec (value: unknown, ms: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'sleeper', kind: 'js', source: SLEEPER, input: { value, ms }, resources: { cpu: 1, memMb: 64 }, ...extra }
}

/** Watches every node's executor events: how often each attempt ran, and concurrency over time. */
export class ExecutionLog {
  readonly runs = new Map<string, Array<{ attempt: number, node: string }>>()
  running = 0
  maxRunning = 0
  private readonly offs: Array<() => void> = []

  constructor (nodes: BidmeshNode[]) {
    for (const n of nodes) this.watch(n)
  }

  watch (n: BidmeshNode): void {
    this.offs.push(n.events.on('task:executing', e => {
      const list = this.runs.get(e.task) ?? []
      list.push({ attempt: e.attempt, node: e.node })
      this.runs.set(e.task, list)
      this.running++
      this.maxRunning = Math.max(this.maxRunning, this.running)
    }))
    this.offs.push(n.events.on('task:executed', () => { this.running-- }))
  }

  stop (): void {
    for (const off of this.offs) off()
  }
}

/** Waits until every task is final on its owner, and returns the final statuses. */
export async function waitAllFinal (owners: Array<{ node: BidmeshNode, id: string }>, timeoutMs: number): Promise<TaskStatus[]> {
  const status = (o: { node: BidmeshNode, id: string }): TaskStatus | undefined => o.node.scheduler.tasks.get(o.id)
  await waitFor(() => owners.every(o => { const s = status(o); return s !== undefined && isFinal(s.state) }),
    `${owners.length} tasks to finish (${owners.filter(o => isFinal(status(o)?.state ?? 'pending')).length} done)`, timeoutMs, 25)
  return owners.map(o => status(o)!)
}
