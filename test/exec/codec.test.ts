import { describe, expect, it } from 'vitest'
import { CodecError, decodeCheckpoint, encodeCheckpoint, toJson } from '../../src/exec/index.js'

describe('checkpoint codec', () => {
  it.each([null, 0, 'text', [1, 'two', { three: 3 }], { nested: { deep: [true, false] } }])('round-trips %j', value => {
    const bytes = encodeCheckpoint(value)
    expect(bytes[0]).toBe(0x01)
    expect(decodeCheckpoint(bytes)).toEqual(value)
  })

  it('round-trips bytes with tag 0x02, and undefined as null', () => {
    const bytes = encodeCheckpoint(new Uint8Array([0, 255]))
    expect([...bytes]).toEqual([0x02, 0, 255])
    expect(decodeCheckpoint(bytes)).toEqual(new Uint8Array([0, 255]))
    expect(decodeCheckpoint(encodeCheckpoint(undefined))).toBeNull()
  })

  it('refuses what JSON would change, naming the path', () => {
    expect(() => toJson({ a: [1, new Date(0)] }, 'state')).toThrow('state.a[1] is a Date')
    expect(() => toJson({ n: Infinity }, 'state')).toThrow('state.n is Infinity')
    expect(() => toJson([undefined], 'state')).toThrow('state[0] is undefined')
    expect(() => toJson(10n, 'state')).toThrow('state is a bigint')
    expect(toJson({ a: undefined, b: Object.create(null) }, 'state')).toBe('{"b":{}}')
  })

  it('reports bad checkpoints clearly', () => {
    expect(() => decodeCheckpoint(new Uint8Array())).toThrow(CodecError)
    expect(() => decodeCheckpoint(new Uint8Array([7, 1]))).toThrow('unknown tag 0x07')
    expect(() => decodeCheckpoint(new Uint8Array([1, 0x7b]))).toThrow(/not valid JSON/)
  })
})
