import type { GossipSub, Message, SubscriptionChangeData } from '@libp2p/gossipsub'
import { z } from 'zod'
import { WEIGHTS_TOPIC } from './topics.js'

const weightsSchema = z.strictObject({
  v: z.literal(1),
  weights: z.array(z.strictObject({
    framework: z.string().min(1).max(64),
    weight: z.number().finite().positive().max(1e6),
    /** When the weight was set (the setter's clock); the newest setting wins on every node. */
    stamp: z.number().int().nonnegative()
  })).max(1000)
})

export interface WeightsGossipInit {
  pubsub: GossipSub
  /** Applies one weight heard from the mesh; returns true when it was news. */
  apply: (framework: string, weight: number, stamp: number) => boolean
  /** Every weight this node knows, to share with peers that join. */
  known: () => Array<{ framework: string, weight: number, stamp: number }>
}

/**
 * Framework weights over gossipsub: a change is published at once, and the whole table again
 * when a peer joins, so newcomers learn weights set before they came.
 */
export class WeightsGossip {
  dropped = 0
  private debounce?: ReturnType<typeof setTimeout>

  constructor (private readonly init: WeightsGossipInit) {}

  start (): void {
    this.init.pubsub.addEventListener('message', this.onMessage)
    this.init.pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.init.pubsub.subscribe(WEIGHTS_TOPIC)
  }

  stop (): void {
    clearTimeout(this.debounce)
    this.init.pubsub.removeEventListener('message', this.onMessage)
    this.init.pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    this.init.pubsub.unsubscribe(WEIGHTS_TOPIC)
  }

  publish (weights: Array<{ framework: string, weight: number, stamp: number }>): void {
    if (weights.length === 0) return
    const data = new TextEncoder().encode(JSON.stringify({ v: 1, weights }))
    this.init.pubsub.publish(WEIGHTS_TOPIC, data).catch(() => {})
  }

  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (!evt.detail.subscriptions.some(s => s.subscribe && s.topic === WEIGHTS_TOPIC)) return
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => { this.publish(this.init.known()) }, 100)
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    if (evt.detail.topic !== WEIGHTS_TOPIC) return
    let parsed
    try {
      parsed = weightsSchema.safeParse(JSON.parse(new TextDecoder().decode(evt.detail.data)))
    } catch {
      parsed = undefined
    }
    if (parsed?.success !== true) { this.dropped++; return }
    for (const w of parsed.data.weights) this.init.apply(w.framework, w.weight, w.stamp)
  }
}
