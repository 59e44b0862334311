import { describe, it, expect } from 'vitest'
import { checkFeasibility, type Requirement } from '../../src/bidding/feasibility.js'
import { summarizeDeclines } from '../../src/bidding/reasons.js'
import { peer } from './fixtures.js'

const big = { cpu: 8000, memMb: 16384 }
const view = [
  peer('p1', big, { labels: { zone: 'eu' } }),
  peer('p2', big, { labels: { zone: 'us' }, free: { cpu: 500, memMb: 16384 } }),
  peer('p3', big, { labels: { zone: 'eu' }, allowExec: false }),
  peer('p4', big, { labels: { zone: 'eu' }, status: 'suspect' }),
  peer('p5', { cpu: 2000, memMb: 2048, gpu: 2 }, { labels: { zone: 'eu' } })
]
const js = (demand: Record<string, number>, more: Partial<Requirement> = {}): Requirement => ({ demand, constraints: {}, kind: 'js', ...more })

describe('feasibility', () => {
  it.each<{ name: string, req: Requirement, feasible: string[], verdict: string, why: string }>([
    { name: 'fits on the alive peers with room', req: js({ cpu: 1000 }), feasible: ['p1', 'p3', 'p5'], verdict: 'feasible', why: '1 peer lack free cpu; 1 peer not alive' },
    { name: 'exec tasks skip peers without --allow-exec', req: js({ cpu: 1000 }, { kind: 'exec' }), feasible: ['p1', 'p5'], verdict: 'feasible', why: '1 peer lack free cpu; 1 peer do not run exec tasks; 1 peer not alive' },
    { name: 'constraints filter by label', req: js({ cpu: 100 }, { constraints: { zone: 'us' } }), feasible: ['p2'], verdict: 'feasible', why: '3 peers fail constraints; 1 peer not alive' },
    { name: 'constraints accept any of a list', req: js({ cpu: 100 }, { constraints: { zone: ['us', 'eu'] } }), feasible: ['p1', 'p2', 'p3', 'p5'], verdict: 'feasible', why: '1 peer not alive' },
    { name: 'the avoid list removes peers', req: js({ cpu: 100 }, { avoid: ['p1', 'p5'] }), feasible: ['p2', 'p3'], verdict: 'feasible', why: '2 peers avoided; 1 peer not alive' },
    { name: 'no peer large enough: infeasible, named', req: js({ cpu: 1000, gpu: 8 }), feasible: [], verdict: 'infeasible', why: 'no peer with gpu >= 8; 1 peer not alive' },
    { name: 'large enough only when empty: wait', req: js({ cpu: 1000 }, { constraints: { zone: 'us' } }), feasible: [], verdict: 'wait', why: '1 peer lack free cpu; 3 peers fail constraints; 1 peer not alive' },
    { name: 'each resource exists but not together', req: js({ cpu: 4000, gpu: 1 }), feasible: [], verdict: 'infeasible', why: 'no peer with cpu >= 4, gpu >= 1 together; 1 peer not alive' },
    { name: 'nobody matches constraints', req: js({ cpu: 1 }, { constraints: { zone: 'mars' } }), feasible: [], verdict: 'infeasible', why: '4 peers fail constraints; 1 peer not alive' }
  ])('$name', ({ req, feasible, verdict, why }) => {
    const r = checkFeasibility(req, view)
    expect(r.feasible.map(p => p.peer)).toEqual(feasible)
    expect(r.verdict).toBe(verdict)
    expect(r.why).toBe(why)
  })

  it('counts reserved resources against the advertised free amounts', () => {
    const r = checkFeasibility(js({ cpu: 1000 }), view, new Map([['p1', { cpu: 7500 }]]))
    expect(r.feasible.map(p => p.peer)).toEqual(['p3', 'p5'])
    expect(r.busyShort).toEqual({ cpu: 2 })
  })

  it('says so when no peers are known', () => {
    expect(checkFeasibility(js({ cpu: 1 }), []).why).toBe('no peers known')
  })

  it('summarizes bidders\' declines for "why pending"', () => {
    expect(summarizeDeclines([{ reason: 'memMb' }, { reason: 'constraints' }, { reason: 'memMb' }, { reason: 'memMb' }], 2))
      .toBe('3 peers declined: memMb; 1 peer declined: constraints; 2 peers did not answer')
  })
})
