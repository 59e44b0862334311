import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { WORKFLOWS_TOPIC } from '../gossip/topics.js'

/** What a driver says about one workflow it drives: enough for peers to know who to replace. */
export interface WorkflowAnnouncement {
  id: string
  name: string
  driver: string
  epoch: number
  state: 'running' | 'succeeded' | 'failed' | 'cancelled'
  updatedAt: number
  done: number
  total: number
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/
const ID = /^w-[0-9a-z]{9}[0-9a-f]{16}$/

const announcementSchema = z.strictObject({
  id: z.string().regex(ID),
  name: z.string().min(1).max(128).regex(NAME),
  driver: z.string().min(1).max(128),
  epoch: z.number().int().positive(),
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  updatedAt: z.number().finite(),
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative()
})

/** The most workflows one message names; a driver with more sends several messages (100 stay well under the 64 KiB gossip limit). */
export const MAX_ANNOUNCED = 100

const messageSchema = z.union([
  z.strictObject({ v: z.literal(1), type: z.literal('drive'), workflows: z.array(announcementSchema).max(MAX_ANNOUNCED) }),
  /** Asks the driver of `id` to cancel it: a cancel made at another node. */
  z.strictObject({ v: z.literal(1), type: z.literal('cancel'), id: z.string().regex(ID), reason: z.string().max(256).optional() })
])

export type WorkflowGossipMessage = z.output<typeof messageSchema>

export interface WorkflowGossipHandlers {
  onAnnounce: (a: WorkflowAnnouncement, from: string) => void
  onCancel: (id: string, reason: string | undefined, from: string) => void
}

/** How peers learn which workflows exist and who drives them. */
export interface WorkflowGossip {
  start: (handlers: WorkflowGossipHandlers) => void
  stop: () => void
  announce: (list: WorkflowAnnouncement[]) => void
  requestCancel: (id: string, reason?: string) => void
  /** Messages dropped because they were malformed or claimed another peer's workflows. */
  readonly dropped: number
}

/**
 * The workflow topic over gossipsub. Messages are schema-checked in a topic validator, so a
 * malformed one is rejected (and costs its sender gossipsub score) before it spreads; a driver
 * may only announce itself as the driver.
 */
export class PubsubWorkflowGossip implements WorkflowGossip {
  dropped = 0
  private handlers?: WorkflowGossipHandlers

  constructor (private readonly pubsub: GossipSub) {}

  start (handlers: WorkflowGossipHandlers): void {
    this.handlers = handlers
    this.pubsub.topicValidators.set(WORKFLOWS_TOPIC, (peer, msg) => this.validate(peer, msg))
    this.pubsub.addEventListener('message', this.onMessage)
    this.pubsub.subscribe(WORKFLOWS_TOPIC)
  }

  stop (): void {
    this.pubsub.removeEventListener('message', this.onMessage)
    this.pubsub.topicValidators.delete(WORKFLOWS_TOPIC)
    this.pubsub.unsubscribe(WORKFLOWS_TOPIC)
    this.handlers = undefined
  }

  announce (list: WorkflowAnnouncement[]): void {
    for (let i = 0; i < list.length; i += MAX_ANNOUNCED) this.publish({ v: 1, type: 'drive', workflows: list.slice(i, i + MAX_ANNOUNCED) })
  }

  requestCancel (id: string, reason?: string): void {
    this.publish({ v: 1, type: 'cancel', id, ...(reason !== undefined ? { reason } : {}) })
  }

  private publish (msg: WorkflowGossipMessage): void {
    this.pubsub.publish(WORKFLOWS_TOPIC, new TextEncoder().encode(JSON.stringify(msg))).catch(() => {})
  }

  private decode (msg: Message): { from: string, body: WorkflowGossipMessage } | undefined {
    if (msg.type !== 'signed') return undefined
    let parsed
    try { parsed = messageSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data))) } catch { return undefined }
    if (!parsed.success) return undefined
    const from = msg.from.toString()
    // Only the driver speaks for its workflows: a claim for someone else is a lie or a bug.
    if (parsed.data.type === 'drive' && parsed.data.workflows.some(w => w.driver !== from)) return undefined
    return { from, body: parsed.data }
  }

  private validate (_peer: PeerId, msg: Message): TopicValidatorResult {
    if (this.decode(msg) !== undefined) return TopicValidatorResult.Accept
    this.dropped++
    return TopicValidatorResult.Reject
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    if (evt.detail.topic !== WORKFLOWS_TOPIC) return
    const got = this.decode(evt.detail)
    // The validator has rejected anything else already.
    if (got === undefined || this.handlers === undefined) return
    if (got.body.type === 'drive') for (const w of got.body.workflows) this.handlers.onAnnounce(w, got.from)
    else this.handlers.onCancel(got.body.id, got.body.reason, got.from)
  }
}
