import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'

/** The DHT namespace of every bidmesh record: keys are `/bidmesh/<kind>/<id>`. */
export const DHT_NAMESPACE = 'bidmesh'
/** The default largest record a node accepts; bigger puts fail where they are written. */
export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024

interface Versioned { attempt: number, seq: number }

function decodeVersioned (value: Uint8Array): Versioned | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(value)) as Partial<Versioned>
    if (typeof v.attempt === 'number' && typeof v.seq === 'number') return { attempt: v.attempt, seq: v.seq }
  } catch {}
  return undefined
}

/**
 * Checks size and shape of a `/bidmesh/` record before this node stores or serves it.
 * Throwing makes kad-dht refuse the PUT, so a malformed record never spreads.
 */
export function bidmeshValidator (maxBytes = DEFAULT_MAX_RECORD_BYTES): ValidateFn {
  return (_key, value) => {
    if (value.byteLength > maxBytes) throw new Error(`record of ${value.byteLength} bytes is over the ${maxBytes}-byte limit`)
    if (decodeVersioned(value) === undefined) throw new Error('record is not a versioned bidmesh record')
  }
}

/** Keeps the record with the highest `(attempt, seq)`: newer attempts fence older ones. */
export const bidmeshSelector: SelectFn = (_key, records) => {
  let best = 0
  let bestV: Versioned = { attempt: -1, seq: -1 }
  records.forEach((r, i) => {
    const v = decodeVersioned(r)
    if (v !== undefined && (v.attempt > bestV.attempt || (v.attempt === bestV.attempt && v.seq > bestV.seq))) {
      best = i
      bestV = v
    }
  })
  return best
}
