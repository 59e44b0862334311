import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export type Row = Record<string, string | number>

/** Prints rows as an aligned text table. */
export function printTable (title: string, rows: Row[]): void {
  console.log(`\n${title}`)
  if (rows.length === 0) { console.log('(no rows)'); return }
  const cols = [...new Set(rows.flatMap(r => Object.keys(r)))]
  const cell = (v: string | number | undefined): string => typeof v === 'number' ? fmt(v) : (v ?? '')
  const widths = cols.map(c => Math.max(c.length, ...rows.map(r => cell(r[c]).length)))
  const line = (vals: string[]): string => vals.map((v, i) => v.padStart(widths[i] ?? 0)).join('  ')
  console.log(line(cols))
  console.log(widths.map(w => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(cols.map(c => cell(r[c]))))
}

function fmt (v: number): string {
  if (Number.isInteger(v)) return String(v)
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)
}

/** Writes a bench's machine-readable results to bench/results/<name>.json. */
export function writeResults (name: string, data: unknown): string {
  const dir = join(import.meta.dirname, 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({ bench: name, at: new Date().toISOString(), node: process.version, data }, null, 2) + '\n')
  return file
}

/** The p-th percentile (0..100) of `values`, by nearest rank. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}
