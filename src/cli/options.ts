import { InvalidArgumentError } from 'commander'

/** Commander parsers whose errors say what the flag accepts. */
export function intOption (min: number, max: number): (value: string) => number {
  return value => {
    const n = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}, got "${value}"`)
    }
    return n
  }
}

export function numberOption (min: number, exclusiveMin = false): (value: string) => number {
  return value => {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (exclusiveMin && n === min)) {
      throw new InvalidArgumentError(`must be a number ${exclusiveMin ? 'above' : 'of at least'} ${min}, got "${value}"`)
    }
    return n
  }
}

/** Collects repeated flags (`--listen a --listen b`). */
export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** Parses repeated `KEY=VALUE` flags into a record. */
export function keyValue (value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=')
  if (i <= 0) throw new InvalidArgumentError(`must be KEY=VALUE, got "${value}"`)
  return { ...previous, [value.slice(0, i)]: value.slice(i + 1) }
}

/** Parses repeated `NAME=AMOUNT` flags into a record of non-negative numbers. */
export function resourceAmount (value: string, previous: Record<string, number> = {}): Record<string, number> {
  const i = value.indexOf('=')
  const amount = Number(value.slice(i + 1))
  if (i <= 0 || value.slice(i + 1).trim() === '' || !Number.isFinite(amount) || amount < 0) {
    throw new InvalidArgumentError(`must be NAME=AMOUNT with a non-negative amount, got "${value}"`)
  }
  return { ...previous, [value.slice(0, i)]: amount }
}
