import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bidmesh, killCliSwarm, startCliSwarm, waitForSwarmFormed, type SwarmMemberInfo } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'

describe('tasks through the bidmesh command on a 3-process swarm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-e2e-tasks-'))
  let child: ChildProcess
  let members: SwarmMemberInfo[]

  beforeAll(async () => {
    ({ child, members } = await startCliSwarm(3, join(dir, 'swarm'), ['--cpu', '2', '--mem', '2048']))
    await waitForSwarmFormed(members, 3)
  }, 90_000)

  afterAll(async () => {
    killCliSwarm(child, members)
    rmSync(dir, { recursive: true, force: true })
  })

  it('run --wait prints the output and exits 0; a failing command exits 1 with its error', async () => {
    const ok = await bidmesh(['run', '--api', members[0]!.api, '--cpu', '0.5', '--mem', '64', '--wait', '--', 'sh', '-c', 'echo hello from bidmesh'])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('hello from bidmesh')
    const bad = await bidmesh(['run', '--api', members[1]!.api, '--cpu', '0.5', '--mem', '64', '--wait', '--', 'sh', '-c', 'echo oops >&2; exit 4'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/code 4/)
  })

  it('submit FILE, then read its status and logs at another node', async () => {
    const spec = join(dir, 'task.yaml')
    writeFileSync(spec, 'name: greet\nkind: exec\ncommand: [sh, -c, "echo line one; echo line two"]\nresources:\n  cpu: 0.5\n  memMb: 64\n')
    const submitted = await bidmesh(['submit', spec, '--api', members[0]!.api, '--json'])
    expect(submitted.code).toBe(0)
    const id = JSON.parse(submitted.stdout).id as string
    await waitFor(async () => {
      const r = await bidmesh(['task', id, '--json', '--api', members[2]!.api])
      return r.code === 0 && JSON.parse(r.stdout).state === 'succeeded'
    }, 'the task to succeed, seen from another node', 20_000, 200)
    const logs = await bidmesh(['logs', id, '--api', members[1]!.api])
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/line one[\s\S]*line two/)
    const list = await bidmesh(['tasks', '--all', '--api', members[1]!.api])
    expect(list.stdout).toContain(id)
  })

  it('a bad spec file exits 2 naming the field, and cancel stops a running task', async () => {
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'name: bad\nkind: exec\ncommand: [true]\nresources:\n  cpu: -1\n')
    const r = await bidmesh(['submit', bad, '--api', members[0]!.api])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/resources\.cpu/)

    const long = await bidmesh(['run', '--api', members[0]!.api, '--cpu', '0.5', '--mem', '64', '--json', '--', 'sleep', '60'])
    const id = JSON.parse(long.stdout).id as string
    await waitFor(async () => JSON.parse((await bidmesh(['task', id, '--json', '--api', members[0]!.api])).stdout).state === 'running', 'the task to run', 20_000, 200)
    const cancelled = await bidmesh(['cancel', id, '--api', members[2]!.api])
    expect(cancelled.code).toBe(0)
    expect(cancelled.stdout).toMatch(/cancelled/)
  })

  it('when the node running a task is SIGKILLed, its owner places it again and it finishes elsewhere', async () => {
    const owner = members[0]!
    const spec = join(dir, 'pinned.yaml')
    // Never on the owner (node 0), so killing the executor leaves the owner to re-place it.
    writeFileSync(spec, 'name: survivor\nkind: exec\ncommand: [sh, -c, "sleep 2; echo survived"]\nresources:\n  cpu: 0.5\n  memMb: 64\nconstraints:\n  swarm.index: ["1", "2"]\n')
    const r = await bidmesh(['submit', spec, '--api', owner.api, '--json'])
    const id = JSON.parse(r.stdout).id as string
    let node = ''
    await waitFor(async () => {
      const t = JSON.parse((await bidmesh(['task', id, '--json', '--api', owner.api])).stdout)
      node = t.node ?? ''
      return t.state === 'running'
    }, 'the task to run', 45_000, 100)
    const victim = members.find(m => m.peerId === node)!
    expect(victim.index).not.toBe(0)
    process.kill(victim.pid, 'SIGKILL')
    await waitFor(async () => JSON.parse((await bidmesh(['task', id, '--json', '--api', owner.api])).stdout).state === 'succeeded',
      'the task to finish on the other node', 30_000, 200)
    const t = JSON.parse((await bidmesh(['task', id, '--json', '--api', owner.api])).stdout)
    expect(t.recoveries).toBe(1)
    expect(t.attempt).toBe(2)
    expect(t.node).not.toBe(victim.peerId)
    expect(t.result.stdoutTail).toBe('survived')
  }, 120_000)
})
