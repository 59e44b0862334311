import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ADVERT_VERSION, MAX_ADVERT_BYTES, type NodeAdvert } from '../../src/core/advert.js'
import { decodeAdvert, encodeAdvert } from '../../src/gossip/advert-codec.js'

const good: NodeAdvert = {
  v: ADVERT_VERSION, peer: 'peerA', seq: 5, capacity: { cpu: 2000, memMb: 4096, gpu: 0 }, free: { cpu: 1000, memMb: 2048 },
  labels: { zone: 'a' }, usageByFramework: { analytics: { cpu: 1000, memMb: 2048 } }, pendingByFramework: {}, runningCount: 1,
  running: [{ id: 't-1', attempt: 1 }], pending: [], allowExec: true, addrs: ['/ip4/127.0.0.1/tcp/1/p2p/peerA'], api: 'http://127.0.0.1:7070', ts: 5
}

describe('advert codec', () => {
  it('round-trips a valid advert', () => {
    expect(decodeAdvert(encodeAdvert(good), 'peerA')).toEqual({ ok: true, advert: good })
  })

  it.each<[string, unknown, string]>([
    ['negative amount', { ...good, free: { cpu: -1 } }, 'malformed'],
    ['unknown version', { ...good, v: 2 }, 'malformed'],
    ['unknown field', { ...good, extra: 1 }, 'malformed'],
    ['missing seq', { ...good, seq: undefined }, 'malformed'],
    ['non-integer seq', { ...good, seq: 1.5 }, 'malformed'],
    ['too many running ids', { ...good, running: Array.from({ length: 201 }, (_, i) => ({ id: `t-${i}`, attempt: 1 })) }, 'malformed'],
    ['another peer\'s id', { ...good, peer: 'peerB' }, 'forged']
  ])('drops %s as %s', (_name, value, reason) => {
    const r = decodeAdvert(new TextEncoder().encode(JSON.stringify(value)), 'peerA')
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toBe(reason)
  })

  it('drops oversize data without parsing it', () => {
    const r = decodeAdvert(new Uint8Array(MAX_ADVERT_BYTES + 1), 'peerA')
    expect(r).toMatchObject({ ok: false, reason: 'oversize' })
  })

  it('never throws on arbitrary bytes or JSON (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => {
      expect(decodeAdvert(bytes, 'peerA').ok).toBe(false)
    }))
    fc.assert(fc.property(fc.jsonValue(), value => {
      const r = decodeAdvert(new TextEncoder().encode(JSON.stringify(value)), 'peerA')
      expect(typeof r.ok).toBe('boolean')
    }))
  })
})

describe('heartbeats', () => {
  it('round-trips and is checked for forgery like an advert', () => {
    const beat = { v: ADVERT_VERSION as typeof ADVERT_VERSION, peer: 'peerA', seq: 9, hb: 1 as const }
    expect(decodeAdvert(encodeAdvert(beat), 'peerA')).toEqual({ ok: true, heartbeat: beat })
    expect(decodeAdvert(encodeAdvert(beat), 'peerB')).toMatchObject({ ok: false, reason: 'forged' })
    expect(decodeAdvert(new TextEncoder().encode(JSON.stringify({ ...beat, hb: 2 })), 'peerA')).toMatchObject({ ok: false, reason: 'malformed' })
  })
})
