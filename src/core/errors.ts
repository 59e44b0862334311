/**
 * Named error classes. Callers match on `.name` (as libp2p does), never on message text.
 * Each error carries the ids or field paths it is about, so the API can answer with details.
 */
export class BidmeshError extends Error {
  /** A stable machine-readable code for the HTTP API (`error.code`). */
  readonly code: string
  readonly details: Record<string, unknown>

  constructor (message: string, code: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'BidmeshError'
    this.code = code
    this.details = details
  }
}

/** One problem with one field of some input: `path` is dotted (`resources.cpu`, `tasks[2].needs`). */
export interface FieldIssue {
  path: string
  message: string
}

/** Bad input (a spec, a flag, a config field). Names every field that is wrong and what is allowed. */
export class ValidationError extends BidmeshError {
  readonly issues: FieldIssue[]

  constructor (what: string, issues: FieldIssue[]) {
    const summary = issues.map(i => i.path === '' ? i.message : `${i.path}: ${i.message}`).join('; ')
    super(`invalid ${what}: ${summary}`, 'invalid_argument', { issues })
    this.name = 'ValidationError'
    this.issues = issues
  }
}

export class NotFoundError extends BidmeshError {
  constructor (what: string, id: string) {
    super(`${what} ${id} not found`, 'not_found', { [what]: id })
    this.name = 'NotFoundError'
  }
}

/** A state transition that the state machine does not allow (e.g. a stale attempt completing). */
export class ConflictError extends BidmeshError {
  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message, 'conflict', details)
    this.name = 'ConflictError'
  }
}
