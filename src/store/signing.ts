import type { PrivateKey } from '@libp2p/interface'
import { encodeRecord, signingPayload, type RecordHeader } from './record.js'

/** Signs a header and body with the writer's libp2p key and returns the record bytes. */
export async function signRecord (key: PrivateKey, header: RecordHeader, body: Uint8Array): Promise<Uint8Array> {
  const signature = await key.sign(signingPayload(header, body))
  return encodeRecord(header, body, signature)
}
