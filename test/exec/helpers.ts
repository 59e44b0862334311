import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseTaskSpec, type ExecTaskSpec, type JsTaskSpec } from '../../src/core/index.js'

/** Polls `cond` until it holds (returns the truthy value) or throws after `timeoutMs`. */
export async function waitFor<T> (cond: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export async function tempDir (): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bidmesh-exec-'))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

export function execSpec (command: string[], more: Partial<Record<string, unknown>> = {}): ExecTaskSpec {
  return parseTaskSpec({ kind: 'exec', name: 'test', command, ...more }) as ExecTaskSpec
}

export function jsSpec (more: Record<string, unknown>): JsTaskSpec {
  return parseTaskSpec({ kind: 'js', name: 'test', ...more }) as JsTaskSpec
}

/** True while `pid` is a live process (a zombie waiting for some other parent counts as gone). */
export async function alive (pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** The live processes of process group `pgid` (Linux /proc). */
export async function groupMembers (pgid: number): Promise<number[]> {
  const out: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) out.push(Number(name))
    } catch { /* gone meanwhile */ }
  }
  return out
}

/**
 * Waits (briefly) until none of `pids` is alive. A process killed with SIGKILL has closed its
 * pipes before the kernel marks it dead, so right after a run ends it may still show as exiting.
 */
export async function allGone (pids: number[], timeoutMs = 2000): Promise<boolean> {
  await waitFor(async () => { for (const p of pids) if (await alive(p)) return false; return true }, timeoutMs, `pids ${pids.join(' ')} to die`)
  return true
}
