import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bidmesh, isAlive, startCliSwarm, type SwarmMemberInfo } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'

describe('bidmesh swarm, as a user runs it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-e2e-'))
  let child: ChildProcess
  let members: SwarmMemberInfo[]

  beforeAll(async () => {
    ({ child, members } = await startCliSwarm(3, join(dir, 'swarm')))
  }, 90_000)

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL')
    for (const m of members ?? []) if (isAlive(m.pid)) process.kill(m.pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  const statusOf = async (api: string): Promise<any> => {
    const r = await bidmesh(['status', '--json', '--api', api])
    if (r.code !== 0) throw new Error(r.stderr)
    return JSON.parse(r.stdout)
  }

  it('status --json shows 3 alive peers', async () => {
    await waitFor(async () => (await statusOf(members[0]!.api)).cluster.counts.alive === 3, '3 alive peers', 20_000, 200)
    const status = await statusOf(members[0]!.api)
    expect(status.node.peerId).toBe(members[0]!.peerId)
    expect(status.cluster.peers.map((p: any) => p.peerId).sort()).toEqual(members.map(m => m.peerId).sort())
  })

  it('status reads BIDMESH_API and prints a table', async () => {
    const r = await bidmesh(['status'], { BIDMESH_API: members[1]!.api })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(members[1]!.peerId)
    expect(r.stdout).toMatch(/cluster: \d alive/)
  })

  const statusIn = async (observer: SwarmMemberInfo, peer: string): Promise<string | undefined> =>
    (await statusOf(observer.api)).cluster.peers.find((p: any) => p.peerId === peer)?.status

  it('a frozen node (SIGSTOP) is marked dead, and alive again once it wakes (SIGCONT)', async () => {
    const frozen = members[1]!
    const observer = members[0]!
    process.kill(frozen.pid, 'SIGSTOP')
    try {
      await waitFor(async () => await statusIn(observer, frozen.peerId) === 'dead', 'the frozen node to be dead', 15_000, 100)
    } finally {
      process.kill(frozen.pid, 'SIGCONT')
    }
    await waitFor(async () => await statusIn(observer, frozen.peerId) === 'alive', 'the woken node to be alive again', 15_000, 100)
  })

  it('a node killed with SIGKILL is marked dead by the others', async () => {
    const victim = members[2]!
    process.kill(victim.pid, 'SIGKILL')
    for (const m of members.slice(0, 2)) {
      await waitFor(async () => (await statusOf(m.api)).cluster.peers.find((p: any) => p.peerId === victim.peerId)?.status === 'dead',
        `node ${m.index} to see the killed node dead`, 10_000, 100)
    }
  })

  it('Ctrl-C stops the swarm and leaves no node process behind', async () => {
    const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    for (const m of members) expect(isAlive(m.pid)).toBe(false)
  })
})

describe('bidmesh node input errors', () => {
  it.each([
    [['node', '--cpu', '0'], /--cpu/],
    [['node', '--api-port', '70000'], /--api-port/],
    [['node', '--label', 'novalue'], /KEY=VALUE/],
    [['node', '--api-host', '0.0.0.0', '--data', '/nonexistent/never'], /--api-token \(api\.token\)/],
    [['node', '--config', '/nonexistent/bidmesh.yaml'], /cannot read/]
  ])('bidmesh %j exits 2 naming the problem', async (args, message) => {
    const r = await bidmesh(args)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
  })
})
