/**
 * "Why pending" texts: short, human, built from counts (`no peer with gpu >= 8; 3 peers
 * declined: memMb`). The parts come from the auctioneer's filter and from the bidders' declines.
 */

/** `1 peer`, `3 peers`. */
export function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** An amount as people read it: cpu in cores (the accounting unit is millicores). */
export function formatAmount (resource: string, amount: number): string {
  const v = resource === 'cpu' ? amount / 1000 : amount
  return String(Math.round(v * 1000) / 1000)
}

/** Joins non-empty parts with `; `. */
export function joinReasons (parts: ReadonlyArray<string | undefined>): string {
  return parts.filter((p): p is string => p !== undefined && p !== '').join('; ')
}

/**
 * Groups bidders' declines by reason, most common first: `3 peers declined: memMb; 1 peer
 * declined: constraints`, then `2 peers did not answer` for probes that got no reply.
 */
export function summarizeDeclines (declines: ReadonlyArray<{ reason: string }>, silent = 0): string {
  const counts = new Map<string, number>()
  for (const d of declines) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1)
  const parts = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([reason, n]) => `${plural(n, 'peer')} declined: ${reason}`)
  if (silent > 0) parts.push(`${plural(silent, 'peer')} did not answer`)
  return joinReasons(parts)
}
