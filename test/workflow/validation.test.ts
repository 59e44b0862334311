import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiServer } from '../../src/api/server.js'
import { assertBuilt, bidmesh } from '../helpers/cli.js'
import { startSwarm, type TestSwarm } from '../helpers/nodes.js'

const CYCLE = {
  name: 'loop',
  defaults: { kind: 'js', source: 'export default async () => 1' },
  tasks: [
    { name: 'a', needs: ['c'] },
    { name: 'b', needs: ['a'] },
    { name: 'c', needs: ['b'] }
  ]
}
const UNKNOWN = {
  name: 'dangling',
  defaults: { kind: 'js', source: 'export default async () => 1' },
  tasks: [{ name: 'a' }, { name: 'b', needs: ['nope'] }]
}

describe('a bad workflow is rejected before anything runs', () => {
  let swarm: TestSwarm
  let api: ApiServer
  let url: string
  const dir = mkdtempSync(join(tmpdir(), 'bidmesh-wf-bad-'))

  beforeAll(async () => {
    swarm = await startSwarm(1)
    api = new ApiServer(swarm.nodes[0]!, { host: '127.0.0.1', port: 0 })
    url = await api.start()
  }, 30_000)

  afterAll(async () => {
    await api?.stop()
    await swarm?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function post (body: unknown): Promise<{ status: number, body: any }> {
    const res = await fetch(`${url}/v1/workflows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }

  it('POST /v1/workflows answers 400 naming the cycle in order, and the unknown need by field', async () => {
    const cycle = await post(CYCLE)
    expect(cycle.status).toBe(400)
    expect(cycle.body.error.code).toBe('invalid_argument')
    expect(cycle.body.error.message).toContain('a → b → c → a')
    expect(cycle.body.error.details.issues[0].path).toBe('tasks[0].needs[0]')

    const unknown = await post(UNKNOWN)
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.details.issues).toEqual([expect.objectContaining({ path: 'tasks[1].needs[0]', message: expect.stringContaining('nope') })])

    const empty = await post({ name: 'empty', tasks: [] })
    expect(empty.status).toBe(400)
    // Nothing was started and nothing was submitted to the mesh.
    expect(swarm.nodes[0]!.workflows.list()).toEqual([])
    expect(await swarm.nodes[0]!.scheduler.list({})).toEqual([])
  })

  it('GET and DELETE of an unknown workflow are 404s', async () => {
    expect((await fetch(`${url}/v1/workflows/w-000000000aaaaaaaaaaaaaaaa`)).status).toBe(404)
    expect((await fetch(`${url}/v1/workflows/w-000000000aaaaaaaaaaaaaaaa`, { method: 'DELETE' })).status).toBe(404)
  })

  it('the CLI exits 2 with the cycle and the file line, without sending anything', async () => {
    assertBuilt()
    const cyc = join(dir, 'cycle.yaml')
    writeFileSync(cyc, [
      'name: loop',
      'defaults: { kind: js, source: "export default async () => 1" }',
      'tasks:',
      '  - name: a',
      '    needs: [c]',
      '  - name: b',
      '    needs: [a]',
      '  - name: c',
      '    needs: [b]',
      ''
    ].join('\n'))
    const r = await bidmesh(['workflow', 'submit', cyc, '--api', url])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('a → b → c → a')
    expect(r.stderr).toContain('cycle.yaml:5')

    const unk = join(dir, 'unknown.json')
    writeFileSync(unk, JSON.stringify(UNKNOWN))
    const u = await bidmesh(['workflow', 'submit', unk, '--api', url])
    expect(u.code).toBe(2)
    expect(u.stderr).toMatch(/tasks\[1\]\.needs\[0\].*nope/)
    expect(swarm.nodes[0]!.workflows.list()).toEqual([])
  }, 30_000)

  it('the CLI submits, waits with progress, and lists a good workflow', async () => {
    const good = join(dir, 'good.yaml')
    writeFileSync(good, [
      'name: tiny',
      'defaults: { kind: js, resources: { cpu: 0.25, memMb: 32 } }',
      'tasks:',
      '  - name: one',
      '    source: "export default async () => 20"',
      '  - name: two',
      '    needs: [one]',
      '    inputs: { n: { from: one } }',
      '    source: "export default async (input) => input.n + 1"',
      ''
    ].join('\n'))
    const r = await bidmesh(['workflow', 'submit', good, '--wait', '--api', url], { BIDMESH_API_TOKEN: '' })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('21')
    expect(r.stderr).toMatch(/succeeded: 2 of 2 done/)
    const id = /submitted (w-\S+)/.exec(r.stderr)![1]!
    const status = await bidmesh(['workflow', 'status', id, '--api', url])
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/two\s+succeeded\s+1/)
    const list = await bidmesh(['workflow', 'list', '--api', url])
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+tiny\\s+succeeded\\s+2/2`))
  }, 30_000)
})
