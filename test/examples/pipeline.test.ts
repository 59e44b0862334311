import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, it, expect } from 'vitest'
import { parseTaskSpec } from '../../src/core/task-spec.js'
import { Runner } from '../../src/exec/runner.js'
import type { RunOutcome } from '../../src/exec/types.js'
import { loadExample, runLocally } from './local-run.js'

const body = loadExample('pipeline/pipeline.yaml')
const step = (name: string): Record<string, unknown> => (body.tasks as Array<Record<string, unknown>>).find(t => t.name === name)!

interface Build { buildId: string, file: string, source: string, sha256: string }
const marker = (b: Build): string => join(tmpdir(), `bidmesh-pipeline-${b.buildId}.runs`)

let dir: string
let runner: Runner
let n = 0

/** Runs one step of pipeline.yaml as a node would: its command, `input` in $BIDMESH_INPUT_FILE. */
async function run (name: string, input?: unknown): Promise<{ outcome: RunOutcome, log: string[], workDir: string }> {
  const { needs: _n, inputs: _i, ...fields } = step(name)
  const spec = parseTaskSpec({ ...body.defaults, ...fields })
  const workDir = join(dir, `${name}-${++n}`)
  const handle = runner.start({ taskId: `${name}-${n}`, attempt: 1, spec, workDir, ...(input !== undefined ? { input } : {}) })
  const outcome = await handle.done
  return { outcome, log: handle.log.tail().map(l => `${l.stream} ${l.text}`), workDir }
}

function result<T> (o: RunOutcome): T {
  if (o.kind !== 'succeeded') throw new Error(`the step did not succeed: ${JSON.stringify(o)}`)
  return o.result as T
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bidmesh-pipeline-test-'))
  runner = new Runner({ killGraceMs: 1000, jsCacheDir: join(dir, 'js-cache') })
})
afterAll(async () => {
  await runner.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('examples/pipeline steps', () => {
  it('build → flaky test (fails once, then passes) → package', async () => {
    const build = result<Build>((await run('build')).outcome)
    expect(build).toMatchObject({ file: 'calc.mjs', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })

    const first = await run('test', { build })
    expect(first.outcome).toMatchObject({ kind: 'failed', exitCode: 1, error: expect.stringContaining('flaky: the first run fails on purpose') })
    expect(existsSync(marker(build))).toBe(true)

    const second = await run('test', { build })
    const test = result<{ passed: number, failed: number, runs: number }>(second.outcome)
    expect(test).toEqual({ passed: 3, failed: 0, runs: 2 })
    expect(second.log).toContain('out ok  mul(4, 5) = 20')

    const pkg = await run('package', { build, test })
    expect(result(pkg.outcome)).toMatchObject({ package: 'calc-1.0.0.json.gz', buildId: build.buildId, testRuns: 2, testsPassed: 3 })
    const bundle = JSON.parse(gunzipSync(await readFile(join(pkg.workDir, 'calc-1.0.0.json.gz'))).toString())
    expect(bundle.files['calc.mjs']).toBe(build.source)
    expect(bundle.manifest).toMatchObject({ name: 'calc', version: '1.0.0', files: { 'calc.mjs': build.sha256 } })
    expect(existsSync(marker(build))).toBe(false) // package cleans up the flaky marker
  })

  it('package refuses a build whose tests failed', async () => {
    const build = result<Build>((await run('build')).outcome)
    const out = await run('package', { build, test: { passed: 2, failed: 1, runs: 1 } })
    expect(out.outcome).toMatchObject({ kind: 'failed', error: expect.stringContaining('1 tests failed; not packaging') })
  })

  it('runs as a workflow (engine + runner, no mesh): succeeds with one retry of test', async () => {
    const run = await runLocally(body)
    expect(run.state.status).toBe('succeeded')
    expect(run.runs.map(r => `${r.key}#${r.attempt}:${r.outcome.kind}`)).toEqual(['build#1:succeeded', 'test#1:failed', 'test#2:succeeded', 'package#1:succeeded'])
    expect(run.result('package')).toMatchObject({ package: 'calc-1.0.0.json.gz', testRuns: 2, testsPassed: 3 })
  })
})
