import { describe, expect, it } from 'vitest'
import { ADVERT_VERSION, type NodeAdvert } from '../../src/core/advert.js'
import { ClusterView } from '../../src/gossip/cluster-view.js'

const advert = (peer: string, seq: number, cpu = 1000): NodeAdvert => ({
  v: ADVERT_VERSION, peer, seq, capacity: { cpu }, free: { cpu }, labels: {}, usageByFramework: {}, pendingByFramework: {}, runningCount: 0,
  running: [], pending: [], allowExec: false, addrs: [], api: '', ts: seq
})

const opts = { suspectAfterMs: 1500, deadAfterMs: 2500, forgetAfterMs: 60_000 }

describe('ClusterView under an injected clock', () => {
  it('a first advert makes a peer alive; older or equal seq is stale and ignored', () => {
    const v = new ClusterView('self', opts)
    expect(v.onAdvert(advert('a', 10), 0)).toEqual({ peer: 'a', from: 'unknown', to: 'alive', reason: 'first advert' })
    expect(v.onAdvert(advert('a', 10, 5), 1)).toBe('stale')
    expect(v.onAdvert(advert('a', 9, 5), 1)).toBe('stale')
    expect(v.get('a')?.advert.capacity).toEqual({ cpu: 1000 })
    expect(v.onAdvert(advert('a', 11, 2000), 2)).toBeUndefined()
    expect(v.get('a')?.advert.capacity).toEqual({ cpu: 2000 })
  })

  it.each([
    { silentFor: 1000, status: 'alive' },
    { silentFor: 1501, status: 'suspect' },
    { silentFor: 2501, status: 'dead' }
  ])('silent for $silentFor ms → $status', ({ silentFor, status }) => {
    const v = new ClusterView('self', opts)
    v.onAdvert(advert('a', 1), 0)
    for (let t = 0; t <= silentFor; t += 100) v.tick(t)
    v.tick(silentFor)
    expect(v.status('a')).toBe(status)
  })

  it('suspect → alive when the peer answers a ping; suspect → dead when it does not', () => {
    const v = new ClusterView('self', opts)
    v.onAdvert(advert('a', 1), 0)
    v.onAdvert(advert('b', 1), 0)
    expect(v.tick(1600).map(c => [c.peer, c.to])).toEqual([['a', 'suspect'], ['b', 'suspect']])
    expect(v.onHeardFrom('a', 1700)?.to).toBe('alive')
    expect(v.onUnreachable('b', 1700, 'ping failed')?.to).toBe('dead')
    expect(v.get('b')?.reason).toBe('ping failed')
    // Heard-from refreshes the silence clock: a is not suspect again until 1500 ms later.
    expect(v.tick(3000).length).toBe(0)
    expect(v.status('a')).toBe('alive')
  })

  it('a dead peer comes back with a newer advert, and never through a ping alone', () => {
    const v = new ClusterView('self', opts)
    v.onAdvert(advert('a', 1), 0)
    v.onUnreachable('a', 10, 'connection closed and redial failed')
    expect(v.onHeardFrom('a', 20)).toBeUndefined()
    expect(v.status('a')).toBe('dead')
    expect(v.onAdvert(advert('a', 1), 30)).toBe('stale')
    expect(v.onAdvert(advert('a', 5), 40)).toEqual({ peer: 'a', from: 'dead', to: 'alive', reason: 'came back' })
  })

  it('heartbeats keep a known peer alive; a beat from an unknown peer waits for its advert', () => {
    const v = new ClusterView('self', opts)
    expect(v.onHeartbeat('a', 5, 0)).toBe('unknown')
    v.onAdvert(advert('a', 5), 0)
    expect(v.onHeartbeat('a', 5, 100)).toBe('stale')
    for (let t = 0; t <= 5000; t += 1000) {
      expect(v.onHeartbeat('a', 6 + t, t)).toBeUndefined()
      v.tick(t + 999)
      expect(v.status('a')).toBe('alive')
    }
    // A beat is newer than the advert it follows, so an advert with an older seq is stale.
    expect(v.onAdvert(advert('a', 7), 6000)).toBe('stale')
    for (let t = 6000; t <= 9000; t += 250) v.tick(t)
    expect(v.status('a')).toBe('dead')
    expect(v.onHeartbeat('a', 8000, 9100)).toEqual({ peer: 'a', from: 'dead', to: 'alive', reason: 'came back' })
  })

  it('a freeze of this node is not counted as its peers\' silence', () => {
    const v = new ClusterView('self', opts)
    v.onAdvert(advert('a', 1), 0)
    v.onAdvert(advert('b', 1), 0)
    for (let t = 0; t <= 1000; t += 250) v.tick(t)
    // Frozen (SIGSTOP) for 10 s: the next tick comes late. Nobody is declared dead for it...
    expect(v.tick(11_000)).toEqual([])
    expect(v.status('a')).toBe('alive')
    // ...but a peer that stays silent after the thaw still is, on the usual schedule.
    v.onHeartbeat('b', 2, 11_100)
    for (let t = 11_250; t <= 13_500; t += 250) v.tick(t)
    expect(v.status('a')).toBe('dead')
    expect(v.status('b')).not.toBe('dead')
  })

  it('never marks itself suspect or dead, and forgets long-dead peers', () => {
    const v = new ClusterView('self', opts)
    v.onAdvert(advert('self', 1), 0)
    v.onAdvert(advert('a', 1), 0)
    expect(v.onUnreachable('self', 1, 'x')).toBeUndefined()
    v.tick(10_000)
    expect(v.status('self')).toBe('alive')
    expect(v.status('a')).toBe('dead')
    v.tick(10_000 + 60_001)
    expect(v.get('a')).toBeUndefined()
  })
})
