import { describe, it, expect } from 'vitest'
import { parseWorkflow, validateWorkflow } from '../../src/dag/validate.js'
import { ValidationError } from '../../src/core/errors.js'
import { parseWorkflowSpec } from '../../src/core/workflow-spec.js'

type T = Record<string, unknown>
const spec = (tasks: T[]): ReturnType<typeof parseWorkflowSpec> =>
  parseWorkflowSpec({ name: 'w', defaults: { kind: 'js', source: 's' }, tasks })

describe('workflow validation', () => {
  it.each<{ what: string, tasks: T[], issues: Array<{ path: string, message: string }> }>([
    {
      what: 'an unknown dependency',
      tasks: [{ name: 'a' }, { name: 'b', needs: ['a', 'x'] }],
      issues: [{ path: 'tasks[1].needs[1]', message: 'task "b" needs "x", which is not a task of this workflow' }]
    },
    {
      what: 'a duplicate name',
      tasks: [{ name: 'a' }, { name: 'b' }, { name: 'a' }],
      issues: [{ path: 'tasks[2].name', message: 'duplicate task name "a" (also tasks[0])' }]
    },
    {
      what: 'a need listed twice',
      tasks: [{ name: 'a' }, { name: 'b', needs: ['a', 'a'] }],
      issues: [{ path: 'tasks[1].needs[1]', message: 'task "b" lists "a" twice' }]
    },
    {
      what: 'a cycle of three, named in the order the tasks would run',
      tasks: [{ name: 'a', needs: ['c'] }, { name: 'b', needs: ['a'] }, { name: 'c', needs: ['b'] }],
      issues: [{ path: 'tasks[0].needs[0]', message: 'cycle: a → b → c → a (each task needs the one before it)' }]
    },
    {
      what: 'a task that needs itself',
      tasks: [{ name: 'x' }, { name: 'a', needs: ['x', 'a'] }],
      issues: [{ path: 'tasks[1].needs[1]', message: 'cycle: a → a (each task needs the one before it)' }]
    },
    {
      what: 'two separate cycles, and the shortest loop through the first task of each',
      tasks: [
        { name: 'a', needs: ['b'] }, { name: 'b', needs: ['a', 'c'] }, { name: 'c', needs: ['b'] },
        { name: 'p', needs: ['q'] }, { name: 'q', needs: ['p'] }
      ],
      issues: [
        { path: 'tasks[0].needs[0]', message: 'cycle: a → b → a (each task needs the one before it)' },
        { path: 'tasks[3].needs[0]', message: 'cycle: p → q → p (each task needs the one before it)' }
      ]
    },
    {
      what: 'inputs from a task that is not needed',
      tasks: [{ name: 'sum' }, { name: 'report', inputs: { total: { from: 'sum', field: 'total' } } }],
      issues: [{ path: 'tasks[1].inputs.total.from', message: 'task "report" takes input "total" from "sum" but does not need it: add "sum" to needs' }]
    },
    {
      what: 'inputs from a task that does not exist',
      tasks: [{ name: 'a', inputs: { x: { from: 'ghost' } } }],
      issues: [{ path: 'tasks[0].inputs.x.from', message: 'task "a" takes input "x" from "ghost", which is not a task of this workflow' }]
    },
    {
      what: 'a forEach over a task that is not needed',
      tasks: [{ name: 'split' }, { name: 'map', forEach: { from: 'split', field: 'files' } }],
      issues: [{ path: 'tasks[1].forEach.from', message: 'task "map" takes its forEach list from "split" but does not need it: add "split" to needs' }]
    },
    {
      what: 'too many instances after literal fan-out',
      tasks: [{ name: 'a', forEach: Array.from({ length: 6000 }, (_, i) => i) }, { name: 'b', forEach: Array.from({ length: 4001 }, (_, i) => i) }],
      issues: [{ path: 'tasks', message: 'the workflow expands to 10001 task instances; at most 10000 are allowed' }]
    },
    {
      what: 'nothing wrong',
      tasks: [{ name: 'a' }, { name: 'b', needs: ['a'], inputs: { v: { from: 'a' } } }, { name: 'c', needs: ['a', 'b'], forEach: { from: 'b' } }],
      issues: []
    }
  ])('$what', ({ tasks, issues }) => {
    expect(validateWorkflow(spec(tasks))).toEqual(issues)
  })

  it('rejects an empty workflow even when built by hand', () => {
    expect(validateWorkflow({ tasks: [] })).toEqual([{ path: 'tasks', message: 'a workflow needs at least one task' }])
  })

  it('parseWorkflow throws one ValidationError listing every problem', () => {
    let error: unknown
    try {
      parseWorkflow({ name: 'w', defaults: { kind: 'js', source: 's' }, tasks: [{ name: 'a', needs: ['b'] }, { name: 'b', needs: ['a', 'zz'] }] })
    } catch (e) { error = e }
    expect(error).toBeInstanceOf(ValidationError)
    const e = error as ValidationError
    expect(e.name).toBe('ValidationError')
    expect(e.issues.map(i => i.path)).toEqual(['tasks[1].needs[1]', 'tasks[0].needs[0]'])
    expect(e.message).toContain('a → b → a')
  })

  it('finds a cycle in a 10,000-task chain without overflowing the stack', () => {
    // Built by hand: only the graph matters here, not parsing 10,000 task specs.
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({ name: `t${i}`, needs: [`t${(i + 1) % 10_000}`], inputs: {} }))
    const issues = validateWorkflow({ tasks } as unknown as Parameters<typeof validateWorkflow>[0])
    expect(issues).toHaveLength(1)
    expect(issues[0]?.message.startsWith('cycle: t0 → t9999 → t9998')).toBe(true)
  })
})
