import { join } from 'node:path'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import type { LevelDatastore } from 'datastore-level'
import type { Resources } from '../core/resources.js'
import { ClusterView } from '../gossip/cluster-view.js'
import { MeshGossip, type AdvertBody } from '../gossip/mesh-gossip.js'
import { ADVERT_TOPIC } from '../gossip/topics.js'
import { WeightsGossip } from '../gossip/weights-gossip.js'
import { RecordStore } from '../store/record-store.js'
import { RecordChannel } from '../store/record-channel.js'
import { readLocalRecord } from '../store/local.js'
import { bidmeshValidator } from '../store/validators.js'
import { Runner } from '../exec/index.js'
import { Scheduler } from './scheduler.js'
import { PubsubWorkflowGossip, recordStoreStateStore, WorkflowService } from '../workflow/index.js'
import type { NodeConfig } from './config.js'
import { lockDataDir, loadOrCreatePeerKey, openDatastore } from './data-dir.js'
import { TypedEmitter, type NodeEvents } from './events.js'
import { createBidmeshLibp2p, type BidmeshLibp2p } from './libp2p.js'

/** A node's capacity as a resource vector in accounting units (cpu in millicores). */
export function capacityVector (c: NodeConfig['capacity']): Resources {
  return { cpu: Math.round(c.cpu * 1000), memMb: c.memMb, gpu: c.gpu, ...c.custom }
}

/**
 * One bidmesh peer: agent and scheduler at once. It owns the libp2p node, the gossip layer and
 * the cluster view; the HTTP API and CLI sit on top of it.
 */
export class BidmeshNode {
  readonly events = new TypedEmitter<NodeEvents>()
  readonly capacity: Resources
  private libp2pNode?: BidmeshLibp2p
  private recordStore?: RecordStore
  private recordChannel?: RecordChannel
  private datastore?: LevelDatastore
  private gossipLayer?: MeshGossip
  private clusterView?: ClusterView
  private schedulerService?: Scheduler
  private runner?: Runner
  private weightsGossip?: WeightsGossip
  private workflowService?: WorkflowService
  private bootstrapTimer?: ReturnType<typeof setTimeout>
  private readonly shutdown = new AbortController()
  private started = false
  private unlockDataDir: () => Promise<void> = async () => {}

  constructor (readonly config: NodeConfig) {
    this.capacity = capacityVector(config.capacity)
  }

  get libp2p (): BidmeshLibp2p {
    if (this.libp2pNode === undefined) throw new Error('node not started')
    return this.libp2pNode
  }

  get view (): ClusterView {
    if (this.clusterView === undefined) throw new Error('node not started')
    return this.clusterView
  }

  get gossip (): MeshGossip {
    if (this.gossipLayer === undefined) throw new Error('node not started')
    return this.gossipLayer
  }

  /** Signed task, checkpoint and result records in the DHT. */
  get store (): RecordStore {
    if (this.recordStore === undefined) throw new Error('node not started')
    return this.recordStore
  }

  get scheduler (): Scheduler {
    if (this.schedulerService === undefined) throw new Error('node not started')
    return this.schedulerService
  }

  /** Workflows driven from this node, and what it hears of the others (src/workflow). */
  get workflows (): WorkflowService {
    if (this.workflowService === undefined) throw new Error('node not started')
    return this.workflowService
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  addrs (): string[] {
    return this.libp2p.getMultiaddrs().map(a => a.toString())
  }

  /** Gossipsub mesh peers on the advert topic, and DHT routing table size, for status pages. */
  meshStats (): { connections: number, meshPeers: number, dhtPeers: number } {
    const pubsub = this.libp2p.services.pubsub as GossipSub & { getMeshPeers?: (topic: string) => string[] }
    const dht = this.libp2p.services.dht as KadDHT & { routingTable?: { size: number } }
    return {
      connections: this.libp2p.getConnections().length,
      meshPeers: pubsub.getMeshPeers?.(ADVERT_TOPIC).length ?? pubsub.getSubscribers(ADVERT_TOPIC).length,
      dhtPeers: dht.routingTable?.size ?? 0
    }
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.unlockDataDir = await lockDataDir(this.config.dataDir)
    try {
      const privateKey = await loadOrCreatePeerKey(this.config.dataDir)
      this.datastore = await openDatastore(this.config.dataDir)
      this.libp2pNode = await createBidmeshLibp2p(this.config, { privateKey, datastore: this.datastore })
      await this.libp2pNode.start()
      const datastore = this.datastore
      this.recordChannel = new RecordChannel({
        libp2p: this.libp2pNode,
        datastore,
        validate: bidmeshValidator({ maxRecordBytes: this.config.store.maxRecordBytes, local: async key => await readLocalRecord(datastore, key) }),
        maxRecordBytes: this.config.store.maxRecordBytes
      })
      await this.recordChannel.start()
      const channel = this.recordChannel
      this.recordStore = new RecordStore({
        transport: base => channel.access(base),
        dht: this.libp2pNode.services.dht,
        privateKey,
        self: this.libp2pNode.peerId.toString(),
        maxRecordBytes: this.config.store.maxRecordBytes,
        republishIntervalMs: this.config.store.republishIntervalMs
      })
      this.recordStore.start()
    } catch (err) {
      await this.datastore?.close().catch(() => {})
      await this.unlockDataDir()
      this.started = false
      throw err
    }
    const g = this.config.gossip
    this.clusterView = new ClusterView(this.peerId, { suspectAfterMs: g.suspectAfterMs, deadAfterMs: g.deadAfterMs })
    this.gossipLayer = new MeshGossip(this.libp2pNode, this.clusterView, {
      advertIntervalMs: g.advertIntervalMs,
      suspectAfterMs: g.suspectAfterMs,
      maxPeers: g.maxPeers,
      body: () => this.advertBody(),
      onStatusChange: change => { this.events.emit('peer:status', change) },
      onAdvert: advert => { this.events.emit('peer:advert', advert) },
      fetchAdvert: async peer => await this.schedulerService?.fetchAdvert(peer)
    })
    // js tasks reuse warm worker threads; inline sources are cached by hash under the data dir.
    // No prewarm: an idle node should stay small, and the first task warms the pool.
    this.runner = new Runner({ moduleBaseDir: process.cwd(), jsCacheDir: join(this.config.dataDir, 'js-cache') })
    this.schedulerService = new Scheduler({
      self: this.peerId,
      capacity: this.capacity,
      labels: this.config.labels,
      allowExec: this.config.allowExec,
      dataDir: this.config.dataDir,
      libp2p: this.libp2pNode,
      view: this.clusterView,
      runner: this.runner,
      events: this.events,
      advertiseSoon: () => { this.gossipLayer?.advertiseSoon() },
      store: this.store
    })
    await this.schedulerService.start()
    const scheduler = this.schedulerService
    this.weightsGossip = new WeightsGossip({
      pubsub: this.libp2pNode.services.pubsub,
      apply: (f, w, stamp) => scheduler.applyWeight(f, w, stamp),
      known: () => scheduler.weights()
    })
    scheduler.weightsChanged = (framework, weight, stamp) => { this.weightsGossip?.publish([{ framework, weight, stamp }]) }
    this.weightsGossip.start()
    const view = this.clusterView
    const self = this.peerId
    this.workflowService = new WorkflowService({
      self,
      tasks: scheduler,
      events: this.events,
      // One other replica at least, when there is another peer: the driver may die next.
      store: recordStoreStateStore(this.store, { quorum: () => Math.min(2, 1 + view.alive().filter(e => e.peer !== self).length) }),
      gossip: new PubsubWorkflowGossip(this.libp2pNode.services.pubsub),
      alivePeers: () => view.alive().map(e => e.peer),
      isDead: peer => view.status(peer) === 'dead'
    })
    this.workflowService.start()
    this.gossipLayer.start()
    this.dialBootstrap(0)
  }

  /** What this node tells the mesh about itself. The auction layer replaces the usage parts. */
  protected advertBody (): AdvertBody {
    return {
      capacity: this.capacity,
      labels: this.config.labels,
      allowExec: this.config.allowExec,
      api: this.apiUrl ?? '',
      ...(this.schedulerService?.advertBody() ?? { free: this.capacity, usageByFramework: {}, pendingByFramework: {}, runningCount: 0, running: [], pending: [] })
    }
  }

  /** Set by the API server once it listens, so adverts carry it. */
  apiUrl?: string

  /**
   * Dials every bootstrap address; retries with backoff until at least one connects, because a
   * swarm's nodes start in any order. Further peers come from adverts and the DHT.
   */
  private dialBootstrap (round: number): void {
    const addrs = this.config.bootstrap
    if (addrs.length === 0 || this.shutdown.signal.aborted) return
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(5_000)])
    void Promise.allSettled(addrs.map(async a => await this.libp2p.dial(multiaddr(a), { signal }))).then(results => {
      if (this.shutdown.signal.aborted) return
      const joined = results.flatMap(r => r.status === 'fulfilled' ? [r.value.remotePeer.toString()] : [])
      if (joined.length > 0) { void this.exchangePeers(joined); return }
      const delay = Math.min(5_000, 100 * 2 ** round)
      this.bootstrapTimer = setTimeout(() => { this.dialBootstrap(round + 1) }, delay)
    })
  }

  /**
   * Asks the peers we joined through for everyone they know, and dials them. A node that only
   * knows its bootstrap ends up outside the gossip mesh once the bootstrap prunes its mesh
   * (LIBP2P-NOTES); dialing the whole list gives it direct links to every peer. The list is
   * only a hint: connections are authenticated by Noise and adverts are signature-checked.
   */
  private async exchangePeers (via: string[]): Promise<void> {
    const known = new Map<string, string[]>()
    for (const peer of via) {
      const list = await this.scheduler.fetchPeers(peer, AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(5_000)])).catch(() => [])
      for (const p of list) if (p.peer !== this.peerId) known.set(p.peer, p.addrs)
    }
    const targets = [...known].filter(([peer]) => !this.libp2p.getConnections().some(c => c.remotePeer.toString() === peer)).slice(0, this.config.gossip.maxPeers)
    // In batches: a hundred simultaneous dials time out in the Noise handshake (LIBP2P-NOTES).
    for (let i = 0; i < targets.length && !this.shutdown.signal.aborted; i += 8) {
      await Promise.allSettled(targets.slice(i, i + 8).map(async ([, addrs]) =>
        await this.libp2p.dial(addrs.map(a => multiaddr(a)), { signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(5_000)]) })))
    }
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.shutdown.abort()
    clearTimeout(this.bootstrapTimer)
    // Stop taking work first, then end what runs (its owners re-place it), then leave the mesh.
    // Workflow drivers first: they must not react to tasks ending because the node stops.
    this.workflowService?.stop()
    await this.runner?.stop()
    await this.schedulerService?.stop()
    this.weightsGossip?.stop()
    this.gossipLayer?.stop()
    this.libp2pNode?.services.pubsub.unsubscribe(ADVERT_TOPIC)
    await this.recordStore?.stop()
    await this.recordChannel?.stop()
    await this.libp2pNode?.stop()
    await this.datastore?.close()
    await this.unlockDataDir()
    this.events.emit('node:stopped')
  }
}
