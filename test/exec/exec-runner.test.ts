import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRunner, taskWorkDir, type Runner, type RunContext } from '../../src/exec/index.js'
import { allGone, execSpec, groupMembers, tempDir, waitFor } from './helpers.js'

let dataDir: string
let cleanup: () => Promise<void>
let runner: Runner
let n = 0

beforeEach(async () => {
  ({ dir: dataDir, cleanup } = await tempDir())
  runner = createRunner({ killGraceMs: 200 })
})

afterEach(async () => {
  await runner.stop()
  await cleanup()
})

function ctx (spec: RunContext['spec'], more: Partial<RunContext> = {}): RunContext {
  const taskId = `t-${++n}`
  const attempt = more.attempt ?? 1
  return { taskId, attempt, spec, workDir: taskWorkDir(dataDir, taskId, attempt), ...more }
}

describe('exec tasks', () => {
  it('succeeds with the exit code and stdout tail when no result file is written', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'echo one; echo two; echo oops >&2; printf three'])))
    const outcome = await run.done
    expect(outcome).toMatchObject({ kind: 'succeeded', exitCode: 0, result: { exitCode: 0, stdoutTail: 'one\ntwo\nthree' } })
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('takes the result from $BIDMESH_RESULT_FILE', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'printf \'{"answer":42}\' > "$BIDMESH_RESULT_FILE"'])))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: { answer: 42 } })
  })

  it('fails on a result file that is not JSON', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'echo nope > "$BIDMESH_RESULT_FILE"'])))
    expect(await run.done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/not valid JSON/) })
  })

  it('fails on a nonzero exit with the code and the last stderr line', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'echo bad thing >&2; exit 3'])))
    expect(await run.done).toMatchObject({ kind: 'failed', exitCode: 3, error: 'exited with code 3: bad thing' })
  })

  it('fails with a clear error when the program does not exist', async () => {
    const run = runner.start(ctx(execSpec(['/nonexistent/program'])))
    expect(await run.done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/cannot start \/nonexistent\/program: .*ENOENT/) })
  })

  it('reports a death by signal', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'kill -9 $$'])))
    expect(await run.done).toMatchObject({ kind: 'failed', signal: 'SIGKILL', error: 'killed by SIGKILL' })
  })

  it('passes a minimal environment, spec.env and the BIDMESH_* variables', async () => {
    process.env.BIDMESH_TEST_SECRET = 'leak'
    try {
      const c = ctx(execSpec(['sh', '-c', 'env > "$BIDMESH_WORK_DIR/env.txt"'], { env: { FOO: 'bar baz' } }), { attempt: 2, input: { x: 1 } })
      expect(await runner.start(c).done).toMatchObject({ kind: 'succeeded' })
      const env = Object.fromEntries((await readFile(join(c.workDir, 'env.txt'), 'utf8')).trim().split('\n').map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
      expect(env).toMatchObject({
        FOO: 'bar baz',
        BIDMESH_TASK_ID: c.taskId,
        BIDMESH_ATTEMPT: '2',
        BIDMESH_WORK_DIR: c.workDir,
        BIDMESH_CHECKPOINT_FILE: join(c.workDir, 'checkpoint'),
        BIDMESH_RESULT_FILE: join(c.workDir, 'result.json'),
        BIDMESH_INPUT_FILE: join(c.workDir, 'input.json')
      })
      expect(env.PATH).toBe(process.env.PATH)
      expect(env.BIDMESH_TEST_SECRET).toBeUndefined()
      expect(JSON.parse(await readFile(env.BIDMESH_INPUT_FILE ?? '', 'utf8'))).toEqual({ x: 1 })
    } finally {
      delete process.env.BIDMESH_TEST_SECRET
    }
  })

  it('runs in spec.cwd inside the work dir and refuses one that escapes it', async () => {
    const inside = ctx(execSpec(['sh', '-c', 'pwd'], { cwd: 'sub/dir' }))
    expect(await runner.start(inside).done).toMatchObject({ kind: 'succeeded', result: { stdoutTail: join(inside.workDir, 'sub/dir') } })
    for (const cwd of ['../..', '/tmp', 'a/../../b']) {
      expect(await runner.start(ctx(execSpec(['true'], { cwd }))).done).toMatchObject({ kind: 'failed', error: expect.stringMatching(/outside the task's work dir/) })
    }
  })

  it('captures output to the log file and a live tail, and follows it to the end', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'echo start; echo warn >&2; while [ ! -e "$BIDMESH_WORK_DIR/go" ]; do sleep 0.01; done; printf partial'])))
    await waitFor(() => run.log.tail().some(l => l.text === 'warn'), 5000, 'stderr line')
    expect(run.log.tail().filter(l => l.stream !== 'sys').map(l => [l.stream, l.text])).toEqual([['out', 'start'], ['err', 'warn']])
    const followed: string[] = []
    const following = (async () => { for await (const l of run.log.follow({ after: run.log.lastSeq })) followed.push(`${l.stream} ${l.text}`) })()
    await writeFile(join(run.log.path, '..', 'go'), '')
    expect(await run.done).toMatchObject({ kind: 'succeeded' })
    await following
    expect(followed).toContain('out partial')
    expect(followed.at(-1)).toMatch(/^sys finished: succeeded/)
    const file = await readFile(run.log.path, 'utf8')
    expect(file).toMatch(/^\d{4}-\d\d-\d\dT\S+Z sys started pid \d+/m)
    expect(file).toMatch(/Z out start\n/)
    expect(file).toMatch(/Z err warn\n/)
    expect(file).toMatch(/Z out partial\n/)
    expect(runner.logs.get(run.taskId)).toBe(run.log)
  })

  it('keeps every line of a large output in the file and a bounded tail in memory', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'seq 1 20000'])))
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: { stdoutTail: expect.stringMatching(/19999\n20000$/) } })
    const lines = (await readFile(run.log.path, 'utf8')).trim().split('\n').filter(l => l.includes(' out '))
    expect(lines).toHaveLength(20000)
    expect(lines.at(-1)).toMatch(/ out 20000$/)
    expect(run.log.tail().length).toBe(1000)
  })

  it('times out: kills the process and its children', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'sleep 30 & sleep 30'], { timeoutMs: 400 })))
    const pid = await waitFor(() => run.pid, 5000, 'pid')
    const members = await waitFor(async () => { const m = await groupMembers(pid); return m.length >= 3 ? m : undefined }, 5000, 'sh and both sleeps')
    expect(await run.done).toMatchObject({ kind: 'timedOut', timeoutMs: 400 })
    expect(await allGone(members)).toBe(true)
    await waitFor(async () => (await groupMembers(pid)).length === 0, 2000, 'empty group')
  })

  it('escalates to SIGKILL when the tree ignores SIGTERM', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'trap "" TERM; sleep 30 & sleep 30'])))
    const pid = await waitFor(() => run.pid)
    const members = await waitFor(async () => { const m = await groupMembers(pid); return m.length >= 3 ? m : undefined })
    const outcome = await run.cancel('user asked')
    expect(outcome).toMatchObject({ kind: 'cancelled', reason: 'user asked' })
    expect(await allGone(members)).toBe(true)
    expect(run.log.tail().map(l => l.text)).toContain('still running after 200 ms; sent SIGKILL')
  })

  it('is cancelled by the context signal', async () => {
    const ac = new AbortController()
    const run = runner.start(ctx(execSpec(['sleep', '30']), { signal: ac.signal }))
    await waitFor(() => run.pid)
    ac.abort(new Error('no longer needed'))
    expect(await run.done).toMatchObject({ kind: 'cancelled', reason: 'no longer needed' })
  })

  it('does not start a task whose signal is already aborted', async () => {
    const run = runner.start(ctx(execSpec(['sleep', '30']), { signal: AbortSignal.abort('never mind') }))
    expect(await run.done).toMatchObject({ kind: 'cancelled', reason: 'never mind' })
    expect(run.pid).toBeUndefined()
  })

  it('kills what the task left running in its group when it exits', async () => {
    const run = runner.start(ctx(execSpec(['sh', '-c', 'sleep 30 & echo $!'])))
    const outcome = await run.done
    expect(outcome).toMatchObject({ kind: 'succeeded' })
    const bg = Number((outcome as { result: { stdoutTail: string } }).result.stdoutTail)
    expect(bg).toBeGreaterThan(0)
    expect(await allGone([bg])).toBe(true)
  })

  it('restores the checkpoint file before start and uploads it when it changes and at exit', async () => {
    const uploads: Array<{ text: string, seq: number }> = []
    const script = [
      'echo "restored=$(cat "$BIDMESH_CHECKPOINT_FILE")"',
      'echo step1 > "$BIDMESH_CHECKPOINT_FILE.tmp" && mv "$BIDMESH_CHECKPOINT_FILE.tmp" "$BIDMESH_CHECKPOINT_FILE"',
      'while [ ! -e "$BIDMESH_WORK_DIR/next" ]; do sleep 0.01; done',
      'echo final > "$BIDMESH_CHECKPOINT_FILE"'
    ].join('\n')
    const c = ctx(execSpec(['sh', '-c', script], { checkpoint: { intervalMs: 20 } }), {
      checkpoint: new TextEncoder().encode('step0\n'),
      onCheckpoint: async (state, seq) => { uploads.push({ text: new TextDecoder().decode(state), seq }) }
    })
    const run = runner.start(c)
    await waitFor(() => uploads.length >= 1, 5000, 'first upload')
    expect(uploads).toEqual([{ text: 'step1\n', seq: 1 }])
    await writeFile(join(c.workDir, 'next'), '')
    expect(await run.done).toMatchObject({ kind: 'succeeded', result: { stdoutTail: 'restored=step0' } })
    expect(uploads).toEqual([{ text: 'step1\n', seq: 1 }, { text: 'final\n', seq: 2 }])
  })

  it('does not upload the restored checkpoint again, and retries a failed upload', async () => {
    let calls = 0
    const uploads: string[] = []
    const script = 'echo new > "$BIDMESH_CHECKPOINT_FILE"; while [ ! -e "$BIDMESH_WORK_DIR/uploaded" ]; do sleep 0.01; done'
    const c: RunContext = ctx(execSpec(['sh', '-c', script], { checkpoint: { intervalMs: 10 } }), {
      checkpoint: new TextEncoder().encode('old\n'),
      onCheckpoint: async state => {
        if (++calls === 1) throw new Error('dht unreachable')
        uploads.push(new TextDecoder().decode(state))
        await writeFile(join(c.workDir, 'uploaded'), '')
      }
    })
    const run = runner.start(c)
    expect(await run.done).toMatchObject({ kind: 'succeeded' })
    expect(uploads).toEqual(['new\n'])
    expect(run.log.tail().map(l => l.text)).toContain('checkpoint upload failed: dht unreachable')

    const unchanged = ctx(execSpec(['true'], { checkpoint: { intervalMs: 10 } }), {
      checkpoint: new TextEncoder().encode('same'),
      onCheckpoint: async () => { throw new Error('must not upload') }
    })
    expect(await runner.start(unchanged).done).toMatchObject({ kind: 'succeeded' })
    expect(await readFile(join(unchanged.workDir, 'checkpoint'), 'utf8')).toBe('same')
  })
})
