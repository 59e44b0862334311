import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAlive } from '../helpers/cli.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'
import { ExecutionLog, waitAllFinal } from '../helpers/tasks.js'
import { waitFor } from '../helpers/wait.js'

const small = { cpu: 0.25, memMb: 32 }

describe('task failures, retries, timeouts and cancel (exec tasks on 3 nodes)', () => {
  let swarm: TestSwarm
  let log: ExecutionLog
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-fail-'))

  beforeAll(async () => {
    swarm = await startSwarm(3, () => ({ allowExec: true, capacity: { cpu: 2, memMb: 2048 } }))
    await waitFor(() => swarm.nodes.every(n => n.view.alive().length === 3), 'complete views', 30_000)
    log = new ExecutionLog(swarm.nodes)
  }, 60_000)

  afterAll(async () => {
    log?.stop()
    await swarm?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a failing task is retried on other nodes, then fails with its last error', async () => {
    const owner = swarm.nodes[0]!
    const { id } = owner.scheduler.submit({ name: 'boom', kind: 'exec', command: ['sh', '-c', 'echo "boom on attempt $BIDMESH_ATTEMPT" >&2; exit 3'], resources: small, retries: { max: 2, backoffMs: 10 } })
    const [final] = await waitAllFinal([{ node: owner, id }], 30_000)
    expect(final!.state).toBe('failed')
    expect(final!.attempt).toBe(3)
    expect(final!.retries).toBe(2)
    expect(final!.exitCode).toBe(3)
    expect(final!.error).toMatch(/code 3.*boom on attempt 3/)
    // Each retry avoided the nodes where the task had failed.
    expect(new Set(log.runs.get(id)!.map(r => r.node)).size).toBe(3)
  })

  it('a flaky task succeeds on retry', async () => {
    const owner = swarm.nodes[1]!
    const { id } = owner.scheduler.submit({ name: 'flaky', kind: 'exec', command: ['sh', '-c', 'test "$BIDMESH_ATTEMPT" -ge 2 && echo ok'], resources: small, retries: { max: 3, backoffMs: 10 } })
    const [final] = await waitAllFinal([{ node: owner, id }], 30_000)
    expect(final!.state).toBe('succeeded')
    expect(final!.attempt).toBe(2)
    expect(final!.result).toEqual({ exitCode: 0, stdoutTail: 'ok' })
  })

  const sleeper = (pidFile: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ name: 'sleepy', kind: 'exec', command: ['sh', '-c', 'echo $$ > "$PIDFILE"; exec sleep 30'], env: { PIDFILE: pidFile }, resources: small, ...extra })

  const pidIn = async (file: string): Promise<number> => {
    let pid = 0
    await waitFor(() => { try { pid = Number(readFileSync(file, 'utf8')); return pid > 0 } catch { return false } }, `a pid in ${file}`, 10_000)
    return pid
  }

  it('a timeout kills the process and fails the task', async () => {
    const owner = swarm.nodes[2]!
    const pidFile = join(dir, 'timeout.pid')
    const { id } = owner.scheduler.submit(sleeper(pidFile, { timeoutMs: 500 }))
    const pid = await pidIn(pidFile)
    const [final] = await waitAllFinal([{ node: owner, id }], 20_000)
    expect(final!.state).toBe('failed')
    expect(final!.error).toMatch(/timed out after 500 ms/)
    await waitFor(() => !isAlive(pid), 'the timed-out process to be gone', 5_000)
  })

  it('cancel, asked at a node that neither owns nor runs the task, kills the process', async () => {
    const owner = swarm.nodes[0]!
    const pidFile = join(dir, 'cancel.pid')
    const { id } = owner.scheduler.submit(sleeper(pidFile))
    const pid = await pidIn(pidFile)
    await waitFor(() => owner.scheduler.tasks.get(id)?.state === 'running', 'the task to run', 10_000)
    const runner = owner.scheduler.tasks.get(id)!.node
    const other = swarm.nodes.find(n => n.peerId !== owner.peerId && n.peerId !== runner) ?? swarm.nodes[1]!
    const cancelled = await other.scheduler.cancel(id)
    expect(cancelled.state).toBe('cancelled')
    await waitFor(() => !isAlive(pid), 'the cancelled process to be gone', 10_000)
    // A late report from the executor does not resurrect it.
    expect(owner.scheduler.tasks.get(id)!.state).toBe('cancelled')
  })

  it('rejects a bad spec with an error that names the field, and queues nothing', async () => {
    const owner = swarm.nodes[0]!
    const before = owner.scheduler.tasks.all().length
    expect(() => owner.scheduler.submit({ name: 'x', kind: 'exec', command: [], resources: { cpu: -1 } }))
      .toThrow(/command: must name the program to run.*resources\.cpu|resources\.cpu.*command/)
    expect(owner.scheduler.tasks.all().length).toBe(before)
  })
})
