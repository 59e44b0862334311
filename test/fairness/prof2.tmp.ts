import fc from 'fast-check'
import { buildModel, sumCapacities } from '../../src/fairness/model.js'
import { fillPool } from '../../src/fairness/fill.js'
import { drf } from '../../src/fairness/index.js'
import { poolArb } from './helpers.js'
const samples = fc.sample(poolArb([1, 2, 3, 0.5]), 300)
for (let rep = 0; rep < 5; rep++) {
  let t = performance.now(); const ms = samples.map(s => buildModel(sumCapacities([s.capacity]), s.frameworks)); const a = performance.now() - t
  t = performance.now(); for (const m of ms) fillPool(m, m.total); const b = performance.now() - t
  t = performance.now(); for (const s of samples) drf(s.capacity, s.frameworks); const c = performance.now() - t
  console.log('model', a.toFixed(1), 'fill', b.toFixed(1), 'drf', c.toFixed(1))
}
