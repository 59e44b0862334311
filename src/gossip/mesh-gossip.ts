import { TopicValidatorResult, type GossipSub, type Message, type SubscriptionChangeData } from '@libp2p/gossipsub'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { ADVERT_VERSION, nodeAdvertSchema, type Heartbeat, type NodeAdvert } from '../core/advert.js'
import { decodeAdvert, encodeAdvert, type AdvertDropReason } from './advert-codec.js'
import type { ClusterView, StatusChange } from './cluster-view.js'
import { ADVERT_TOPIC } from './topics.js'

/** The parts of an advert the node fills in; the gossip layer adds version, peer, seq and time. */
export type AdvertBody = Omit<NodeAdvert, 'v' | 'peer' | 'seq' | 'ts' | 'addrs'>

export interface MeshGossipInit {
  advertIntervalMs: number
  suspectAfterMs: number
  /** How many peers to keep connections to; adverts from others make the node dial them. */
  maxPeers: number
  /** Changes within this window go out as one advert, so a busy node sends at most one advert per window. @default 50 */
  debounceMs?: number
  /** An unchanged advert is re-sent in full every this many beats (heartbeats in between). @default 5 */
  fullEvery?: number
  /** How long a ping or redial of a suspect peer may take before it counts as failed. @default 750 */
  probeTimeoutMs?: number
  /** The node's current state, read at every publish. */
  body: () => AdvertBody
  onStatusChange?: (change: StatusChange) => void
  onAdvert?: (advert: NodeAdvert) => void
  /**
   * Asks a peer directly for its current advert (over an authenticated stream). Used when a
   * heartbeat comes from a peer whose full advert we never got, e.g. right after joining.
   */
  fetchAdvert?: (peer: string) => Promise<unknown>
  now?: () => number
}

export interface GossipCounters {
  published: number
  heartbeats: number
  bytesPublished: number
  received: number
  bytesReceived: number
  stale: number
  dropped: Record<AdvertDropReason, number>
}

type MeshLibp2p = Libp2p<{ pubsub: GossipSub, ping: Ping }>

/**
 * Resource adverts over gossipsub plus the failure detector that keeps the cluster view honest.
 * Lifecycle is start/stop; stop clears every timer it set.
 */
export class MeshGossip {
  readonly counters: GossipCounters = { published: 0, heartbeats: 0, bytesPublished: 0, received: 0, bytesReceived: 0, stale: 0, dropped: { oversize: 0, malformed: 0, forged: 0 } }
  private seq = 0
  /** The body of the last full advert sent, to tell a change from a beat. */
  private lastBody = ''
  private beatsSinceFull = 0
  private forceFull = true
  private periodic?: ReturnType<typeof setInterval>
  private ticker?: ReturnType<typeof setInterval>
  private debounce?: ReturnType<typeof setTimeout>
  private readonly probing = new Set<string>()
  private readonly dialing = new Set<string>()
  private readonly pulling = new Set<string>()
  private readonly dialTimers = new Set<ReturnType<typeof setTimeout>>()
  /** Messages decoded by the topic validator, so the message handler does not decode twice. */
  private readonly decoded = new WeakMap<Uint8Array, NodeAdvert | Heartbeat>()
  private readonly shutdown = new AbortController()
  private readonly now: () => number
  private readonly self: string

  constructor (private readonly libp2p: MeshLibp2p, private readonly view: ClusterView, private readonly init: MeshGossipInit) {
    this.now = init.now ?? Date.now
    this.self = libp2p.peerId.toString()
  }

  start (): void {
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(ADVERT_TOPIC, (peer, msg) => this.validate(peer, msg))
    pubsub.addEventListener('message', this.onMessage)
    pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.subscribe(ADVERT_TOPIC)
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.periodic = setInterval(() => { this.publish(false) }, this.init.advertIntervalMs)
    this.ticker = setInterval(() => { this.tick() }, Math.max(50, Math.min(250, Math.floor(this.init.suspectAfterMs / 4))))
    this.publish(true)
  }

  stop (): void {
    this.shutdown.abort()
    clearInterval(this.periodic)
    clearInterval(this.ticker)
    clearTimeout(this.debounce)
    for (const t of this.dialTimers) clearTimeout(t)
    this.dialTimers.clear()
    const pubsub = this.libp2p.services.pubsub
    pubsub.removeEventListener('message', this.onMessage)
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    pubsub.topicValidators.delete(ADVERT_TOPIC)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  /**
   * Sends the full advert soon: the node's state changed, or a peer appeared that lacks it.
   * Changes close together go out as one message.
   */
  advertiseSoon (): void {
    this.forceFull = true
    if (this.debounce !== undefined || this.shutdown.signal.aborted) return
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      this.publish(true)
    }, this.init.debounceMs ?? 50)
  }

  /**
   * Publishes this node's state: the full advert when it changed (or `full`, or a refresh is
   * due), else a heartbeat.
   */
  publish (full: boolean): void {
    if (this.shutdown.signal.aborted) return
    // Seq follows the wall clock, so messages after a restart are newer than those before it.
    this.seq = Math.max(this.seq + 1, this.now())
    const addrs = this.libp2p.getMultiaddrs().slice(0, 16).map(a => a.toString())
    const body = { addrs, ...this.init.body() }
    const bodyText = JSON.stringify(body)
    const sendFull = full || this.forceFull || bodyText !== this.lastBody || this.beatsSinceFull + 1 >= (this.init.fullEvery ?? 5)
    let data: Uint8Array
    if (sendFull) {
      const advert: NodeAdvert = { v: ADVERT_VERSION, peer: this.self, seq: this.seq, ts: this.now(), ...body }
      data = encodeAdvert(advert)
      this.view.onAdvert(advert, this.now())
      this.lastBody = bodyText
      this.beatsSinceFull = 0
      this.forceFull = false
      this.counters.published++
    } else {
      data = encodeAdvert({ v: ADVERT_VERSION, peer: this.self, seq: this.seq, hb: 1 })
      this.view.onHeartbeat(this.self, this.seq, this.now())
      this.beatsSinceFull++
      this.counters.heartbeats++
    }
    this.counters.bytesPublished += data.byteLength
    this.libp2p.services.pubsub.publish(ADVERT_TOPIC, data).catch(() => {
      // No mesh peer yet (a lone node) or shutting down: the next period tries again.
    })
  }

  private validate (peer: PeerId, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') {
      this.counters.dropped.forged++
      return TopicValidatorResult.Reject
    }
    const result = decodeAdvert(msg.data, msg.from.toString())
    if (!result.ok) {
      this.counters.dropped[result.reason]++
      return TopicValidatorResult.Reject
    }
    this.decoded.set(msg.data, 'advert' in result ? result.advert : result.heartbeat)
    return TopicValidatorResult.Accept
  }

  /** A peer that just joined the topic has no advert of ours yet: send one now rather than at the next period. */
  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    if (evt.detail.subscriptions.some(s => s.subscribe && s.topic === ADVERT_TOPIC)) this.advertiseSoon()
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== ADVERT_TOPIC) return
    const decoded = this.decoded.get(msg.data)
    if (decoded === undefined || decoded.peer === this.self) return
    this.counters.received++
    this.counters.bytesReceived += msg.data.byteLength
    if ('hb' in decoded) {
      const change = this.view.onHeartbeat(decoded.peer, decoded.seq, this.now())
      if (change === 'unknown') this.onUnknownBeat(decoded.peer)
      else if (change === 'stale') this.counters.stale++
      else if (change !== undefined) this.init.onStatusChange?.(change)
      return
    }
    const advert = decoded
    const change = this.view.onAdvert(advert, this.now())
    if (change === 'stale') { this.counters.stale++; return }
    if (change !== undefined) this.init.onStatusChange?.(change)
    // A peer we had not seen (or had buried) may not have seen us either.
    if (change !== undefined && change.from !== 'suspect') this.advertiseSoon()
    this.init.onAdvert?.(advert)
    this.maybeDial(advert)
  }

  /**
   * A heartbeat from a peer whose advert we lack (we just joined, or missed it). Beats carry no
   * addresses, so: send our own full advert, which makes a peer that has not seen us answer with
   * its own; and if we are connected to it anyway, ask it directly.
   */
  private onUnknownBeat (peer: string): void {
    this.advertiseSoon()
    if (this.isConnected(peer)) this.pullAdvert(peer)
  }

  /** Fetches the full advert of a peer we only know by its heartbeats; the answer must be its own. */
  private pullAdvert (peer: string): void {
    if (this.init.fetchAdvert === undefined || this.pulling.has(peer)) return
    this.pulling.add(peer)
    this.init.fetchAdvert(peer).then(body => {
      const parsed = nodeAdvertSchema.safeParse(body)
      if (!parsed.success || parsed.data.peer !== peer) { this.counters.dropped.malformed++; return }
      const change = this.view.onAdvert(parsed.data, this.now())
      if (change === 'stale') return
      if (change !== undefined) this.init.onStatusChange?.(change)
      this.init.onAdvert?.(parsed.data)
      this.maybeDial(parsed.data)
    }, () => {}).finally(() => this.pulling.delete(peer))
  }

  /** Keeps a connection to every peer we hear of (up to maxPeers): auctions need them, and a closed connection is the fastest death signal. */
  private maybeDial (advert: NodeAdvert): void {
    if (this.dialing.has(advert.peer) || advert.addrs.length === 0 || this.isConnected(advert.peer)) return
    if (this.libp2p.getPeers().length >= this.init.maxPeers) return
    this.dialing.add(advert.peer)
    // Both sides learn of each other at once; let the lower id dial first so pairs don't open two
    // connections, and the other side dial only if that did not happen.
    const delay = this.self < advert.peer ? 0 : 250
    const timer = setTimeout(() => {
      this.dialTimers.delete(timer)
      if (this.shutdown.signal.aborted || this.isConnected(advert.peer)) { this.dialing.delete(advert.peer); return }
      this.libp2p.dial(advert.addrs.map(a => multiaddr(a)), { signal: AbortSignal.timeout(5_000) })
        .catch(() => {})
        .finally(() => this.dialing.delete(advert.peer))
    }, delay)
    this.dialTimers.add(timer)
  }

  private isConnected (peer: string): boolean {
    return this.libp2p.getConnections().some(c => c.remotePeer.toString() === peer)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    const entry = this.view.get(peer)
    if (entry === undefined || entry.status === 'dead') return
    // A closed connection alone is not death (the peer may have pruned us): confirm with one redial.
    this.probe(peer, entry.advert.addrs, 'connection closed and redial failed')
  }

  private tick (): void {
    for (const change of this.view.tick(this.now())) {
      this.init.onStatusChange?.(change)
      if (change.to === 'suspect') {
        const entry = this.view.get(change.peer)
        if (entry !== undefined) this.probe(change.peer, entry.advert.addrs, 'silent and ping failed')
      }
    }
  }

  /** Dials (reusing any open connection) and pings the peer; failure marks it dead. */
  private probe (peer: string, addrs: string[], reason: string): void {
    if (this.probing.has(peer) || this.shutdown.signal.aborted) return
    this.probing.add(peer)
    // libp2p.stop() aborts in-flight dials, so the probe needs no link to our shutdown signal.
    const signal = AbortSignal.timeout(this.init.probeTimeoutMs ?? 750)
    const target = addrs.length > 0 ? addrs.map(a => multiaddr(a)) : []
    const attempt = async (): Promise<void> => {
      await this.libp2p.services.ping.ping(target, { signal })
    }
    attempt().then(() => {
      const change = this.view.onHeardFrom(peer, this.now())
      if (change !== undefined) this.init.onStatusChange?.(change)
    }, () => {
      if (this.shutdown.signal.aborted) return
      const change = this.view.onUnreachable(peer, this.now(), reason)
      if (change !== undefined) this.init.onStatusChange?.(change)
    }).finally(() => this.probing.delete(peer))
  }
}
