import { createHash } from 'node:crypto'
import { makeId } from '../core/ids.js'

/**
 * The task id of one attempt of one workflow instance, derived rather than random: a driver that
 * takes over finds a task its predecessor handed out just before dying (before the save that
 * would have recorded its id) by computing the same id, instead of running it a second time.
 * The time part is the workflow's, so a workflow's tasks list together.
 */
export function workflowTaskId (workflowId: string, key: string, attempt: number): string {
  const digest = createHash('sha256').update(`${workflowId}\n${key}\n${attempt}`).digest()
  const time = Number.parseInt(workflowId.slice(2, 11), 36)
  return makeId('t', Number.isFinite(time) ? time : 0, digest)
}
