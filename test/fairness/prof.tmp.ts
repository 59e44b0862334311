import fc from 'fast-check'
import { drf } from '../../src/fairness/index.js'
import { naiveDrf, poolArb } from './helpers.js'
const samples = fc.sample(poolArb([1, 2, 3, 0.5]), 300)
for (let rep = 0; rep < 4; rep++) {
let t = performance.now(); for (const s of samples) naiveDrf(s.capacity, s.frameworks); console.log('naive', performance.now() - t)
t = performance.now(); for (const s of samples) drf(s.capacity, s.frameworks); console.log('drf', performance.now() - t)
}
