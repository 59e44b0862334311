import { describe, it, expect } from 'vitest'
import { Auctioneer, type AuctioneerInit } from '../../src/bidding/auctioneer.js'
import type { AuctioneerOutput } from '../../src/bidding/auctioneer-types.js'
import type { Award, AuctionMessage, Bids } from '../../src/bidding/messages.js'
import type { PeerView } from '../../src/bidding/feasibility.js'
import { auctionTaskFromSpec } from '../../src/bidding/task.js'
import { parseTaskSpec } from '../../src/core/task-spec.js'
import { peer, seeded, task } from './fixtures.js'

const cap = { cpu: 8000, memMb: 16384 }
const view: PeerView[] = ['p1', 'p2', 'p3'].map(id => peer(id, cap))

function auctioneer (init: Partial<AuctioneerInit> = {}, shareOf: (f: string) => number = () => 0): Auctioneer {
  return new Auctioneer({ self: 'S', roundTimeoutMs: 100, awardTimeoutMs: 100, backoffBaseMs: 10, backoffMaxMs: 1000, ...init }, { shareOf })
}

function sent<T extends AuctionMessage['type']> (out: AuctioneerOutput, type: T): Array<{ peer: string, msg: Extract<AuctionMessage, { type: T }> }> {
  return out.send.filter((s): s is { peer: string, msg: Extract<AuctionMessage, { type: T }> } => s.msg.type === type)
}

/** Every probed peer bids on every task it was offered, with the given score. */
function bidAll (a: Auctioneer, out: AuctioneerOutput, now: number, score: (peer: string, task: string) => number = () => 0.5): AuctioneerOutput[] {
  return sent(out, 'cfb').map(({ peer, msg }) => a.onBids(peer, {
    type: 'bids', v: 1, auction: msg.auction, leaseMs: 1000,
    bids: msg.tasks.map(t => ({ task: t.task, attempt: t.attempt, score: score(peer, t.task) })), declines: []
  }, now))
}

function accept (a: Auctioneer, award: { peer: string, msg: Award }, now: number): AuctioneerOutput {
  return a.onAwardReply(award.peer, { type: 'awardReply', v: 1, auction: award.msg.auction, accepted: award.msg.tasks.map(t => ({ task: t.task, attempt: t.attempt })), rejected: [] }, now)
}

describe('auctioneer', () => {
  it('sends one batched call per peer, awards each task to its best bid and releases the rest', () => {
    const a = auctioneer()
    for (let i = 0; i < 4; i++) a.submit(task(`t${i}`, { cpu: 1000 }), 0)
    const planned = a.plan(0, view, seeded(1))
    const calls = sent(planned, 'cfb')
    expect(new Set(calls.map(c => c.peer)).size).toBe(calls.length)
    expect(calls.reduce((n, c) => n + c.msg.tasks.length, 0)).toBe(8) // d = 2 probes per task
    expect(calls.every(c => c.msg.from === 'S' && c.msg.auction === calls[0]?.msg.auction)).toBe(true)
    expect(a.pendingTasks().every(p => p.phase === 'bidding')).toBe(true)

    const results = bidAll(a, planned, 5, p => p === 'p2' ? 0.9 : 0.1)
    const last = results[results.length - 1] as AuctioneerOutput
    const awards = sent(last, 'award')
    const releases = sent(last, 'release')
    const awarded = awards.flatMap(x => x.msg.tasks.map(t => t.task)).sort()
    expect(awarded).toEqual(['t0', 't1', 't2', 't3'])
    // Each task is awarded once; every other bid is released.
    expect(releases.reduce((n, r) => n + r.msg.tasks.length, 0)).toBe(4)
    const placed = awards.flatMap(x => accept(a, x, 6).placed)
    expect(placed.map(p => p.task).sort()).toEqual(['t0', 't1', 't2', 't3'])
    expect(a.size).toBe(0)
  })

  it('keeps a task without bids pending with a merged reason, backs off, and retries', () => {
    const a = auctioneer()
    a.submit(task('t', { cpu: 1000 }, { constraints: { zone: 'eu' } }), 0)
    const v = [peer('p1', cap, { labels: { zone: 'eu' } }), peer('p2', cap, { labels: { zone: 'us' } })]
    const planned = a.plan(0, v, seeded(1))
    const [call] = sent(planned, 'cfb')
    expect(call?.peer).toBe('p1')
    const out = a.onBids('p1', { type: 'bids', v: 1, auction: call?.msg.auction ?? '', leaseMs: 1000, bids: [], declines: [{ task: 't', attempt: 1, reason: 'memMb', retryable: true }] }, 5)
    expect(out.pending).toEqual([{ task: 't', attempt: 1, reason: '1 peer declined: memMb; 1 peer fail constraints', retryable: true, retryAt: 15 }])
    expect(a.plan(10, v, seeded(1)).send).toEqual([]) // backing off
    expect(a.nextWakeup()).toBe(15)
    expect(sent(a.plan(15, v, seeded(1)), 'cfb')).toHaveLength(1)
  })

  it('keeps an infeasible task pending with why, and bids again promptly after a capacity change', () => {
    const a = auctioneer()
    a.submit(task('gpu', { cpu: 1000, gpu: 8 }), 0)
    const out = a.plan(0, view, seeded(1))
    expect(out.send).toEqual([])
    expect(out.pending[0]).toMatchObject({ task: 'gpu', reason: 'no peer with gpu >= 8', retryable: false })
    const bigger = [...view, peer('gpu-node', { cpu: 8000, gpu: 8 })]
    expect(a.plan(1, bigger, seeded(1)).send).toEqual([]) // still backing off
    a.onCapacityChange(2)
    expect(sent(a.plan(2, bigger, seeded(1)), 'cfb').map(c => c.peer)).toEqual(['gpu-node'])
  })

  it('resolves a round at its deadline, counting silent peers, and releases late bids', () => {
    const a = auctioneer({ probes: 2 })
    a.submit(task('t', { cpu: 1000 }), 0)
    const calls = sent(a.plan(0, view.slice(0, 2), seeded(1)), 'cfb')
    expect(calls).toHaveLength(2)
    const [c1, c2] = calls as [typeof calls[number], typeof calls[number]]
    a.onBids(c1.peer, { type: 'bids', v: 1, auction: c1.msg.auction, leaseMs: 1000, bids: [], declines: [{ task: 't', attempt: 1, reason: 'cpu', retryable: true }] }, 5)
    expect(a.nextWakeup()).toBe(100)
    const timedOut = a.tick(100)
    expect(timedOut.pending[0]?.reason).toBe('1 peer declined: cpu; 1 peer did not answer')
    const late = a.onBids(c2.peer, { type: 'bids', v: 1, auction: c2.msg.auction, leaseMs: 1000, bids: [{ task: 't', attempt: 1, score: 1 }], declines: [] }, 120)
    expect(sent(late, 'release')).toEqual([{ peer: c2.peer, msg: { type: 'release', v: 1, auction: c2.msg.auction, tasks: [{ task: 't', attempt: 1 }] } }])
    // A duplicate of the reply that was used must not release anything.
    expect(a.onBids(c1.peer, { type: 'bids', v: 1, auction: c1.msg.auction, leaseMs: 1000, bids: [{ task: 't', attempt: 1, score: 1 }], declines: [] }, 121).send).toEqual([])
    expect(a.stats().roundTimeouts).toBe(1)
  })

  it('puts a rejected award back to pending and places it in a later round', () => {
    const a = auctioneer({ probes: 1 })
    a.submit(task('t', { cpu: 1000 }), 0)
    const planned = a.plan(0, view, seeded(1))
    const [round] = bidAll(a, planned, 1)
    const [aw] = sent(round as AuctioneerOutput, 'award')
    const out = a.onAwardReply(aw?.peer ?? '', { type: 'awardReply', v: 1, auction: aw?.msg.auction ?? '', accepted: [], rejected: [{ task: 't', attempt: 1, reason: 'hold expired' }] }, 2)
    expect(out.pending[0]?.reason).toBe(`${aw?.peer} rejected the award: hold expired`)
    const again = a.plan(100, view, seeded(2))
    const [round2] = bidAll(a, again, 101)
    const placed = sent(round2 as AuctioneerOutput, 'award').flatMap(x => accept(a, x, 102).placed)
    expect(placed).toHaveLength(1)
  })

  it('sends an unanswered award again, then gives the attempt up and bids the next one elsewhere', () => {
    const a = auctioneer({ probes: 1, awardRetries: 2 })
    a.submit(task('t', { cpu: 1000 }), 0)
    const [round] = bidAll(a, a.plan(0, view, seeded(1)), 1)
    const [aw] = sent(round as AuctioneerOutput, 'award')
    const silent = aw?.peer
    expect(sent(a.tick(101), 'award')).toHaveLength(1)
    expect(sent(a.tick(201), 'award')).toHaveLength(1)
    const gaveUp = a.tick(301)
    expect(gaveUp.superseded).toEqual([{ task: 't', attempt: 1, peer: silent, reason: `award to ${silent} unanswered` }])
    expect(gaveUp.pending[0]).toMatchObject({ task: 't', attempt: 2 })
    const next = sent(a.plan(1000, view, seeded(3)), 'cfb')
    expect(next.map(c => c.peer)).not.toContain(silent)
    expect(next[0]?.msg.tasks[0]?.attempt).toBe(2)
    // A late acceptance of attempt 1 changes nothing.
    expect(a.onAwardReply(silent ?? '', { type: 'awardReply', v: 1, auction: aw?.msg.auction ?? '', accepted: [{ task: 't', attempt: 1 }], rejected: [] }, 1001).placed).toEqual([])
  })

  it('fences a task whose award is rejected after a resend: the first copy may have run', () => {
    const a = auctioneer({ probes: 1, awardRetries: 2 })
    a.submit(task('t', { cpu: 1000 }), 0)
    const [round] = bidAll(a, a.plan(0, view, seeded(1)), 1)
    const [aw] = sent(round as AuctioneerOutput, 'award')
    a.tick(101) // resend
    const out = a.onAwardReply(aw?.peer ?? '', { type: 'awardReply', v: 1, auction: aw?.msg.auction ?? '', accepted: [], rejected: [{ task: 't', attempt: 1, reason: 'no such hold' }] }, 102)
    expect(out.superseded.map(s => [s.task, s.attempt, s.peer])).toEqual([['t', 1, aw?.peer]])
    expect(out.pending[0]).toMatchObject({ task: 't', attempt: 2 })
  })

  it('orders the pending queue by DRF share, then priority, then age', () => {
    const shares: Record<string, number> = { heavy: 0.8, light: 0.1 }
    const a = auctioneer({ maxRoundTasks: 2, probes: 1 }, f => shares[f] ?? 0)
    a.submit(task('h-urgent', { cpu: 1 }, { framework: 'heavy', priority: 100 }), 0)
    a.submit(task('l-new', { cpu: 1 }, { framework: 'light', submittedAt: 5 }), 0)
    a.submit(task('l-old', { cpu: 1 }, { framework: 'light', submittedAt: 1 }), 0)
    const calls = sent(a.plan(0, view.slice(0, 1), seeded(1)), 'cfb')
    expect(calls.map(c => c.msg.tasks.map(t => t.task))).toEqual([['l-old', 'l-new'], ['h-urgent']])
    expect(calls[0]?.msg.auction).not.toBe(calls[1]?.msg.auction)
  })

  it('stops waiting for a peer the failure detector gave up, and fences its awards', () => {
    const a = auctioneer({ probes: 1 })
    a.submit(task('t1', { cpu: 1000 }), 0)
    a.submit(task('t2', { cpu: 1000 }), 0)
    const planned = a.plan(0, view.slice(0, 1), seeded(1))
    const [round] = bidAll(a, planned, 1)
    expect(sent(round as AuctioneerOutput, 'award')).toHaveLength(1)
    const gone = a.onPeerGone('p1', 2)
    expect(gone.superseded.map(s => [s.task, s.attempt])).toEqual([['t1', 1], ['t2', 1]])
    expect(a.pendingTasks().map(p => p.attempt)).toEqual([2, 2])
  })

  it('cancels in every phase, releasing holds of a cancelled task when its round ends', () => {
    const a = auctioneer({ probes: 1 })
    expect(a.cancel('nope')).toEqual({ kind: 'unknown' })
    a.submit(task('t', { cpu: 1000 }), 0)
    const planned = a.plan(0, view.slice(0, 1), seeded(1))
    expect(a.cancel('t')).toEqual({ kind: 'cancelled' })
    const [out] = bidAll(a, planned, 1)
    expect(sent(out as AuctioneerOutput, 'release').map(r => r.msg.tasks)).toEqual([[{ task: 't', attempt: 1 }]])
    a.submit(task('u', { cpu: 1000 }), 2)
    bidAll(a, a.plan(2, view.slice(0, 1), seeded(1)), 3)
    expect(a.cancel('u')).toEqual({ kind: 'awarded', peer: 'p1', attempt: 1 })
  })

  it('validates submissions and treats resubmissions by attempt', () => {
    const a = auctioneer()
    expect(() => a.submit(task('bad', { cpu: -1 }), 0)).toThrow(/auction task bad/)
    expect(a.submit(task('t', { cpu: 1 }), 0)).toEqual({ kind: 'queued' })
    expect(a.submit(task('t', { cpu: 1 }), 0)).toEqual({ kind: 'duplicate', attempt: 1 })
    expect(a.submit(task('t', { cpu: 1 }, { attempt: 2 }), 0)).toEqual({ kind: 'replaced', previousAttempt: 1 })
  })

  it('carries specs in awards and splits awards by bytes', () => {
    const a = auctioneer({ probes: 1, maxAwardBytes: 2048 })
    const spec = parseTaskSpec({ kind: 'js', name: 'x', source: 'x'.repeat(1500), resources: { cpu: 0.1 } })
    for (let i = 0; i < 3; i++) a.submit(auctionTaskFromSpec(`t${i}`, spec, { submittedAt: 0 }), 0)
    const [round] = bidAll(a, a.plan(0, view.slice(0, 1), seeded(1)), 1)
    const awards = sent(round as AuctioneerOutput, 'award')
    expect(awards).toHaveLength(3)
    expect(awards[0]?.msg.tasks[0]?.spec).toEqual(spec)
  })

  it('ignores bids for tasks it did not offer that peer', () => {
    const a = auctioneer({ probes: 1 })
    a.submit(task('t', { cpu: 1000 }), 0)
    const [call] = sent(a.plan(0, view.slice(0, 1), seeded(1)), 'cfb')
    const reply: Bids = { type: 'bids', v: 1, auction: call?.msg.auction ?? '', leaseMs: 1000, bids: [{ task: 'other', attempt: 1, score: 1 }], declines: [] }
    const out = a.onBids('p1', reply, 1)
    expect(a.stats().invalidReplies).toBe(1)
    expect(out.pending[0]?.task).toBe('t')
  })
})
