import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { compareRecordBytes, decodeRecord, encodeRecord, parseRecordKey, recordKey, signingPayload, type RecordHeader } from '../../src/store/record.js'
import { signRecord } from '../../src/store/signing.js'
import { bidmeshSelector, bidmeshValidator, verifyRecord } from '../../src/store/validators.js'

let alice: PrivateKey
let mallory: PrivateKey
const author = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
const header = (k: PrivateKey, over: Partial<RecordHeader> = {}): RecordHeader => ({ kind: 'ckpt', id: 'task-1', attempt: 1, seq: 1, at: 1000, author: author(k), ...over })
const body = new TextEncoder().encode('checkpoint bytes')
const key = recordKey('ckpt', 'task-1')

beforeAll(async () => {
  alice = await generateKeyPair('Ed25519')
  mallory = await generateKeyPair('Ed25519')
})

describe('record codec', () => {
  it('round-trips header and body, and the signature covers them', async () => {
    const bytes = await signRecord(alice, header(alice), body)
    const rec = decodeRecord(bytes)
    expect(rec.header).toEqual(header(alice))
    expect(rec.body).toEqual(body)
    expect(rec.signed).toEqual(signingPayload(header(alice), body))
  })

  it('keys are /bidmesh/<kind>/<id> and parse back', () => {
    expect(new TextDecoder().decode(recordKey('est', 'a/b:c'))).toBe('/bidmesh/est/a/b:c')
    expect(parseRecordKey(recordKey('est', 'a/b:c'))).toEqual({ kind: 'est', id: 'a/b:c' })
    expect(parseRecordKey(new TextEncoder().encode('/bidmesh/nope/x'))).toBeUndefined()
    expect(parseRecordKey(new TextEncoder().encode('/bidmesh/task/'))).toBeUndefined()
    expect(parseRecordKey(new TextEncoder().encode('/other/task/x'))).toBeUndefined()
  })

  it.each([
    ['empty', new Uint8Array(0), /not a bidmesh v1 record/],
    ['wrong magic', Uint8Array.from([1, 2, 3]), /not a bidmesh v1 record/],
    ['truncated', Uint8Array.from([0x42, 0x01, 50, 1, 2]), /runs past the end/]
  ])('refuses %s bytes', (_name, bytes, message) => {
    expect(() => decodeRecord(bytes)).toThrow(message)
  })

  it.each<[string, Partial<RecordHeader> | Record<string, unknown>, RegExp]>([
    ['negative attempt', { attempt: -1 }, /attempt must be a non-negative safe integer/],
    ['fractional seq', { seq: 1.5 }, /seq must be/],
    ['unknown kind', { kind: 'nope' }, /kind must be one of/],
    ['empty id', { id: '' }, /id is empty/],
    ['negative at', { at: -5 }, /at must be/]
  ])('refuses a header with %s', (_name, over, message) => {
    const bad = encodeRecord({ ...header(alice), ...over }, body, new Uint8Array(64))
    expect(() => decodeRecord(bad)).toThrow(message)
  })
})

describe('validator', () => {
  it.each<[string, () => Promise<[Uint8Array, Uint8Array]>, string | undefined]>([
    ['a good record', async () => [key, await signRecord(alice, header(alice), body)], undefined],
    ['a bad signature', async () => {
      const b = await signRecord(alice, header(alice), body)
      b[b.length - 1]! ^= 1
      return [key, b]
    }, 'signature'],
    ['a wrong author (signed by another key)', async () => [key, await signRecord(mallory, header(alice), body)], 'signature'],
    ['a key naming another id', async () => [recordKey('ckpt', 'task-2'), await signRecord(alice, header(alice), body)], 'another key'],
    ['a key naming another kind', async () => [recordKey('result', 'task-1'), await signRecord(alice, header(alice), body)], 'another key'],
    ['an author that is not a peer id', async () => [key, await signRecord(alice, header(alice, { author: 'not-a-peer' }), body)], 'not a peer id'],
    ['an oversized record', async () => [key, await signRecord(alice, header(alice), new Uint8Array(2000))], 'over the 1024-byte limit']
  ])('%s', async (_name, make, refusal) => {
    const [k, v] = await make()
    const validate = bidmeshValidator({ maxRecordBytes: 1024 })
    if (refusal === undefined) await expect(validate(k, v)).resolves.toBeUndefined()
    else await expect(validate(k, v)).rejects.toThrow(refusal)
  })

  it('fences: refuses a record older than the held copy, accepts newer and identical ones', async () => {
    const held = await signRecord(alice, header(alice, { attempt: 2, seq: 1 }), body)
    const validate = bidmeshValidator({ local: async () => held })
    await expect(validate(key, await signRecord(mallory, header(mallory, { attempt: 1, seq: 99 }), body))).rejects.toThrow(/stale record/)
    await expect(validate(key, await signRecord(alice, header(alice, { attempt: 2, seq: 0 }), body))).rejects.toThrow(/stale record/)
    await expect(validate(key, held)).resolves.toBeUndefined()
    await expect(validate(key, await signRecord(mallory, header(mallory, { attempt: 2, seq: 2 }), body))).resolves.toBeUndefined()
    await expect(validate(key, await signRecord(mallory, header(mallory, { attempt: 3, seq: 0 }), body))).resolves.toBeUndefined()
  })

  it('a held copy that does not verify cannot fence good records', async () => {
    const forged = await signRecord(mallory, header(alice, { attempt: 9 }), body)
    const validate = bidmeshValidator({ local: async () => forged })
    await expect(validate(key, await signRecord(alice, header(alice, { attempt: 1 }), body))).resolves.toBeUndefined()
  })

  it('verifyRecord returns the decoded record', async () => {
    const rec = await verifyRecord(key, await signRecord(alice, header(alice, { seq: 7 }), body))
    expect(rec.header.seq).toBe(7)
  })
})

describe('selector', () => {
  const versions = fc.array(fc.record({ attempt: fc.nat(5), seq: fc.nat(5), at: fc.nat(3) }), { minLength: 1, maxLength: 8 })

  it('keeps the highest (attempt, seq) whatever the order, and every order picks the same bytes', async () => {
    await fc.assert(fc.asyncProperty(versions, fc.infiniteStream(fc.nat()), async (vs, rand) => {
      const records = await Promise.all(vs.map(async v => await signRecord(alice, header(alice, v), body)))
      const pick = records[await bidmeshSelector(key, records)]!
      const top = decodeRecord(pick).header
      for (const v of vs) expect(v.attempt < top.attempt || (v.attempt === top.attempt && v.seq <= top.seq)).toBe(true)
      const r = rand[Symbol.iterator]()
      const shuffled = records.map(b => ({ b, k: r.next().value as number })).sort((x, y) => x.k - y.k).map(x => x.b)
      expect(shuffled[await bidmeshSelector(key, shuffled)]).toEqual(pick)
    }), { numRuns: 50 })
  })

  it('an undecodable record never wins over a good one', async () => {
    const good = await signRecord(alice, header(alice), body)
    const junk = Uint8Array.from([0xff, 0xff, 0xff])
    expect(await bidmeshSelector(key, [junk, good])).toBe(1)
    expect(compareRecordBytes(junk, good)).toBe(-1)
  })
})
