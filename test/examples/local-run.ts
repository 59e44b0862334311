import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parse } from 'yaml'
import { nextActions, onTaskFailed, onTaskStarted, onTaskSucceeded, parseWorkflow, startRun, taskResult, type RunState, type Submission } from '../../src/dag/index.js'
import { Runner } from '../../src/exec/runner.js'
import type { RunOutcome } from '../../src/exec/types.js'

/** The repo root: the working directory of `npm start` nodes, which example paths are relative to. */
export const ROOT = resolve(import.meta.dirname, '..', '..')

/** An example workflow file, parsed but not validated (a request body, as the CLI would send it). */
export function loadExample (file: string): Record<string, any> {
  return parse(readFileSync(join(ROOT, 'examples', file), 'utf8'))
}

/** The top ten words of examples/wordcount/texts, stopwords left out, ties in alphabetical order. */
export const WORDCOUNT_TOP = {
  here: 9, can: 6, nation: 5, before: 4, dedicated: 4, little: 4, long: 4, whenever: 4, about: 3, bennet: 3
}

/**
 * Imports the inline `source` of an example as a module, written to a file of `dir` as the node's
 * source cache does, so that tests call the very code the workflow runs.
 */
export async function importSource<T> (dir: string, name: string, source: string): Promise<T> {
  const file = join(dir, `${name}.mjs`)
  await writeFile(file, source)
  return await import(pathToFileURL(file).href) as T
}

export interface LocalRun {
  state: RunState
  /** Every task run, in the order they ended. */
  runs: Array<{ key: string, attempt: number, outcome: RunOutcome, log: string[] }>
  /** The result of one task (or the list of a fan-out's results). */
  result: (task: string) => unknown
}

/**
 * Runs a workflow body to its end in this process, without a mesh: the pure run engine of
 * `src/dag` decides what runs, a real `Runner` runs it (worker threads, child processes), as a
 * node of the mesh would. Time is virtual: when only retry delays are left, the clock jumps to
 * the next one instead of sleeping. It checks the examples' task code and `inputs` wiring
 * before, and independently of, the networked driver.
 */
export async function runLocally (body: unknown, opts: { maxRuns?: number } = {}): Promise<LocalRun> {
  const workRoot = await mkdtemp(join(tmpdir(), 'bidmesh-examples-'))
  const runner = new Runner({ moduleBaseDir: ROOT, killGraceMs: 1000, jsCacheDir: join(workRoot, 'js-cache') })
  let state = startRun(parseWorkflow(body), { id: 'local', now: 0 })
  let now = 0
  let n = 0
  const runs: LocalRun['runs'] = []
  const running = new Map<string, Promise<{ s: Submission, outcome: RunOutcome, log: string[] }>>()
  try {
    for (;;) {
      const next = nextActions(state, { now })
      state = next.state
      if (state.status !== 'running') break
      for (const s of next.submit) {
        if (++n > (opts.maxRuns ?? 1000)) throw new Error(`more than ${opts.maxRuns ?? 1000} task runs`)
        const taskId = `local-${n}`
        const handle = runner.start({
          taskId,
          attempt: 1,
          spec: s.spec,
          ...(s.input !== undefined ? { input: s.input } : {}),
          workDir: join(workRoot, 'tasks', taskId)
        })
        state = onTaskStarted(state, { key: s.key, attempt: s.attempt, node: 'local', now }).state
        running.set(`${s.key}#${s.attempt}`, handle.done.then(outcome => ({ s, outcome, log: handle.log.tail().map(l => l.text) })))
      }
      if (running.size === 0) {
        if (next.wakeAt === undefined) throw new Error('stuck: nothing runs, nothing to wait for')
        now = next.wakeAt
        continue
      }
      const { s, outcome, log } = await Promise.race(running.values())
      running.delete(`${s.key}#${s.attempt}`)
      runs.push({ key: s.key, attempt: s.attempt, outcome, log })
      now += 1
      const ev = { key: s.key, attempt: s.attempt, node: 'local', now }
      state = outcome.kind === 'succeeded'
        ? onTaskSucceeded(state, { ...ev, result: outcome.result, durationMs: outcome.durationMs }).state
        : onTaskFailed(state, { ...ev, error: outcome.kind === 'failed' ? outcome.error : outcome.kind }).state
    }
  } finally {
    await runner.stop()
    await rm(workRoot, { recursive: true, force: true })
  }
  const final = state
  return { state: final, runs, result: task => taskResult(final, task) }
}
