import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { parseAuctionMessage, MAX_BATCH_TASKS } from '../../src/bidding/messages.js'
import { decodeAuctionMessage, encodeAuctionMessage } from '../../src/bidding/codec.js'
import { validMessages } from './fixtures.js'

const cfb = validMessages[0] as unknown as Record<string, any>

describe('auction messages', () => {
  it.each(validMessages.map(msg => ({ type: msg.type, msg })))('accepts a valid $type and round-trips it through bytes', ({ msg }) => {
    expect(parseAuctionMessage(msg)).toEqual({ ok: true, msg })
    expect(decodeAuctionMessage(encodeAuctionMessage(msg))).toEqual({ ok: true, msg })
  })

  it.each(([
    ['unknown type', { ...cfb, type: 'hello' }, 'type'],
    ['other version', { ...cfb, v: 2 }, 'v'],
    ['extra field', { ...cfb, extra: 1 }, ''],
    ['no tasks', { ...cfb, tasks: [] }, 'tasks'],
    ['negative demand', { ...cfb, tasks: [{ ...cfb.tasks[0], demand: { cpu: -1 } }] }, 'tasks[0].demand.cpu'],
    ['attempt 0', { ...cfb, tasks: [{ ...cfb.tasks[0], attempt: 0 }] }, 'tasks[0].attempt'],
    ['bad framework', { ...cfb, tasks: [{ ...cfb.tasks[0], framework: '../x' }] }, 'tasks[0].framework'],
    ['unknown kind', { ...cfb, tasks: [{ ...cfb.tasks[0], kind: 'wasm' }] }, 'tasks[0].kind'],
    ['lease too long', { ...cfb, leaseMs: 10 * 60_000 }, 'leaseMs'],
    ['duplicate task', { ...cfb, tasks: [cfb.tasks[0], cfb.tasks[0]] }, ''],
    ['too many tasks', { ...cfb, tasks: Array.from({ length: MAX_BATCH_TASKS + 1 }, (_, i) => ({ ...cfb.tasks[0], task: `t-${i}` })) }, 'tasks'],
    ['long reason', { type: 'bids', v: 1, auction: 'a', leaseMs: 1, bids: [], declines: [{ task: 't', attempt: 1, reason: 'x'.repeat(1000), retryable: true }] }, 'declines[0].reason'],
    ['bid and decline of one task', { type: 'bids', v: 1, auction: 'a', leaseMs: 1, bids: [{ task: 't', attempt: 1, score: 1 }], declines: [{ task: 't', attempt: 1, reason: 'x', retryable: true }] }, ''],
    ['not an object', 'cfb', '']
  ] satisfies Array<[string, unknown, string]>).map(([name, input, path]) => ({ name, input, path })))('rejects $name with an error value naming "$path"', ({ input, path }) => {
    const r = parseAuctionMessage(input)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.error.name).toBe('ValidationError')
    expect(r.error.issues.map(i => i.path)).toContain(path)
  })

  it('drops __proto__ keys instead of setting a prototype', () => {
    const r = parseAuctionMessage(JSON.parse('{"type":"cfb","v":1,"auction":"a","from":"p","leaseMs":1,"tasks":[{"task":"t","attempt":1,"framework":"A","demand":{"__proto__":{"cpu":1},"memMb":1},"constraints":{"__proto__":"x"},"priority":0,"submittedAt":0,"kind":"js","placement":"spread"}]}'))
    expect(r.ok).toBe(true)
    if (!r.ok || r.msg.type !== 'cfb') return
    expect(Object.getPrototypeOf(r.msg.tasks[0]?.demand)).toBe(Object.prototype)
    expect(r.msg.tasks[0]?.demand).toEqual({ memMb: 1 })
    expect(r.msg.tasks[0]?.demand.cpu).toBeUndefined()
  })

  it('rejects oversized, non-UTF-8 and non-JSON frames', () => {
    expect(decodeAuctionMessage(new Uint8Array(10), 5).ok).toBe(false)
    expect(decodeAuctionMessage(new Uint8Array([0xff, 0xfe, 0x7b])).ok).toBe(false)
    expect(decodeAuctionMessage(new TextEncoder().encode('{"type":')).ok).toBe(false)
  })

  it('never throws on arbitrary values (fuzz)', () => {
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withObjectString: true, withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true }), input => {
      const r = parseAuctionMessage(input)
      expect(typeof r.ok).toBe('boolean')
    }), { numRuns: 300 })
  })

  it('never throws on random bytes (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), bytes => {
      expect(typeof decodeAuctionMessage(bytes).ok).toBe('boolean')
    }), { numRuns: 300 })
  })

  it('never throws on mutations of valid messages, and whatever it accepts is valid (fuzz)', () => {
    const leaf = fc.oneof(fc.anything(), fc.constantFrom(-1, 0, 1e300, Number.NaN, Number.POSITIVE_INFINITY, '', '__proto__', null, [], {}))
    const mutation = fc.tuple(fc.nat(), fc.constantFrom('set', 'delete', 'add', 'duplicate'), leaf, fc.string({ maxLength: 12 }))
    fc.assert(fc.property(fc.constantFrom(...validMessages), fc.array(mutation, { minLength: 1, maxLength: 4 }), (msg, mutations) => {
      const copy = structuredClone(msg) as unknown
      for (const m of mutations) mutate(copy, m)
      const r = parseAuctionMessage(copy)
      // An award's `spec` is opaque here (the bidder checks it); it cannot be cyclic once it came off the wire.
      const wire = r.ok ? safeEncode(r.msg) : undefined
      if (wire !== undefined) expect(decodeAuctionMessage(wire).ok).toBe(true)
      const bytes = safeEncode(copy)
      if (bytes !== undefined) expect(typeof decodeAuctionMessage(bytes).ok).toBe('boolean')
    }), { numRuns: Number(process.env.FUZZ_RUNS ?? 500) })
  })
})

type Mutation = [pick: number, op: 'set' | 'delete' | 'add' | 'duplicate', value: unknown, key: string]

/** Applies one mutation at a node of the message tree chosen by `pick`. */
function mutate (root: unknown, [pick, op, value, key]: Mutation): void {
  const nodes: Array<Record<string, unknown> | unknown[]> = []
  const seen = new Set<unknown>()
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return
    seen.add(v)
    nodes.push(v as Record<string, unknown>)
    for (const c of Object.values(v)) walk(c)
  }
  walk(root)
  const node = nodes[pick % nodes.length]
  if (node === undefined) return
  const keys = Object.keys(node)
  const k = keys.length > 0 ? keys[pick % keys.length] as string : key
  const target = node as Record<string, unknown>
  try {
    if (op === 'set') target[k] = value
    else if (op === 'delete') delete target[k]
    else if (op === 'add') Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true })
    else if (Array.isArray(node) && node.length > 0) node.push(structuredCloneSafe(node[0]))
  } catch {
    // JS refuses some edits (an array length of "!"): skip that mutation.
  }
}

function structuredCloneSafe (v: unknown): unknown {
  try { return structuredClone(v) } catch { return v }
}

function safeEncode (v: unknown): Uint8Array | undefined {
  try { return new TextEncoder().encode(JSON.stringify(v)) } catch { return undefined }
}
