import { ValidationError, type FieldIssue } from '../core/errors.js'

/**
 * Amounts at or below this count as zero, and a fit may overshoot by this much: the same tolerance
 * as `fits` in core, so that whatever the fairness core grants, `fits` accepts too.
 */
export const EPSILON = 1e-9

/** Collects every problem with an input before throwing, so one error names all bad fields. */
export class Issues {
  readonly list: FieldIssue[] = []

  add (path: string, message: string): void {
    this.list.push({ path, message })
  }

  throwIfAny (what: string): void {
    if (this.list.length > 0) throw new ValidationError(what, this.list)
  }
}

export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads an own property only: a framework called `constructor` must not find Object.prototype's. */
export function own<T> (record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}

function describe (v: unknown): string {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return JSON.stringify(v)
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v
}

export function checkAmount (v: unknown, path: string, issues: Issues): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    issues.add(path, `must be a finite number >= 0, got ${describe(v)}`)
    return false
  }
  return true
}

/**
 * A vector of named amounts. `kind` decides whether it may be all zeros: a usage may, a capacity
 * may not (nothing could ever fit, and every share would divide by zero), and neither may a
 * demand (a task that asks for nothing would be granted forever).
 */
export function checkVector (v: unknown, path: string, issues: Issues, kind: 'usage' | 'capacity' | 'demand'): boolean {
  if (!isRecord(v)) {
    issues.add(path, `must be an object of named amounts, got ${describe(v)}`)
    return false
  }
  let ok = true
  let positive = false
  for (const name in v) {
    if (!Object.hasOwn(v, name)) continue
    const amount = v[name]
    // valid amounts are the hot path (every advert): paths are only built for a bad one
    if (typeof amount === 'number' && amount >= 0 && amount < Number.POSITIVE_INFINITY && name !== '') {
      if (amount > EPSILON) positive = true
      continue
    }
    ok = false
    if (name === '') issues.add(path, 'resource names must not be empty')
    else checkAmount(amount, `${path}.${name}`, issues)
  }
  if (ok && !positive && kind !== 'usage') {
    issues.add(path, kind === 'capacity'
      ? 'is empty: needs at least one amount > 0'
      : 'asks for nothing: needs at least one amount > 0')
    return false
  }
  return ok
}

export function checkWeight (v: unknown, path: string, issues: Issues): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    issues.add(path, `must be a finite number > 0, got ${describe(v)}`)
    return false
  }
  return true
}

export function checkName (v: unknown, path: string, issues: Issues): v is string {
  if (typeof v !== 'string' || v === '') {
    issues.add(path, `must be a non-empty string, got ${describe(v)}`)
    return false
  }
  return true
}

export function checkMaxTasks (v: unknown, path: string, issues: Issues): boolean {
  if (v === undefined) return true
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    issues.add(path, `must be an integer >= 0 (or absent for no limit), got ${describe(v)}`)
    return false
  }
  return true
}

/** Compares by UTF-16 code units, never by locale, so every node sorts names the same way. */
export function compareNames (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
