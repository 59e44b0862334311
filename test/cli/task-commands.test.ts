import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { BidmeshError, ValidationError } from '../../src/core/errors.js'
import type { TaskStatus } from '../../src/core/task-state.js'
import { registerFrameworkCommand } from '../../src/cli/framework-command.js'
import { formatAge, formatBytes, nameFor, registerTaskCommands, type CliIo } from '../../src/cli/task-commands.js'
import { progressLine } from '../../src/cli/wait.js'
import { waitFor } from '../helpers/wait.js'
import { FakeTaskService, PEER, startApi, step } from '../api/fake-task-service.js'

const dir = mkdtempSync(join(tmpdir(), 'bidmesh-cli-'))
const NOW = 1_700_000_100_000

let service: FakeTaskService
let api: { url: string, close: () => Promise<void> }

beforeAll(async () => {
  api = await startApi(() => service, { followPollMs: 5 })
})
afterAll(async () => { await api.close() })
beforeEach(() => { service = new FakeTaskService() })

interface Run { code: number, out: string[], err: string[] }

/**
 * Runs `bidmesh ARGS` in-process against the fake API, with output captured, and maps errors to
 * exit codes as src/cli/main.ts does (bad input 2, other failures 1).
 */
async function bidmesh (args: string[], opts: { stdin?: string, interrupt?: AbortSignal, env?: NodeJS.ProcessEnv, live?: Run } = {}): Promise<Run> {
  const run: Run = opts.live ?? { code: 0, out: [], err: [] }
  const io: CliIo = {
    out: t => { run.out.push(t) },
    err: t => { run.err.push(t) },
    env: opts.env ?? {},
    readStdin: async () => opts.stdin ?? '',
    interrupt: () => ({ signal: opts.interrupt ?? new AbortController().signal, dispose: () => {} }),
    setExitCode: c => { run.code = c },
    now: () => NOW,
    pollMs: 1
  }
  const program = new Command('bidmesh').exitOverride().configureOutput({ writeOut: s => { run.out.push(s) }, writeErr: s => { run.err.push(s) } })
  registerTaskCommands(program, io)
  registerFrameworkCommand(program, io)
  const apiFlag = opts.env?.BIDMESH_API !== undefined ? [] : ['--api', api.url]
  // `run` takes everything after -- as its command: the flag goes before it.
  const dd = args.indexOf('--')
  const argv = dd < 0 ? [...args, ...apiFlag] : [...args.slice(0, dd), ...apiFlag, ...args.slice(dd)]
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) run.code = err.exitCode === 0 ? 0 : 2
    else if (err instanceof ValidationError) { run.err.push(`bidmesh: ${err.message}`); run.code = 2 } else if (err instanceof BidmeshError) { run.err.push(`bidmesh: ${err.message}`); run.code = 1 } else throw err
  }
  return run
}

function file (name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const SHORT_PEER = '12D3KooW…B0b2'

describe('submit', () => {
  it('submits a YAML file and prints the id', async () => {
    const f = file('ok.yaml', 'name: train\nkind: exec\ncommand: [python, train.py]\nresources:\n  cpu: 2\n  gpu: 1\n')
    const r = await bidmesh(['submit', f])
    expect(r).toMatchObject({ code: 0, err: [] })
    expect(r.out).toEqual([[...service.tasks.keys()][0]])
    expect(service.submitted).toEqual([{ name: 'train', kind: 'exec', command: ['python', 'train.py'], resources: { cpu: 2, gpu: 1 } }])
  })

  it('reads JSON by extension, and stdin for -', async () => {
    expect((await bidmesh(['submit', file('ok.json', '{"name": "j", "kind": "exec", "command": ["true"]}')])).code).toBe(0)
    expect((await bidmesh(['submit', '-'], { stdin: 'name: s\nkind: exec\ncommand: ["true"]\n' })).code).toBe(0)
    expect(service.submitted.map(s => (s as any).name)).toEqual(['j', 's'])
  })

  it('--json prints the id and status', async () => {
    const r = await bidmesh(['submit', file('ok2.yaml', 'name: a\nkind: exec\ncommand: [x]\n'), '--json'])
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({ id: expect.stringMatching(/^t-/), task: { state: 'pending' } })
  })

  it('names the file and line of a YAML syntax error, exits 2 and does not call the API', async () => {
    const f = file('bad.yaml', 'name: x\nkind: exec\ncommand: [a, b\nresources: {cpu: 1}\n')
    const r = await bidmesh(['submit', f])
    expect(r.code).toBe(2)
    expect(r.err.join('\n')).toMatch(new RegExp(`invalid task spec file: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:1: Flow sequence`))
    expect(service.submitted).toEqual([])
  })

  it('names the line of a JSON syntax error, even where JSON.parse gives no position', async () => {
    const r = await bidmesh(['submit', file('bad.json', '{\n  "name": "x",\n  "kind": }\n')])
    expect(r.code).toBe(2)
    expect(r.err.join('\n')).toContain('bad.json:3:')
    expect(service.submitted).toEqual([])
  })

  it('checks the spec before sending it, naming the field and its line', async () => {
    const f = file('invalid.yaml', 'name: x\nkind: exec\ncommand: [a]\nresources:\n  cpu: -2\n')
    const r = await bidmesh(['submit', f])
    expect(r.code).toBe(2)
    expect(r.err.join('\n')).toContain(`invalid task spec: resources.cpu (${f}:5): Too small`)
    expect(service.submitted).toEqual([])
  })

  it('says which file cannot be read', async () => {
    const r = await bidmesh(['submit', join(dir, 'missing.yaml')])
    expect(r.code).toBe(2)
    expect(r.err.join('\n')).toMatch(/missing\.yaml: cannot read it \(ENOENT\)/)
  })

  it('--wait prints progress on each change and exits 0 with the result', async () => {
    service.script = t => {
      const waiting = { ...t, pendingReason: 'no peer with gpu >= 8' }
      const placed = step(waiting, 'placed', { node: PEER })
      const running = step(placed, 'running')
      const done = step(running, 'succeeded', { patch: { result: { answer: 42 }, exitCode: 0 } })
      return [waiting, waiting, waiting, placed, running, running, done]
    }
    const r = await bidmesh(['submit', file('w.yaml', 'name: w\nkind: exec\ncommand: [x]\n'), '--wait'])
    expect(r.code).toBe(0)
    expect(r.err).toEqual([
      `submitted ${[...service.tasks.keys()][0]}`,
      '  pending',
      '  pending (no peer with gpu >= 8)',
      `  placed on ${SHORT_PEER}`,
      `  running on ${SHORT_PEER}`,
      `  succeeded on ${SHORT_PEER} (exit code 0)`
    ])
    expect(JSON.parse(r.out.join('\n'))).toEqual({ answer: 42 })
  })

  it('--wait stops on Ctrl-C, says the task carries on, exits 130', async () => {
    const ctrlC = new AbortController()
    const live: Run = { code: 0, out: [], err: [] }
    const running = bidmesh(['submit', file('forever.yaml', 'name: f\nkind: exec\ncommand: [x]\n'), '--wait'], { interrupt: ctrlC.signal, live })
    await waitFor(() => live.err.includes('  pending'), 'the first progress line')
    ctrlC.abort()
    const r = await running
    expect(r.code).toBe(130)
    expect(r.err.at(-1)).toMatch(/^stopped waiting; task t-\S+ carries on \(pending\)/)
    expect([...service.tasks.values()][0]?.state).toBe('pending')
  })
})

describe('run', () => {
  it('builds an exec spec from the command after --', async () => {
    const r = await bidmesh(['run', '--', 'echo', 'hi'])
    expect(r.code).toBe(0)
    expect(service.submitted).toEqual([{ name: 'echo', kind: 'exec', command: ['echo', 'hi'] }])
    expect(r.out).toEqual([[...service.tasks.keys()][0]])
  })

  it('puts every flag in its field', async () => {
    await bidmesh(['run', '--cpu', '0.5', '--mem', '512', '--gpu', '1', '--framework', 'ml', '--name', 'job', '--timeout', '60000', '--retries', '2', '--env', 'A=1', '--env', 'B=x=y', '--', '/usr/bin/python3', '-c', 'print(1)'])
    expect(service.submitted).toEqual([{
      name: 'job',
      kind: 'exec',
      command: ['/usr/bin/python3', '-c', 'print(1)'],
      framework: 'ml',
      resources: { cpu: 0.5, memMb: 512, gpu: 1 },
      env: { A: '1', B: 'x=y' },
      timeoutMs: 60000,
      retries: { max: 2 }
    }])
  })

  it.each([
    [['--cpu', '0'], '--cpu'],
    [['--gpu', '1.5'], '--gpu'],
    [['--env', 'NOEQUALS'], '--env'],
    [['--retries', '-1'], '--retries']
  ])('refuses %j with exit 2, naming the flag', async (flags, name) => {
    const r = await bidmesh(['run', ...flags, '--', 'echo'])
    expect(r.code).toBe(2)
    expect(r.err.join('')).toContain(name)
    expect(service.submitted).toEqual([])
  })

  it('names the flag when a value breaks the spec schema', async () => {
    const r = await bidmesh(['run', '--framework', 'no spaces', '--', 'echo'])
    expect(r.code).toBe(2)
    expect(r.err.join('')).toContain('--framework (framework)')
    expect(service.submitted).toEqual([])
  })

  it('--wait prints the stdout tail on success', async () => {
    service.script = t => [step(step(step(t, 'placed', { node: PEER }), 'running'), 'succeeded', { patch: { result: { exitCode: 0, stdoutTail: 'hi\nthere' }, exitCode: 0 } })]
    const r = await bidmesh(['run', '--wait', '--', 'echo', 'hi'])
    expect(r.code).toBe(0)
    expect(r.out).toEqual(['hi\nthere'])
  })

  it('--wait exits 1 with the error on failure', async () => {
    service.script = t => {
      const running = step(step(t, 'placed', { node: PEER }), 'running')
      return [running, step(running, 'failed', { patch: { error: 'exited with code 3', exitCode: 3 } })]
    }
    const r = await bidmesh(['run', '--wait', '--', 'false'])
    expect(r.code).toBe(1)
    expect(r.err.slice(1)).toEqual(['  pending', `  running on ${SHORT_PEER}`, `  failed on ${SHORT_PEER} (exit code 3)`, expect.stringMatching(/^bidmesh: task t-\S+ failed: exited with code 3$/)])
    expect(r.out).toEqual([])
  })

  it('--wait exits 1 when the task is cancelled', async () => {
    service.script = t => [step(t, 'cancelled', { reason: 'cancelled by the user' })]
    const r = await bidmesh(['run', '--wait', '--', 'sleep', '100'])
    expect(r.code).toBe(1)
    expect(r.err.at(-1)).toMatch(/was cancelled \(cancelled by the user\)$/)
  })

  it('names tasks after the program, in the name alphabet', () => {
    expect(nameFor('/usr/bin/python3.12')).toBe('python3.12')
    expect(nameFor('./my script!.sh')).toBe('my-script-.sh')
    expect(nameFor('---')).toBe('task')
  })
})

describe('tasks, task, cancel', () => {
  function seed (): [TaskStatus, TaskStatus] {
    const a = service.add({ name: 'old', kind: 'exec', command: ['x'] })
    const b = service.add({ name: 'new', kind: 'exec', command: ['y', 'two words'], framework: 'ml', constraints: { zone: 'eu' } }, { to: 'placed', node: PEER }, { to: 'running' })
    return [a, b]
  }

  it('tasks prints a table, newest first; the API may come from BIDMESH_API', async () => {
    const [a, b] = seed()
    const r = await bidmesh(['tasks', '--all', '--limit', '5'], { env: { BIDMESH_API: api.url } })
    expect(r.code).toBe(0)
    const lines = r.out.join('\n').split('\n')
    expect(lines[0]).toMatch(/^ID\s+NAME\s+FRAMEWORK\s+STATE\s+ATTEMPT\s+NODE\s+AGE$/)
    expect(lines[1]?.split(/\s+/)).toEqual([b.id, 'new', 'ml', 'running', '1', SHORT_PEER, formatAge(NOW - b.submittedAt)])
    expect(lines[2]?.split(/\s+/)).toEqual([a.id, 'old', 'default', 'pending', '1', '-', formatAge(NOW - a.submittedAt)])
    expect(service.listCalls).toEqual([{ all: true, limit: 5 }])
  })

  it('tasks --json prints the statuses', async () => {
    const [a, b] = seed()
    const r = await bidmesh(['tasks', '--json'])
    expect(JSON.parse(r.out.join('\n'))).toEqual([b, a])
  })

  it('task ID prints the details and the history', async () => {
    const [, b] = seed()
    const r = await bidmesh(['task', b.id])
    const text = r.out.join('\n')
    for (const line of [
      `task ${b.id}`, "runs exec y 'two words'", 'resources cpu=1 memMb=256', 'constraints zone=eu', 'framework ml (priority 0, spread)',
      `state running on ${SHORT_PEER}`, `node ${PEER}`, 'retries 0 of 0 for task failures', 'recoveries 0 for lost nodes'
    ]) expect(text.replace(/ {2,}/g, ' ')).toContain(line)
    expect(text).not.toMatch(/^checkpoint/m)
    expect(text).toMatch(/history\n\s+TIME\s+STATE\s+ATTEMPT\s+NODE\s+REASON\n.*pending\s+1\n.*placed\s+1\s+12D3KooW…B0b2\n.*running/)
  })

  it('task ID shows retries and recoveries apart, and the last checkpoint: seq, size and age', async () => {
    const [, b] = seed()
    service.tasks.set(b.id, { ...b, attempt: 3, retries: 1, recoveries: 1, spec: { ...b.spec, retries: { ...b.spec.retries, max: 2 } }, checkpoint: { attempt: 3, seq: 12, bytes: 1536, at: NOW - 4_000 } })
    const text = (await bidmesh(['task', b.id])).out.join('\n').replace(/ {2,}/g, ' ')
    expect(text).toContain('retries 1 of 2 for task failures\nrecoveries 1 for lost nodes\ncheckpoint seq 12, 1.5 KiB, saved 4s ago')

    // Restored from an earlier attempt and not yet saved again: the checkpoint says whose it is.
    service.tasks.set(b.id, { ...b, attempt: 2, recoveries: 1, checkpoint: { attempt: 1, seq: 40, bytes: 256 * 1024, at: NOW - 90_000 } })
    expect((await bidmesh(['task', b.id])).out.join('\n').replace(/ {2,}/g, ' ')).toContain('checkpoint seq 40 of attempt 1, 256 KiB, saved 1m ago')
  })

  it.each([[0, '0 B'], [1023, '1023 B'], [1024, '1 KiB'], [1536, '1.5 KiB'], [65_536, '64 KiB'], [262_144, '256 KiB'], [1_258_291, '1.2 MiB']])('formatBytes(%i) is %s', (n, text) => {
    expect(formatBytes(n)).toBe(text)
  })

  it('task of an unknown id exits 1 saying so', async () => {
    const r = await bidmesh(['task', 't-nope'])
    expect(r).toMatchObject({ code: 1, err: ['bidmesh: task t-nope not found'] })
  })

  it('cancel prints the final state', async () => {
    const [, b] = seed()
    const r = await bidmesh(['cancel', b.id])
    expect(r.out).toEqual([`${b.id} cancelled`])
  })

  it('cannot reach an API that is not there: exit 1, one line', async () => {
    const r = await bidmesh(['tasks'], { env: { BIDMESH_API: 'http://127.0.0.1:1' } })
    expect(r.code).toBe(1)
    expect(r.err).toEqual([expect.stringMatching(/^bidmesh: cannot reach the bidmesh API at http:\/\/127\.0\.0\.1:1/)])
  })
})

describe('logs', () => {
  function withLog (): TaskStatus {
    const t = service.add({ name: 'l', kind: 'exec', command: ['x'] })
    service.appendLog(t.id, ['sys', 'started'], ['out', 'hello'], ['err', 'oops'])
    return t
  }

  it('prints every line as <time> <stream> <text>', async () => {
    const t = withLog()
    const r = await bidmesh(['logs', t.id])
    const time = new Date(service.logs_.get(t.id)!.lines[0]!.ts).toISOString()
    expect(r.out).toEqual([`${time} sys started`, `${time} out hello`, `${time} err oops`])
  })

  it('pages through a long log', async () => {
    const t = service.add({ name: 'l', kind: 'exec', command: ['x'] })
    for (let i = 1; i <= 2001; i++) service.appendLog(t.id, ['out', String(i)])
    const r = await bidmesh(['logs', t.id])
    expect(r.out).toHaveLength(2001)
    expect(service.logCalls.map(c => c.after)).toEqual([0, 1000, 2000])
  })

  it('--tail N prints the last N', async () => {
    const t = withLog()
    expect((await bidmesh(['logs', t.id, '--tail', '1'])).out).toEqual([expect.stringMatching(/ err oops$/)])
  })

  it('-f follows until the task ends', async () => {
    const t = withLog()
    service.onLogs = () => { if (service.logCalls.length === 3) { service.appendLog(t.id, ['sys', 'exited with code 0']); service.endLog(t.id) } }
    const r = await bidmesh(['logs', t.id, '-f'])
    expect(r.code).toBe(0)
    expect(r.out.map(l => l.split(' ').slice(1).join(' '))).toEqual(['sys started', 'out hello', 'err oops', 'sys exited with code 0'])
  })

  it('-f of an unknown task exits 1 saying so', async () => {
    expect(await bidmesh(['logs', 't-nope', '-f'])).toMatchObject({ code: 1, err: ['bidmesh: task t-nope not found'] })
  })

  it('-f stops on Ctrl-C with exit 130', async () => {
    const t = withLog()
    const ctrlC = new AbortController()
    const live: Run = { code: 0, out: [], err: [] }
    const following = bidmesh(['logs', t.id, '-f'], { interrupt: ctrlC.signal, live })
    await waitFor(() => live.out.length === 3, 'the first lines')
    ctrlC.abort()
    expect((await following).code).toBe(130)
  })
})

describe('framework', () => {
  it('list prints a table', async () => {
    const r = await bidmesh(['framework', 'list'])
    expect(r.out.join('\n').split('\n')).toEqual([
      'NAME     WEIGHT  SHARE  RUNNING  PENDING  USAGE',
      'default  1       12.5%  0        0        cpu=1.5 memMb=512'
    ])
  })

  it('set NAME --weight W sets it', async () => {
    const r = await bidmesh(['framework', 'set', 'ml', '--weight', '2.5'])
    expect(r).toMatchObject({ code: 0, out: ['framework ml: weight 2.5, share 0.0%'] })
    expect(service.weights.get('ml')).toBe(2.5)
  })

  it.each([['-1'], ['0'], ['abc'], ['Infinity']])('set with --weight %s exits 2 naming the flag, without calling the API', async w => {
    const r = await bidmesh(['framework', 'set', 'ml', '--weight', w])
    expect(r.code).toBe(2)
    expect(r.err.join('')).toContain('--weight')
    expect(service.weights.has('ml')).toBe(false)
  })

  it('set without --weight exits 2', async () => {
    const r = await bidmesh(['framework', 'set', 'ml'])
    expect(r.code).toBe(2)
    expect(r.err.join('')).toContain('--weight')
  })

  it('a name the API refuses exits 2 with its message', async () => {
    const r = await bidmesh(['framework', 'set', 'bad name', '--weight', '1'])
    expect(r.code).toBe(2)
    expect(r.err).toEqual([expect.stringMatching(/^bidmesh: invalid framework name: name: /)])
  })
})

it('progress lines say where the task is', () => {
  const t = new FakeTaskService().add({ name: 'p', kind: 'exec', command: ['x'] })
  expect(progressLine({ ...t, pendingReason: 'no peer with gpu >= 8' })).toBe('pending (no peer with gpu >= 8)')
  expect(progressLine({ ...step(step(t, 'placed', { node: PEER }), 'pending', { reason: 'node lost' }), attempt: 2 })).toBe('pending (attempt 2)')
})
