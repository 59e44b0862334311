import { CodecError } from './errors.js'

/**
 * Checkpoint encoding of js tasks. A checkpoint travels as bytes (DHT record); js tasks may
 * checkpoint any JSON value or a Uint8Array, so the bytes carry a one-byte tag:
 *
 *   0x01 <UTF-8 JSON>   a JSON value
 *   0x02 <raw bytes>    a Uint8Array, as is
 *
 * Exec tasks write `$BIDMESH_CHECKPOINT_FILE` themselves; their bytes are uploaded untagged.
 */
export const CHECKPOINT_TAG_JSON = 0x01
export const CHECKPOINT_TAG_BYTES = 0x02


export function encodeCheckpoint (state: unknown): Uint8Array {
  if (state instanceof Uint8Array) {
    const out = new Uint8Array(state.byteLength + 1)
    out[0] = CHECKPOINT_TAG_BYTES
    out.set(state, 1)
    return out
  }
  const json = new TextEncoder().encode(toJson(state, 'checkpoint state'))
  const out = new Uint8Array(json.byteLength + 1)
  out[0] = CHECKPOINT_TAG_JSON
  out.set(json, 1)
  return out
}

export function decodeCheckpoint (bytes: Uint8Array): unknown {
  const tag = bytes[0]
  const body = bytes.subarray(1)
  if (tag === CHECKPOINT_TAG_BYTES) return body.slice()
  if (tag === CHECKPOINT_TAG_JSON) {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
    } catch (err) {
      throw new CodecError(`checkpoint is not valid JSON: ${(err as Error).message}`)
    }
  }
  throw new CodecError(tag === undefined ? 'checkpoint is empty' : `checkpoint has unknown tag 0x${tag.toString(16).padStart(2, '0')} (not written by a js task?)`)
}

/**
 * JSON text of a value that must survive a JSON round trip unchanged: null, booleans, finite
 * numbers, strings, arrays and plain objects. Anything else (a Map, a Date, a class instance,
 * NaN, a bigint, undefined inside an array) is refused with the path to it, rather than silently
 * turned into something else. `undefined` at the top is `null`.
 */
export function toJson (value: unknown, what: string): string {
  check(value, what, 0)
  return JSON.stringify(value ?? null)
}

function check (v: unknown, path: string, depth: number): void {
  if (depth > 256) throw new CodecError(`${path} is nested too deep`)
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CodecError(`${path} is ${v}, which JSON cannot carry`)
    return
  }
  if (v === undefined && depth === 0) return
  if (Array.isArray(v)) {
    v.forEach((x, i) => { check(x, `${path}[${i}]`, depth + 1) })
    return
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) {
      throw new CodecError(`${path} is a ${v.constructor?.name ?? 'non-plain object'}; only JSON values${depth === 0 ? ' or a Uint8Array' : ''} are allowed`)
    }
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue // JSON drops it, as the task would expect
      check(x, `${path}.${k}`, depth + 1)
    }
    return
  }
  throw new CodecError(`${path} is ${v === undefined ? 'undefined' : `a ${typeof v}`}, which JSON cannot carry`)
}
