import { describe, it, expect } from 'vitest'
import { Bidder, type BidderInit } from '../../src/bidding/bidder.js'
import type { AwardReply, Bids, CallForBids, CfbTask } from '../../src/bidding/messages.js'
import { addResources, fits } from '../../src/core/resources.js'

const capacity = { cpu: 9000, memMb: 18432 }

function bidder (init: Partial<BidderInit> = {}): Bidder {
  return new Bidder({ capacity, bidWindowMs: 20, allowExec: true, labels: { zone: 'eu' }, ...init }, { shareOf: () => 0 })
}

function t (task: string, demand: Record<string, number>, more: Partial<CfbTask> = {}): CfbTask {
  return { task, attempt: 1, framework: 'A', demand, constraints: {}, priority: 0, submittedAt: 0, kind: 'js', placement: 'spread', ...more }
}

function cfb (from: string, auction: string, tasks: CfbTask[], leaseMs = 1000): CallForBids {
  return { type: 'cfb', v: 1, auction, from, tasks, leaseMs }
}

function bidsOf (out: { send: Array<{ msg: unknown }> }): Bids[] {
  return out.send.map(s => s.msg as Bids).filter(m => m.type === 'bids')
}

function award (auction: string, tasks: Array<{ task: string, attempt?: number, spec?: unknown }>): { type: 'award', v: 1, auction: string, tasks: Array<{ task: string, attempt: number, spec?: unknown }> } {
  return { type: 'award', v: 1, auction, tasks: tasks.map(x => ({ attempt: 1, ...x })) }
}

function invariant (b: Bidder): void {
  expect(fits(addResources(b.ledger.allocated(), b.ledger.held()), b.capacity)).toBe(true)
}

describe('bidder', () => {
  it('answers at once when the whole call fits and nothing waits', () => {
    const b = bidder()
    const out = b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 }), t('t2', { cpu: 2000 })]), 0)
    const [reply] = bidsOf(out)
    expect(reply?.bids.map(x => x.task)).toEqual(['t1', 't2'])
    expect(reply?.declines).toEqual([])
    expect(b.ledger.held()).toEqual({ cpu: 3000 })
    expect(out.send[0]?.peer).toBe('S')
  })

  it('declines for good what it can never run', () => {
    const b = bidder({ allowExec: false })
    const out = b.onCallForBids(cfb('S', 'a1', [
      t('exec', { cpu: 1 }, { kind: 'exec' }),
      t('zone', { cpu: 1 }, { constraints: { zone: 'us' } }),
      t('huge', { cpu: 1, gpu: 1 })
    ]), 0)
    expect(bidsOf(out)[0]?.declines).toEqual([
      { task: 'exec', attempt: 1, reason: 'exec disabled', retryable: false },
      { task: 'zone', attempt: 1, reason: 'constraints', retryable: false },
      { task: 'huge', attempt: 1, reason: 'too large: gpu', retryable: false }
    ])
  })

  it('under contention, waits for the window and grants in DRF order (A 3, B 2)', () => {
    const b = bidder()
    const a = Array.from({ length: 8 }, (_, i) => t(`a${i}`, { cpu: 1000, memMb: 4096 }, { framework: 'A' }))
    const bb = Array.from({ length: 6 }, (_, i) => t(`b${i}`, { cpu: 3000, memMb: 1024 }, { framework: 'B' }))
    expect(b.onCallForBids(cfb('SA', 'x1', a), 0).send).toEqual([]) // 8 A tasks do not fit: wait
    expect(b.onCallForBids(cfb('SB', 'y1', bb), 5).send).toEqual([])
    expect(b.queued).toBe(14)
    expect(b.nextWakeup()).toBe(20)
    expect(b.decide(19).send).toEqual([])
    const out = b.tick(20)
    const replies = bidsOf(out)
    expect(replies).toHaveLength(2)
    const granted = Object.fromEntries(out.send.map(s => [s.peer, (s.msg as Bids).bids.length]))
    expect(granted).toEqual({ SA: 3, SB: 2 })
    const declined = replies.flatMap(r => r.declines)
    expect(declined).toHaveLength(9)
    expect(declined.every(d => d.retryable)).toBe(true)
    invariant(b)
  })

  it('a call that arrives while others wait joins the window even if it fits', () => {
    const b = bidder()
    b.onCallForBids(cfb('SA', 'x1', Array.from({ length: 10 }, (_, i) => t(`a${i}`, { cpu: 1000 }))), 0)
    expect(b.onCallForBids(cfb('SB', 'y1', [t('small', { cpu: 1 }, { framework: 'B' })]), 1).send).toEqual([])
    const out = b.tick(20)
    expect(bidsOf(out).find((_, i) => out.send[i]?.peer === 'SB')?.bids.map(x => x.task)).toEqual(['small'])
  })

  it('lower-share frameworks win contended capacity, using the injected share', () => {
    const shares: Record<string, number> = { rich: 0.9, poor: 0.1 }
    const b = new Bidder({ capacity: { cpu: 2000 }, bidWindowMs: 10 }, { shareOf: f => shares[f] ?? 0 })
    b.onCallForBids(cfb('R', 'r', [t('r1', { cpu: 1000 }, { framework: 'rich', priority: 100 }), t('r2', { cpu: 1000 }, { framework: 'rich', priority: 100 }), t('r3', { cpu: 1000 }, { framework: 'rich' })]), 0)
    b.onCallForBids(cfb('P', 'p', [t('p1', { cpu: 1000 }, { framework: 'poor' }), t('p2', { cpu: 1000 }, { framework: 'poor' })]), 1)
    const out = b.tick(10)
    const byPeer = Object.fromEntries(out.send.map(s => [s.peer, (s.msg as Bids).bids.map(x => x.task)]))
    expect(byPeer).toEqual({ R: [], P: ['p1', 'p2'] })
  })

  it('commits on award, and accepts a repeated award again without starting twice', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 })]), 0)
    const first = b.onAward(award('a1', [{ task: 't1' }]), 10, 'S')
    expect(first.start.map(s => s.task)).toEqual(['t1'])
    expect((first.send[0]?.msg as AwardReply).accepted).toEqual([{ task: 't1', attempt: 1 }])
    const again = b.onAward(award('a1', [{ task: 't1' }]), 11, 'S')
    expect(again.start).toEqual([])
    expect((again.send[0]?.msg as AwardReply).accepted).toEqual([{ task: 't1', attempt: 1 }])
    expect(b.ledger.allocated()).toEqual({ cpu: 1000 })
    expect(b.onTaskFinished('t1')).toBe(true)
    expect(b.free()).toEqual(capacity)
  })

  it('still accepts a repeated award after the task ended, and never runs that attempt again', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 })]), 0)
    b.onAward(award('a1', [{ task: 't1' }]), 1, 'S')
    b.onTaskFinished('t1', 1)
    // The reply to the first award was lost and the auctioneer resent it.
    const again = b.onAward(award('a1', [{ task: 't1' }]), 2, 'S')
    expect((again.send[0]?.msg as AwardReply).accepted).toEqual([{ task: 't1', attempt: 1 }])
    expect(again.start).toEqual([])
    const call = b.onCallForBids(cfb('S', 'a2', [t('t1', { cpu: 1000 })]), 3)
    expect(bidsOf(call)[0]?.declines).toEqual([{ task: 't1', attempt: 1, reason: 'already ran here', retryable: false }])
    expect(bidsOf(b.onCallForBids(cfb('S', 'a3', [t('t1', { cpu: 1000 }, { attempt: 2 })]), 4))[0]?.bids).toHaveLength(1)
  })

  it.each([
    { name: 'a lapsed hold', from: 'S', auction: 'a1', now: 2000, attempt: 1, reason: 'hold expired', counter: undefined },
    { name: 'another peer\'s hold', from: 'X', auction: 'a1', now: 10, attempt: 1, reason: 'not your hold', counter: 'notCaller' },
    { name: 'an unknown auction', from: 'S', auction: 'zz', now: 10, attempt: 1, reason: 'unknown auction', counter: 'unknownAuction' },
    { name: 'a newer attempt than held', from: 'S', auction: 'a1', now: 10, attempt: 2, reason: 'no hold for this attempt', counter: 'unknownHold' }
  ] as const)('rejects an award of $name', ({ from, auction, now, attempt, reason, counter }) => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 })]), 0)
    const out = b.onAward(award(auction, [{ task: 't1', attempt }]), now, from)
    expect(out.start).toEqual([])
    expect((out.send[0]?.msg as AwardReply).rejected).toEqual([{ task: 't1', attempt, reason }])
    expect(out.send[0]?.peer).toBe(from)
    if (counter !== undefined) expect(b.stats().invalid[counter]).toBe(1)
    invariant(b)
  })

  it('rejects an award for a task it never held', () => {
    const b = bidder()
    const out = b.onAward(award('a1', [{ task: 'nope' }]), 0, 'S')
    expect((out.send[0]?.msg as AwardReply).rejected[0]?.reason).toBe('no such hold')
    expect(b.stats().invalid.unknownHold).toBe(1)
  })

  it('validates the spec carried by an award against the hold', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('ok', { cpu: 500, memMb: 256 }), t('greedy', { cpu: 500, memMb: 256 }), t('junk', { cpu: 500 })]), 0)
    const spec = (cpu: number): unknown => ({ kind: 'js', name: 'x', framework: 'A', source: 'export default () => 1', resources: { cpu, memMb: 256 } })
    const out = b.onAward(award('a1', [{ task: 'ok', spec: spec(0.5) }, { task: 'greedy', spec: spec(4) }, { task: 'junk', spec: { kind: 'js' } }]), 1, 'S')
    expect(out.start.map(s => [s.task, s.spec?.name])).toEqual([['ok', 'x']])
    const reply = out.send[0]?.msg as AwardReply
    expect(reply.rejected.map(r => [r.task, r.reason.split(':')[0]])).toEqual([['greedy', 'spec does not match the hold'], ['junk', 'invalid spec']])
    expect(b.stats().invalid.badSpec).toBe(2)
    expect(b.ledger.held()).toEqual({}) // the refused holds are given back
  })

  it('releases holds only for their auctioneer and auction', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 }), t('t2', { cpu: 1000 })]), 0)
    expect(b.onRelease({ type: 'release', v: 1, auction: 'a1', tasks: [{ task: 't1', attempt: 1 }] }, 'X')).toBe(0)
    expect(b.stats().invalid.badRelease).toBe(1)
    expect(b.onRelease({ type: 'release', v: 1, auction: 'a1', tasks: [{ task: 't1', attempt: 1 }, { task: 't2', attempt: 1 }] }, 'S')).toBe(2)
    expect(b.free()).toEqual(capacity)
  })

  it('a new round from the same auctioneer moves the hold instead of holding twice', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 6000 })]), 0)
    const out = b.onCallForBids(cfb('S', 'a2', [t('t1', { cpu: 6000 })]), 10)
    expect(bidsOf(out)[0]?.bids.map(x => x.task)).toEqual(['t1'])
    expect(b.ledger.held()).toEqual({ cpu: 6000 })
    // The old round's release must not drop the hold the new round uses.
    expect(b.onRelease({ type: 'release', v: 1, auction: 'a1', tasks: [{ task: 't1', attempt: 1 }] }, 'S')).toBe(0)
    expect(b.onAward(award('a2', [{ task: 't1' }]), 20, 'S').start).toHaveLength(1)
  })

  it('fences attempts: a newer attempt supersedes a running older copy, an older one is refused', () => {
    const b = bidder()
    b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 6000 })]), 0)
    b.onAward(award('a1', [{ task: 't1' }]), 1, 'S')
    const stale = b.onCallForBids(cfb('S2', 'b1', [t('t1', { cpu: 6000 }, { attempt: 2 })]), 5)
    expect(stale.stale).toEqual([{ task: 't1', attempt: 1, reason: 'superseded by attempt 2' }])
    expect(bidsOf(stale)[0]?.bids.map(x => [x.task, x.attempt])).toEqual([['t1', 2]])
    const old = b.onCallForBids(cfb('S', 'a2', [t('t1', { cpu: 6000 })]), 6)
    expect(bidsOf(old)[0]?.declines[0]?.reason).toBe('stale attempt')
    expect(b.onTaskFinished('t1', 1)).toBe(false) // the stale copy's end must not free the new hold
    expect(b.ledger.held()).toEqual({ cpu: 6000 })
    expect(b.fence('t1', 3)).toEqual([]) // a hold, not a running copy: dropped silently
    expect(b.free()).toEqual(capacity)
  })

  it('refuses a call whose from field is not the stream\'s peer', () => {
    const b = bidder()
    const out = b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1 })]), 0, 'M')
    expect(out.send[0]?.peer).toBe('M')
    expect(bidsOf(out)[0]?.declines[0]?.reason).toBe('sender mismatch')
    expect(b.stats().invalid.senderMismatch).toBe(1)
    expect(b.ledger.held()).toEqual({})
  })

  it('ignores a duplicate of a call that is waiting in the window', () => {
    const b = bidder()
    const big = cfb('S', 'a1', Array.from({ length: 10 }, (_, i) => t(`t${i}`, { cpu: 1000 })))
    b.onCallForBids(big, 0)
    expect(b.onCallForBids(big, 1).send).toEqual([])
    expect(bidsOf(b.tick(20))).toHaveLength(1)
  })

  it('declines as busy beyond the queue bound', () => {
    const b = bidder({ maxQueuedTasks: 5 })
    b.onCallForBids(cfb('S', 'a1', Array.from({ length: 5 }, (_, i) => t(`t${i}`, { cpu: 2000 }))), 0)
    const out = b.onCallForBids(cfb('S', 'a2', [t('x', { cpu: 1 })]), 1)
    expect(bidsOf(out)[0]?.declines).toEqual([{ task: 'x', attempt: 1, reason: 'busy', retryable: true }])
  })

  it('clamps the lease and lapses holds on tick', () => {
    const b = bidder({ maxLeaseMs: 500 })
    const out = b.onCallForBids(cfb('S', 'a1', [t('t1', { cpu: 1000 })], 60_000), 0)
    expect(bidsOf(out)[0]?.leaseMs).toBe(500)
    expect(b.nextWakeup()).toBe(500)
    b.tick(500)
    expect(b.ledger.held()).toEqual({})
    expect(b.stats().holdsExpired).toBe(1)
  })

  it('with a zero window decides at once, still in DRF order', () => {
    const b = bidder({ bidWindowMs: 0 })
    const out = b.onCallForBids(cfb('S', 'a1', Array.from({ length: 12 }, (_, i) => t(`t${i}`, { cpu: 1000 }))), 0)
    expect(bidsOf(out)[0]?.bids).toHaveLength(9)
  })
})
