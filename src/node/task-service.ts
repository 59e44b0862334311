import type { TaskStatus } from '../core/task-state.js'

/** One line of a task's log, as the exec runners record it. */
export interface TaskLogLine {
  seq: number
  ts: number
  stream: 'out' | 'err' | 'sys'
  text: string
}

export interface LogsPage {
  lines: TaskLogLine[]
  /** True once the task's attempt ended: no more lines will come. */
  ended: boolean
  /** The peer whose log this is. */
  node?: string
}

export interface FrameworkInfo {
  name: string
  weight: number
  /** Mesh-wide usage (cpu in millicores). */
  usage: Record<string, number>
  /** Weighted dominant share: max over resources of usage / total capacity, divided by weight. */
  dominantShare: number
  running: number
  pending: number
}

/** What a caller other than a user (a workflow driver) adds to a submission. */
export interface SubmitOptions {
  /**
   * The task's id, when the caller derives it (a workflow names each instance's attempt, so a
   * driver taking over can find a task handed out just before its predecessor died). A submit
   * with the id of a task this node already owns returns that task.
   */
  id?: string
  /** Peers not to place this task on (where an earlier attempt failed). */
  avoid?: string[]
  /** The workflow instance this task runs for; shown in listings. */
  workflow?: { id: string, key: string, attempt: number }
}

/**
 * What the HTTP API and CLI need from a node's scheduler. Any node answers about any task: a
 * task this node does not hold is looked up on its peers.
 */
export interface TaskService {
  /** Validates the spec (ValidationError naming the field), gives it an id, queues it for auction. */
  submit: (spec: unknown, opts?: SubmitOptions) => TaskStatus
  /** The task's status, from this node or a peer; undefined when nobody knows it. */
  get: (id: string, signal?: AbortSignal) => Promise<TaskStatus | undefined>
  /** Tasks this node submitted or runs, newest first; `all` also asks every alive peer. */
  list: (opts: { all?: boolean, limit?: number, signal?: AbortSignal }) => Promise<TaskStatus[]>
  /** Cancels a task wherever it is (kills its process); NotFoundError when nobody knows it. */
  cancel: (id: string, signal?: AbortSignal) => Promise<TaskStatus>
  /** Log lines after `after` (a line seq), at most `limit`. */
  logs: (id: string, opts: { after?: number, limit?: number, signal?: AbortSignal }) => Promise<LogsPage>
  frameworks: () => FrameworkInfo[]
  /** Sets a framework's weight; every node uses it within seconds. ValidationError for a bad weight. */
  setWeight: (framework: string, weight: number) => void
}
