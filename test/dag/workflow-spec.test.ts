import { describe, it, expect } from 'vitest'
import { parseWorkflowSpec, DEFAULT_MAX_PARALLEL } from '../../src/core/workflow-spec.js'
import { ValidationError } from '../../src/core/errors.js'
import { parseDocument } from 'yaml'

function issuesOf (input: unknown): Array<{ path: string, message: string }> {
  try { parseWorkflowSpec(input) } catch (e) { if (e instanceof ValidationError) return e.issues; throw e }
  return []
}

describe('workflow spec', () => {
  it('parses YAML as written in the issue, merging defaults into every task', () => {
    const doc = parseDocument(`
name: wordcount
framework: alice
defaults:
  kind: js
  module: ./wc.js
  resources: { cpu: 0.5 }
  retries: { max: 2 }
tasks:
  - name: split
    export: split
  - name: map
    needs: [split]
    forEach: { from: split, field: files }
    resources: { memMb: 512 }
  - name: sum
    needs: [map]
    inputs:
      counts: { from: map }
`).toJS()
    const spec = parseWorkflowSpec(doc)
    expect(spec.failurePolicy).toBe('failFast')
    expect(spec.maxParallel).toBe(DEFAULT_MAX_PARALLEL)
    const [split, map, sum] = spec.tasks
    expect(split).toMatchObject({ name: 'split', kind: 'js', module: './wc.js', export: 'split', framework: 'alice', needs: [], inputs: {} })
    // Object fields merge key by key: the task's memMb joins the default cpu.
    expect(map?.resources).toEqual({ cpu: 0.5, memMb: 512, gpu: 0 })
    expect(map?.retries).toEqual({ max: 2, backoffMs: 1000, factor: 2 })
    expect(map?.forEach).toEqual({ from: 'split', field: 'files' })
    expect(sum?.inputs).toEqual({ counts: { from: 'map' } })
  })

  it('parsing a parsed spec gives it back unchanged (the run state stores the parsed form)', () => {
    const spec = parseWorkflowSpec({
      name: 'w', defaults: { kind: 'exec', command: ['true'], env: { A: '1' } },
      tasks: [{ name: 'a', env: { B: '2' }, forEach: [1, 2] }, { name: 'b', kind: 'js', source: 's', needs: ['a'], inputs: { x: { from: 'a', field: '0' } }, input: { k: 1 } }]
    })
    expect(parseWorkflowSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec)
  })

  it.each<{ what: string, input: unknown, path: string, message: RegExp }>([
    { what: 'no tasks', input: { name: 'w', tasks: [] }, path: 'tasks', message: /at least one task/ },
    { what: 'a bad task field', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', resources: { cpu: -1 } }] }, path: 'tasks[0].resources.cpu', message: /Too small/ },
    { what: 'no kind anywhere', input: { name: 'w', tasks: [{ name: 'a' }] }, path: 'tasks[0].kind', message: /exec.*js/ },
    { what: 'a bad default', input: { name: 'w', defaults: { retries: { max: -1 } }, tasks: [{ name: 'a' }] }, path: 'defaults.retries.max', message: /Too small/ },
    { what: 'an unknown default', input: { name: 'w', defaults: { colour: 'red' }, tasks: [{ name: 'a' }] }, path: 'defaults.colour', message: /not a task field/ },
    { what: 'needs in defaults', input: { name: 'w', defaults: { needs: ['x'] }, tasks: [{ name: 'a' }] }, path: 'defaults.needs', message: /per task/ },
    { what: 'another framework', input: { name: 'w', framework: 'f', tasks: [{ name: 'a', kind: 'js', source: 's', framework: 'g' }] }, path: 'tasks[0].framework', message: /workflow's framework/ },
    { what: 'a string input shorthand', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', inputs: { x: 'b.total' } }] }, path: 'tasks[0].inputs.x', message: /object/ },
    { what: 'a forEach that is neither', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', forEach: 'b' }] }, path: 'tasks[0].forEach', message: /list of items/ },
    { what: 'a reserved input key', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', forEach: [1], inputs: { item: { from: 'b' } } }] }, path: 'tasks[0].inputs.item', message: /reserved/ },
    { what: 'a non-object input with inputs', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', input: 3, forEach: [1] }] }, path: 'tasks[0].input', message: /must be an object/ },
    { what: 'a bad field path', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', inputs: { x: { from: 'b', field: 'a..b' } } }] }, path: 'tasks[0].inputs.x.field', message: /dot-separated/ },
    { what: 'an input key that is not a plain name', input: { name: 'w', tasks: [{ name: 'a', kind: 'js', source: 's', inputs: { __proto__x: { from: 'b' } } }] }, path: 'tasks[0].inputs.__proto__x', message: /starting with a letter/ },
    { what: 'a bad policy', input: { name: 'w', failurePolicy: 'maybe', tasks: [{ name: 'a', kind: 'js', source: 's' }] }, path: 'failurePolicy', message: /failFast/ },
    { what: 'maxParallel 0', input: { name: 'w', maxParallel: 0, tasks: [{ name: 'a', kind: 'js', source: 's' }] }, path: 'maxParallel', message: /Too small/ }
  ])('rejects $what, naming $path', ({ input, path, message }) => {
    const issues = issuesOf(input)
    const hit = issues.find(i => i.path === path)
    expect(hit, JSON.stringify(issues)).toBeDefined()
    expect(hit?.message).toMatch(message)
  })

  it('rejects a "__proto__" input name rather than dropping it', () => {
    const input = JSON.parse('{"name":"w","tasks":[{"name":"a","kind":"js","source":"s","inputs":{"__proto__":{"from":"b"}}}]}') as unknown
    expect(issuesOf(input)).toEqual([{ path: 'tasks[0].inputs.__proto__', message: 'an input name has letters, digits, _ and - only, starting with a letter' }])
  })

  it('reports a bad default once, not once per task', () => {
    const tasks = Array.from({ length: 100 }, (_, i) => ({ name: `t${i}` }))
    expect(issuesOf({ name: 'w', defaults: { kind: 'js', source: 's', priority: 5000 }, tasks })).toHaveLength(1)
  })
})
