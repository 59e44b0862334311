import { EventEmitter } from 'node:events'
import type { NodeAdvert } from '../core/advert.js'
import type { TaskStatus } from '../core/task-state.js'
import type { StatusChange } from '../gossip/cluster-view.js'

/** The events a node emits; the API's event stream, the dashboard and tests observe these. */
export interface NodeEvents {
  'node:started': [{ peerId: string, addrs: string[], api: string }]
  'node:stopped': []
  /** A peer's status changed in this node's view (`alive`, `suspect`, `dead`). */
  'peer:status': [StatusChange]
  'peer:advert': [NodeAdvert]
  /** A task was accepted here. The task events below fire on the task's owner. */
  'task:submitted': [TaskStatus]
  /** An auction placed the task on a node. */
  'task:placed': [TaskStatus]
  /** The node running the task started it. */
  'task:started': [TaskStatus]
  /** An attempt failed and the task waits for its retry. */
  'task:retry': [TaskStatus]
  /** The node running the task died or stopped; the task is being placed again. */
  'task:recovered': [TaskStatus]
  /** This node started running an attempt (fires on the executor). */
  'task:executing': [{ task: string, attempt: number, node: string }]
  /** An attempt this node ran has ended (fires on the executor). */
  'task:executed': [{ task: string, attempt: number, node: string, outcome: string }]
  /** The task reached `succeeded`, `failed` or `cancelled`. */
  'task:finished': [TaskStatus]
}

/** An EventEmitter whose event names and payloads are checked by the compiler. */
export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly emitter = new EventEmitter({ captureRejections: false })

  constructor () {
    // Many API clients may follow events at once.
    this.emitter.setMaxListeners(1000)
  }

  on<K extends keyof E & string> (event: K, listener: (...args: E[K]) => void): () => void {
    this.emitter.on(event, listener as (...args: unknown[]) => void)
    return () => { this.emitter.off(event, listener as (...args: unknown[]) => void) }
  }

  emit<K extends keyof E & string> (event: K, ...args: E[K]): void {
    this.emitter.emit(event, ...args)
  }
}
