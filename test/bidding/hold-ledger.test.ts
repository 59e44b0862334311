import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { HoldLedger } from '../../src/bidding/hold-ledger.js'
import { addResources, fits } from '../../src/core/resources.js'

const capacity = { cpu: 4000, memMb: 8192 }

describe('hold ledger', () => {
  it('holds only what is free, and commits, releases and finishes', () => {
    const l = new HoldLedger(capacity)
    expect(l.hold('a', { cpu: 3000, memMb: 1000 }, 0, 100)).toEqual({ ok: true, expiresAt: 100 })
    expect(l.hold('b', { cpu: 2000 }, 0, 100)).toEqual({ ok: false, reason: 'insufficient', short: ['cpu'] })
    expect(l.hold('a', { cpu: 1 }, 0, 100)).toEqual({ ok: false, reason: 'exists' })
    expect(l.commit('a', 50)).toEqual({ ok: true })
    expect(l.allocated()).toEqual({ cpu: 3000, memMb: 1000 })
    expect(l.held()).toEqual({})
    expect(l.release('a')).toBe(false) // an allocation is not a hold
    expect(l.usageByFramework()).toEqual({ default: { cpu: 3000, memMb: 1000 } })
    expect(l.finish('a')).toBe(true)
    expect(l.free()).toEqual(capacity)
  })

  it('refuses to commit a lapsed or unknown hold', () => {
    const l = new HoldLedger(capacity)
    l.hold('a', { cpu: 1000 }, 0, 100)
    expect(l.commit('a', 100)).toEqual({ ok: false, reason: 'expired' })
    expect(l.commit('a', 100)).toEqual({ ok: false, reason: 'unknown' })
    expect(l.free()).toEqual(capacity)
  })

  it('expires holds, reports them, and lets renewals live on', () => {
    const l = new HoldLedger(capacity)
    l.hold('a', { cpu: 1000 }, 0, 100)
    l.hold('b', { cpu: 1000 }, 0, 100)
    expect(l.renew('b', 50, 100)).toBe(true)
    expect(l.nextExpiry()).toBe(100)
    expect(l.expire(99)).toEqual([])
    expect(l.expire(100)).toEqual(['a'])
    expect(l.nextExpiry()).toBe(150)
    expect(l.held()).toEqual({ cpu: 1000 })
  })

  it('refuses negative demand, which would raise free', () => {
    const l = new HoldLedger(capacity)
    expect(l.hold('a', { cpu: -1000 }, 0, 100)).toEqual({ ok: false, reason: 'invalid' })
  })

  it('keeps allocated + held ≤ capacity under any sequence of operations (property)', () => {
    const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')
    const demand = fc.record({ cpu: fc.integer({ min: 0, max: 3000 }), memMb: fc.integer({ min: 0, max: 5000 }) }, { requiredKeys: [] })
    const op = fc.oneof(
      fc.record({ op: fc.constant('hold' as const), key: keys, demand, lease: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constantFrom('commit' as const, 'release' as const, 'finish' as const), key: keys }),
      fc.record({ op: fc.constant('renew' as const), key: keys, lease: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ op: fc.constant('expire' as const) })
    )
    const step = fc.tuple(fc.integer({ min: 0, max: 60 }), op)
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), steps => {
      const l = new HoldLedger(capacity)
      let now = 0
      for (const [dt, o] of steps) {
        now += dt
        switch (o.op) {
          case 'hold': {
            const live = [...l.entries()].filter(e => e.state === 'allocated' || e.expiresAt > now)
            const r = l.hold(o.key, o.demand, now, o.lease)
            // Succeeds exactly when the key is free and the demand fits beside the live entries.
            const used = live.reduce((s, e) => addResources(s, e.demand), {})
            const expected = !live.some(e => e.key === o.key) && fits(addResources(used, o.demand), capacity)
            expect(r.ok).toBe(expected)
            break
          }
          case 'commit': {
            const e = l.get(o.key)
            const r = l.commit(o.key, now)
            expect(r.ok).toBe(e?.state === 'held' && e.expiresAt > now)
            break
          }
          case 'release': l.release(o.key); break
          case 'finish': l.finish(o.key); break
          case 'renew': l.renew(o.key, now, o.lease); break
          case 'expire': {
            for (const k of l.expire(now)) expect(l.get(k)).toBeUndefined()
            for (const e of l.entries()) expect(e.state === 'allocated' || e.expiresAt > now).toBe(true)
            break
          }
        }
        // The invariant, and that the running sums agree with the entries.
        expect(fits(addResources(l.allocated(), l.held()), capacity)).toBe(true)
        const sum = [...l.entries()].reduce((s, e) => addResources(s, e.demand), {})
        expect(fits(sum, addResources(l.allocated(), l.held())) && fits(addResources(l.allocated(), l.held()), sum)).toBe(true)
      }
    }), { numRuns: 150 })
  })
})
