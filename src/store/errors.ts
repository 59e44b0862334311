import { BidmeshError, ConflictError, ValidationError } from '../core/errors.js'

/** A record whose encoded size is over the limit; raised where it is written, before anything is sent. */
export class RecordTooLargeError extends ValidationError {
  constructor (readonly kind: string, readonly id: string, readonly bytes: number, readonly limit: number, bodyBytes: number) {
    super(`${kind}/${id} record`, [{
      path: 'body',
      message: `the record is ${bytes} bytes encoded (body ${bodyBytes} bytes), over the ${limit}-byte limit; nothing was written`
    }])
    this.name = 'RecordTooLargeError'
  }
}

/** Fewer replicas than asked confirmed a put. The record may still be on those that did. */
export class QuorumError extends BidmeshError {
  constructor (readonly kind: string, readonly id: string, readonly acks: number, readonly quorum: number, readonly asked: number) {
    super(`${kind}/${id}: ${acks} of the ${quorum} required replicas confirmed the put (this node plus ${asked} peers asked)`, 'quorum_not_reached', { kind, id, acks, quorum, asked })
    this.name = 'QuorumError'
  }
}

/** This node already holds a newer version of the record: the write is fenced off, nothing was sent. */
export class StaleRecordError extends ConflictError {
  constructor (readonly kind: string, readonly id: string, attempt: number, seq: number, held: { attempt: number, seq: number }) {
    super(`${kind}/${id}: attempt ${attempt} seq ${seq} is older than the held attempt ${held.attempt} seq ${held.seq}`, { kind, id, attempt, seq, held })
    this.name = 'StaleRecordError'
  }
}
