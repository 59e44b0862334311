/**
 * Task and workflow ids: time-sortable (so listings read oldest first) and random enough that two
 * nodes never collide. The caller passes the clock and the random bytes, keeping this pure.
 */
export function makeId (prefix: 't' | 'w', nowMs: number, random: Uint8Array): string {
  const time = Math.max(0, Math.floor(nowMs)).toString(36).padStart(9, '0')
  let rand = ''
  for (const b of random.subarray(0, 8)) rand += b.toString(16).padStart(2, '0')
  return `${prefix}-${time}${rand}`
}

const ID = /^[tw]-[0-9a-z]{9}[0-9a-f]{16}$/

export function isId (s: string): boolean {
  return ID.test(s)
}
