import * as varint from 'uint8-varint'

/**
 * The wire form of a bidmesh DHT record. Pure codec: no I/O, no crypto (signing is in
 * `signing.ts`), so it can be table-tested and used by the validator, selector and store alike.
 *
 *   'B' 0x01 | varint len | header JSON | varint len | body | varint len | signature
 *
 * The signature covers `SIGNING_DOMAIN` followed by every byte before the signature, so it binds
 * the header (kind, id, attempt, seq, author) to the body and cannot be replayed in another
 * protocol. Binary rather than JSON so a 256 KiB checkpoint body is not inflated by base64.
 */

export type RecordKind = 'task' | 'ckpt' | 'result' | 'wf' | 'est'
export const RECORD_KINDS: readonly RecordKind[] = ['task', 'ckpt', 'result', 'wf', 'est']

export interface RecordHeader {
  kind: RecordKind
  id: string
  attempt: number
  seq: number
  /** The writer's clock (ms since epoch) when it wrote; informative only, never used to order. */
  at: number
  /** Peer id (string) of the writer; its Ed25519 public key is recoverable from it. */
  author: string
}

export interface SignedRecord extends RecordHeader {
  body: Uint8Array
}

/** A decoded record with the bytes its signature covers. */
export interface DecodedRecord {
  header: RecordHeader
  body: Uint8Array
  signature: Uint8Array
  /** The bytes the signature was made over (domain prefix included). */
  signed: Uint8Array
}

/** A record's bytes do not follow the format; the message says which part. */
export class RecordFormatError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'RecordFormatError'
  }
}

const MAGIC = [0x42, 0x01]
const SIGNING_DOMAIN = new TextEncoder().encode('bidmesh-record/v1\n')
const KEY_PREFIX = '/bidmesh/'
/** Ids are free-form (task ids, estimate keys) but bounded, so keys stay small. */
export const MAX_ID_BYTES = 512

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

/** The DHT key of a record: `/bidmesh/<kind>/<id>`. */
export function recordKey (kind: RecordKind, id: string): Uint8Array {
  return enc.encode(`${KEY_PREFIX}${kind}/${id}`)
}

/** The kind and id a key names, or undefined when it is not a bidmesh record key. */
export function parseRecordKey (key: Uint8Array): { kind: RecordKind, id: string } | undefined {
  let s: string
  try { s = dec.decode(key) } catch { return undefined }
  if (!s.startsWith(KEY_PREFIX)) return undefined
  const rest = s.slice(KEY_PREFIX.length)
  const slash = rest.indexOf('/')
  const kind = rest.slice(0, slash) as RecordKind
  if (slash < 0 || !RECORD_KINDS.includes(kind)) return undefined
  const id = rest.slice(slash + 1)
  return idProblem(id) === undefined ? { kind, id } : undefined
}

/** Why an id cannot name a record, or undefined when it can. */
export function idProblem (id: string): string | undefined {
  if (id.length === 0) return 'id is empty'
  if (enc.encode(id).byteLength > MAX_ID_BYTES) return `id is longer than ${MAX_ID_BYTES} bytes`
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'id contains control characters'
  return undefined
}

/** Why a header is malformed, or undefined when it is well formed. */
export function headerProblem (h: unknown): string | undefined {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return 'header is not an object'
  const r = h as Record<string, unknown>
  const keys = Object.keys(r)
  if (keys.length !== 6) return `header must have exactly kind, id, attempt, seq, at, author (has ${keys.join(', ')})`
  if (!RECORD_KINDS.includes(r.kind as RecordKind)) return `kind must be one of ${RECORD_KINDS.join(', ')}`
  if (typeof r.id !== 'string') return 'id must be a string'
  const idp = idProblem(r.id)
  if (idp !== undefined) return idp
  for (const f of ['attempt', 'seq', 'at'] as const) {
    if (!Number.isSafeInteger(r[f]) || (r[f] as number) < 0) return `${f} must be a non-negative safe integer`
  }
  if (typeof r.author !== 'string' || r.author.length === 0 || r.author.length > 128) return 'author must be a peer id string'
  return undefined
}

/** The bytes to sign for a header and body (the record minus its signature, domain-prefixed). */
export function signingPayload (header: RecordHeader, body: Uint8Array): Uint8Array {
  return concat([SIGNING_DOMAIN, unsignedPart(header, body)])
}

/** Assembles a record from a header, body and a signature over `signingPayload(header, body)`. */
export function encodeRecord (header: RecordHeader, body: Uint8Array, signature: Uint8Array): Uint8Array {
  return concat([unsignedPart(header, body), varint.encode(signature.byteLength), signature])
}

/** The encoded size of a record, computable before signing (Ed25519 signatures are 64 bytes). */
export function encodedSize (header: RecordHeader, body: Uint8Array, signatureBytes = 64): number {
  return unsignedPart(header, body).byteLength + varint.encodingLength(signatureBytes) + signatureBytes
}

function unsignedPart (header: RecordHeader, body: Uint8Array): Uint8Array {
  // Fixed field order, so the same header always encodes to the same bytes.
  const h = enc.encode(JSON.stringify({ kind: header.kind, id: header.id, attempt: header.attempt, seq: header.seq, at: header.at, author: header.author }))
  return concat([Uint8Array.from(MAGIC), varint.encode(h.byteLength), h, varint.encode(body.byteLength), body])
}

/** Splits record bytes into header, body and signature; throws RecordFormatError naming what is wrong. */
export function decodeRecord (bytes: Uint8Array): DecodedRecord {
  if (bytes.byteLength < 2 || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1]) throw new RecordFormatError('not a bidmesh v1 record')
  let pos = 2
  const field = (what: string): Uint8Array => {
    let len: number
    try { len = varint.decode(bytes, pos) } catch { throw new RecordFormatError(`${what} length is not a varint`) }
    pos += varint.encodingLength(len)
    if (pos + len > bytes.byteLength) throw new RecordFormatError(`${what} runs past the end of the record`)
    const out = bytes.subarray(pos, pos + len)
    pos += len
    return out
  }
  const headerBytes = field('header')
  const body = field('body')
  const unsignedEnd = pos
  const signature = field('signature')
  if (pos !== bytes.byteLength) throw new RecordFormatError('trailing bytes after the signature')
  let header: unknown
  try { header = JSON.parse(dec.decode(headerBytes)) } catch { throw new RecordFormatError('header is not UTF-8 JSON') }
  const problem = headerProblem(header)
  if (problem !== undefined) throw new RecordFormatError(problem)
  return { header: header as RecordHeader, body, signature, signed: concat([SIGNING_DOMAIN, bytes.subarray(0, unsignedEnd)]) }
}

/** Orders by `(attempt, seq)`: a new attempt fences every write of older attempts. */
export function compareVersions (a: { attempt: number, seq: number }, b: { attempt: number, seq: number }): number {
  return a.attempt !== b.attempt ? Math.sign(a.attempt - b.attempt) : Math.sign(a.seq - b.seq)
}

/**
 * A total order on record bytes: `(attempt, seq)`, then the bytes themselves, so two different
 * records with the same version still have one winner whatever order replicas see them in.
 * Undecodable bytes sort below every record.
 */
export function compareRecordBytes (a: Uint8Array, b: Uint8Array): number {
  const va = versionOf(a)
  const vb = versionOf(b)
  if (va === undefined || vb === undefined) {
    if (va !== vb) return va === undefined ? -1 : 1
  } else {
    const c = compareVersions(va, vb)
    if (c !== 0) return c
  }
  return compareBytes(a, b)
}

function versionOf (bytes: Uint8Array): { attempt: number, seq: number } | undefined {
  try {
    return decodeRecord(bytes).header
  } catch {
    return undefined
  }
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return Math.sign(a.byteLength - b.byteLength)
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.byteLength }
  return out
}
