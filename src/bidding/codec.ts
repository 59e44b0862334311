import { ValidationError } from '../core/errors.js'
import { MAX_AUCTION_MESSAGE_BYTES, parseAuctionMessage, type AuctionMessage, type ParseResult } from './messages.js'

const encoder = new TextEncoder()
// `fatal` turns invalid UTF-8 into an error (caught below) instead of silent replacement characters.
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Encodes a message as UTF-8 JSON: the payload of one length-prefixed frame. */
export function encodeAuctionMessage (msg: AuctionMessage): Uint8Array {
  return encoder.encode(JSON.stringify(msg))
}

/**
 * Decodes one frame's payload: size check before reading, then UTF-8, JSON and the schema.
 * Returns an error value for anything malformed; never throws.
 */
export function decodeAuctionMessage (bytes: Uint8Array, maxBytes = MAX_AUCTION_MESSAGE_BYTES): ParseResult {
  if (bytes.byteLength > maxBytes) {
    return fail(`message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`)
  }
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(bytes))
  } catch {
    return fail('not UTF-8 JSON')
  }
  return parseAuctionMessage(json)
}

function fail (message: string): ParseResult {
  return { ok: false, error: new ValidationError('auction message', [{ path: '', message }]) }
}
