// Shared builders for the bidding tests: adverts, views and tasks with sensible defaults.
import type { PeerStatus } from '../../src/core/advert.js'
import type { Resources } from '../../src/core/resources.js'
import type { AdvertView, PeerView } from '../../src/bidding/feasibility.js'
import type { AuctionTask } from '../../src/bidding/task.js'
import type { AuctionMessage } from '../../src/bidding/messages.js'

export function advert (capacity: Resources, opts: { free?: Resources, labels?: Record<string, string>, allowExec?: boolean } = {}): AdvertView {
  return {
    capacity: { ...capacity },
    free: { ...(opts.free ?? capacity) },
    labels: opts.labels ?? {},
    allowExec: opts.allowExec ?? true
  }
}

export function peer (id: string, capacity: Resources, opts: { free?: Resources, labels?: Record<string, string>, allowExec?: boolean, status?: PeerStatus } = {}): PeerView {
  return { peer: id, status: opts.status ?? 'alive', advert: advert(capacity, opts) }
}

export function task (id: string, demand: Resources, opts: Partial<AuctionTask> = {}): AuctionTask {
  return {
    id,
    attempt: 1,
    framework: 'default',
    demand,
    constraints: {},
    priority: 0,
    submittedAt: 0,
    kind: 'js',
    placement: 'spread',
    ...opts
  }
}

/** A deterministic random source (mulberry32). */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One valid example of each message type. */
export const validMessages: AuctionMessage[] = [
  {
    type: 'cfb',
    v: 1,
    auction: 'a1.0',
    from: 'peerA',
    leaseMs: 1000,
    tasks: [
      { task: 't-1', attempt: 1, framework: 'A', demand: { cpu: 1000, memMb: 4096 }, constraints: { zone: 'eu' }, priority: 0, submittedAt: 5, kind: 'js', placement: 'spread' },
      { task: 't-2', attempt: 2, framework: 'B', demand: { cpu: 3000, memMb: 1024, gpu: 1 }, constraints: { zone: ['eu', 'us'] }, priority: 10, submittedAt: 6, kind: 'exec', placement: 'binpack' }
    ]
  },
  { type: 'bids', v: 1, auction: 'a1.0', leaseMs: 1000, bids: [{ task: 't-1', attempt: 1, score: 0.5 }], declines: [{ task: 't-2', attempt: 2, reason: 'gpu', retryable: false }] },
  { type: 'award', v: 1, auction: 'a1.0', tasks: [{ task: 't-1', attempt: 1, spec: { kind: 'js', name: 'x', source: 'export default () => 1' } }, { task: 't-3', attempt: 1 }] },
  { type: 'awardReply', v: 1, auction: 'a1.0', accepted: [{ task: 't-1', attempt: 1 }], rejected: [{ task: 't-3', attempt: 1, reason: 'hold expired' }] },
  { type: 'release', v: 1, auction: 'a1.0', tasks: [{ task: 't-2', attempt: 2 }] }
]
