import { ValidationError, type FieldIssue } from './errors.js'
import type { z } from 'zod'

/** Formats a zod issue path as `tasks[2].needs`, the form people read in error messages. */
export function formatPath (path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else out += out === '' ? String(p) : `.${String(p)}`
  }
  return out
}

/** Turns a zod error into the field issues of a ValidationError. */
export function zodIssues (error: z.ZodError): FieldIssue[] {
  return error.issues.map(i => ({ path: formatPath(i.path), message: i.message }))
}

/**
 * Parses `input` with `schema`; on failure throws a ValidationError naming every bad field.
 * `what` says what was being parsed ("task spec", "config"), for the message.
 */
export function parseOrThrow<S extends z.ZodType> (schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input)
  if (!result.success) throw new ValidationError(what, zodIssues(result.error))
  return result.data
}
