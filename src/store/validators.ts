import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'
import type { PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { equals } from 'uint8arrays/equals'
import { compareRecordBytes, decodeRecord, parseRecordKey, type DecodedRecord } from './record.js'

/** The DHT namespace of every bidmesh record: keys are `/bidmesh/<kind>/<id>`. */
export const DHT_NAMESPACE = 'bidmesh'
/** The default largest record (encoded, signature included) a node writes or accepts. */
export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024

/** A record this node will not store or return; the message says why. Matched by `.name`. */
export class RecordRefusedError extends Error {
  constructor (message: string, readonly reason: 'size' | 'format' | 'key' | 'author' | 'signature' | 'stale') {
    super(message)
    this.name = 'RecordRefusedError'
  }
}

const authorKeys = new Map<string, PublicKey | undefined>()

/** The public key behind a peer id string; Ed25519 peer ids embed it. Cached: few authors, many records. */
function authorKey (author: string): PublicKey | undefined {
  if (authorKeys.has(author)) return authorKeys.get(author)
  let key: PublicKey | undefined
  try { key = peerIdFromString(author).publicKey } catch { key = undefined }
  if (authorKeys.size > 10_000) authorKeys.clear()
  authorKeys.set(author, key)
  return key
}

/**
 * Checks everything a record carries on its own: size, format, that the key names the header's
 * kind and id, and the author's signature. Returns the decoded record; throws RecordRefusedError.
 */
export async function verifyRecord (key: Uint8Array, value: Uint8Array, maxBytes = DEFAULT_MAX_RECORD_BYTES): Promise<DecodedRecord> {
  if (value.byteLength > maxBytes) throw new RecordRefusedError(`record of ${value.byteLength} bytes is over the ${maxBytes}-byte limit`, 'size')
  let rec: DecodedRecord
  try { rec = decodeRecord(value) } catch (err: any) { throw new RecordRefusedError(`malformed record: ${err.message}`, 'format') }
  const named = parseRecordKey(key)
  if (named === undefined || named.kind !== rec.header.kind || named.id !== rec.header.id) {
    throw new RecordRefusedError(`record for ${rec.header.kind}/${rec.header.id} stored under another key`, 'key')
  }
  const pub = authorKey(rec.header.author)
  if (pub === undefined) throw new RecordRefusedError(`author ${rec.header.author} is not a peer id with an embedded public key`, 'author')
  if (!(await pub.verify(rec.signed, rec.signature))) {
    throw new RecordRefusedError(`signature of ${rec.header.kind}/${rec.header.id} does not verify for author ${rec.header.author}`, 'signature')
  }
  return rec
}

export interface BidmeshValidatorInit {
  /** @default DEFAULT_MAX_RECORD_BYTES */
  maxRecordBytes?: number
  /**
   * This node's stored copy of a key (record value bytes), for fencing. kad-dht's PUT_VALUE
   * handler overwrites its copy with whatever validates, so without this a stale writer could
   * roll replicas back to an older attempt.
   */
  local?: (key: Uint8Array) => Promise<Uint8Array | undefined>
}

/**
 * The kad-dht validator for `/bidmesh/`. Throwing refuses the record: an incoming PUT is not
 * stored, a GET answer is discarded. Besides `verifyRecord` it refuses a record that sorts below
 * the copy this node already holds (fencing). kad-dht also runs it on records in GET answers;
 * there a refusal only drops that (older) answer, and the store repairs the peer that sent it.
 */
export function bidmeshValidator (init: BidmeshValidatorInit | number = {}): ValidateFn {
  const opts = typeof init === 'number' ? { maxRecordBytes: init } : init
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  return async (key, value) => {
    const rec = await verifyRecord(key, value, max)
    const held = await opts.local?.(key)
    if (held === undefined || equals(held, value) || compareRecordBytes(value, held) >= 0) return
    // Only a held copy that itself verifies may fence: an unchecked local write must not block good records.
    const heldOk = await verifyRecord(key, held, Number.MAX_SAFE_INTEGER).then(() => true, () => false)
    if (heldOk) {
      throw new RecordRefusedError(`stale record for ${rec.header.kind}/${rec.header.id}: attempt ${rec.header.attempt} seq ${rec.header.seq} is older than the copy held here`, 'stale')
    }
  }
}

/** Keeps the highest `(attempt, seq)` (ties broken by bytes, so every replica picks the same one). */
export const bidmeshSelector: SelectFn = (_key, records) => {
  let best = 0
  for (let i = 1; i < records.length; i++) {
    if (compareRecordBytes(records[i]!, records[best]!) > 0) best = i
  }
  return best
}
