import { heartbeatSchema, MAX_ADVERT_BYTES, nodeAdvertSchema, type Heartbeat, type NodeAdvert } from '../core/advert.js'

export type AdvertDropReason = 'oversize' | 'malformed' | 'forged'

export type DecodedAdvert =
  | { ok: true, advert: NodeAdvert }
  | { ok: true, heartbeat: Heartbeat }
  | { ok: false, reason: AdvertDropReason, detail: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeAdvert (advert: NodeAdvert | Heartbeat): Uint8Array {
  return encoder.encode(JSON.stringify(advert))
}

/**
 * Decodes an advert received from `from` (the gossipsub-signed origin). Never throws: a bad
 * advert is a value, so one hostile peer cannot crash the node or poison its view.
 */
export function decodeAdvert (data: Uint8Array, from: string): DecodedAdvert {
  if (data.byteLength > MAX_ADVERT_BYTES) {
    return { ok: false, reason: 'oversize', detail: `${data.byteLength} bytes > ${MAX_ADVERT_BYTES}` }
  }
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(data))
  } catch (err: any) {
    return { ok: false, reason: 'malformed', detail: `not JSON: ${err.message}` }
  }
  const isBeat = typeof json === 'object' && json !== null && 'hb' in json
  const parsed = isBeat ? heartbeatSchema.safeParse(json) : nodeAdvertSchema.safeParse(json)
  if (!parsed.success) {
    return { ok: false, reason: 'malformed', detail: parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ') }
  }
  // The gossipsub signature proves who sent it; an advert claiming to be another peer is forged.
  if (parsed.data.peer !== from) {
    return { ok: false, reason: 'forged', detail: `advert for ${parsed.data.peer} signed by ${from}` }
  }
  return 'hb' in parsed.data ? { ok: true, heartbeat: parsed.data } : { ok: true, advert: parsed.data }
}
