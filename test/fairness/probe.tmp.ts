import fc from 'fast-check'
import { drf, dominantShare } from '../../src/fairness/index.js'
const RES = ['cpu', 'mem', 'gpu'] as const
type V = { cpu: number, mem: number, gpu: number }
const vec = (min: number, max: number) => fc.record({ cpu: fc.integer({ min, max }), mem: fc.integer({ min, max }), gpu: fc.integer({ min, max }) })
const inst = (weights: number[]) => fc.record({
  cap: vec(1, 60),
  fws: fc.array(fc.record({ demand: vec(0, 12), weight: fc.constantFrom(...weights), maxTasks: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }) }), { minLength: 1, maxLength: 6 })
}).map(({ cap, fws }) => ({ cap, fws: fws.filter(f => RES.some(r => f.demand[r] > 0)).map((f, i) => ({ name: `f${i}`, ...f })) })).filter(x => x.fws.length > 0)
const which = process.argv[2]
const runs = Number(process.argv[3] ?? 20000)
function check(name: string, prop: any) {
  try { fc.assert(prop, { numRuns: runs }); console.log(name, 'OK') } catch (e) { console.log(name, 'FAIL', (e as Error).message.split('\n').slice(0, 4).join('\n')) }
}
if (which === 'sp') check('sp+1', fc.property(inst([1, 2, 3, 0.5]), fc.nat(), vec(0, 8), ({ cap, fws }, w, extra) => {
  const i = w % fws.length; const base = drf(cap, fws); const f = fws[i]!
  const lie = fws.map((g, j) => j === i ? { ...g, demand: { cpu: g.demand.cpu + extra.cpu, mem: g.demand.mem + extra.mem, gpu: g.demand.gpu + extra.gpu } } : g)
  return drf(cap, lie).tasks[f.name]! <= base.tasks[f.name]! + 1
}))
if (which === 'sp1') check('sp unweighted 2 fw', fc.property(inst([1]).filter(x => x.fws.length <= 2), fc.nat(), vec(0, 8), ({ cap, fws }, w, extra) => {
  const i = w % fws.length; const base = drf(cap, fws); const f = fws[i]!
  const lie = fws.map((g, j) => j === i ? { ...g, demand: { cpu: g.demand.cpu + extra.cpu, mem: g.demand.mem + extra.mem, gpu: g.demand.gpu + extra.gpu } } : g)
  return drf(cap, lie).tasks[f.name]! <= base.tasks[f.name]!
}))
const ef = (weighted: 'eq' | 'le' | 'all') => fc.property(inst(weighted === 'eq' ? [1] : [1, 2, 3, 0.5]), ({ cap, fws }) => {
  const r = drf(cap, fws)
  for (const f of fws) for (const g of fws) {
    if (f === g) continue
    const kf = r.tasks[f.name]!, kg = r.tasks[g.name]!
    if (f.maxTasks !== undefined && kf >= f.maxTasks) continue
    if (kg < 1) continue
    if (weighted === 'le' && f.weight > g.weight) continue
    let M = Infinity
    for (const res of RES) if (f.demand[res] > 0) M = Math.min(M, (kg - 1) * g.demand[res] * (f.weight / g.weight) / f.demand[res])
    if (M >= kf + 1 + 1e-9) return false
  }
  return true
})
if (which === 'ef') { check('ef eq', ef('eq')); check('ef le', ef('le')); check('ef all', ef('all')) }
if (which === 'si') check('si', fc.property(inst([1, 2, 3, 0.5]), ({ cap, fws }) => {
  const r = drf(cap, fws)
  const u = fws.map(f => dominantShare(f.demand, cap, f.weight))
  let W = 0, S = 0
  fws.forEach((f, i) => { if (Number.isFinite(u[i]!)) { W += f.weight; S += f.weight * u[i]! } })
  return fws.every((f, i) => {
    if (f.maxTasks !== undefined && r.tasks[f.name]! >= f.maxTasks) return true
    if (!Number.isFinite(u[i]!)) return true
    return r.dominantShares[f.name]! > (1 - S) / W - 1e-12
  })
}))
if (which === 'spv') check('sp no free gain', fc.property(inst([1, 2, 3, 0.5]), fc.nat(), vec(0, 8), ({ cap, fws }, w, extra) => {
  const i = w % fws.length; const base = drf(cap, fws); const f = fws[i]!
  const lie = fws.map((g, j) => j === i ? { ...g, demand: { cpu: g.demand.cpu + extra.cpu, mem: g.demand.mem + extra.mem, gpu: g.demand.gpu + extra.gpu } } : g)
  const r = drf(cap, lie)
  if (r.tasks[f.name]! <= base.tasks[f.name]!) return true
  return fws.some(g => g !== f && r.tasks[g.name]! < base.tasks[g.name]!)
}))
import { drfPlace } from '../../src/fairness/index.js'
const cluster = fc.record({
  nodes: fc.array(vec(0, 20).filter(v => v.cpu + v.mem + v.gpu > 0), { minLength: 1, maxLength: 5 }),
  fws: fc.array(fc.record({ demand: vec(0, 8), weight: fc.constantFrom(1, 2, 3, 0.5), maxTasks: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }) }), { minLength: 1, maxLength: 5 })
}).map(({ nodes, fws }) => ({ nodes: nodes.map((capacity, i) => ({ id: `n${i}`, capacity })), fws: fws.filter(f => RES.some(r => f.demand[r] > 0)).map((f, i) => ({ name: `f${i}`, ...f })) })).filter(x => x.fws.length > 0)
if (which === 'prefix') check('prefix', fc.property(cluster, ({ nodes, fws }) => {
  const total: Record<string, number> = {}
  for (const n of nodes) for (const [k, v] of Object.entries(n.capacity)) total[k] = (total[k] ?? 0) + v
  const pool = drf(total, fws); const pl = drfPlace(nodes, fws)
  const u = fws.map(f => dominantShare(f.demand, total, f.weight))
  const less = (a: [number, string], b: [number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
  let K: [number, string] | undefined
  fws.forEach((f, i) => { if (pl.tasks[f.name]! < pool.tasks[f.name]!) { const k: [number, string] = [pl.tasks[f.name]! * u[i]!, f.name]; if (K === undefined || less(k, K)) K = k } })
  if (K === undefined) return fws.every(f => pl.tasks[f.name] === pool.tasks[f.name])
  return fws.every((f, i) => {
    let c = 0; while (less([c * u[i]!, f.name], K!)) c++
    return Math.min(pl.tasks[f.name]!, c) === Math.min(pool.tasks[f.name]!, c)
  }) && fws.some(f => pl.tasks[f.name]! <= pool.tasks[f.name]!)
}))
