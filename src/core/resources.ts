/**
 * Resource vectors: named non-negative amounts. Well-known names are `cpu` (millicores, so that
 * fractions of a core stay integers), `memMb` and `gpu`; any other name is a custom scalar
 * (`disk`, `license:matlab`). A missing name means zero.
 */
export type Resources = Readonly<Record<string, number>>

export const WELL_KNOWN_RESOURCES = ['cpu', 'memMb', 'gpu'] as const

/** Amounts below this are treated as zero, so float sums like 0.1 + 0.2 - 0.3 don't count as usage. */
const EPSILON = 1e-9

export function addResources (a: Resources, b: Resources): Resources {
  const out: Record<string, number> = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v
  return out
}

export function subtractResources (a: Resources, b: Resources): Resources {
  const out: Record<string, number> = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) - v
  return out
}

/** Multiplies every amount by `factor`. */
export function scaleResources (a: Resources, factor: number): Resources {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(a)) out[k] = v * factor
  return out
}

/** True when every amount of `demand` is available in `free` (missing names in `free` are zero). */
export function fits (demand: Resources, free: Resources): boolean {
  for (const [k, v] of Object.entries(demand)) {
    if (v > EPSILON && (free[k] ?? 0) + EPSILON < v) return false
  }
  return true
}

/** The names of the resources where `demand` exceeds `free`, for "why pending" messages. */
export function shortfall (demand: Resources, free: Resources): string[] {
  const short: string[] = []
  for (const [k, v] of Object.entries(demand)) {
    if (v > EPSILON && (free[k] ?? 0) + EPSILON < v) short.push(k)
  }
  return short
}

export function isZero (a: Resources): boolean {
  return Object.values(a).every(v => Math.abs(v) <= EPSILON)
}

/** Drops zero entries and rounds away float dust, so adverts stay small and stable. */
export function normalizeResources (a: Resources): Resources {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(a)) {
    if (Math.abs(v) > EPSILON) out[k] = Math.round(v * 1e6) / 1e6
  }
  return out
}

/** The dominant share of `usage` against `capacity`: the largest fraction of any one resource. */
export function dominantFraction (usage: Resources, capacity: Resources): number {
  let max = 0
  for (const [k, v] of Object.entries(usage)) {
    const cap = capacity[k] ?? 0
    if (v <= EPSILON) continue
    const share = cap > 0 ? v / cap : Number.POSITIVE_INFINITY
    if (share > max) max = share
  }
  return max
}

/** Formats a vector for people: `cpu=1.5 memMb=512`, with cpu shown in cores. */
export function formatResources (a: Resources): string {
  return Object.entries(a)
    .filter(([, v]) => Math.abs(v) > EPSILON)
    .map(([k, v]) => k === 'cpu' ? `cpu=${round3(v / 1000)}` : `${k}=${round3(v)}`)
    .join(' ')
}

function round3 (v: number): number {
  return Math.round(v * 1000) / 1000
}
