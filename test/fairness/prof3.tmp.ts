import fc from 'fast-check'
import { drf } from '../../src/fairness/index.js'
import { poolArb } from './helpers.js'
const samples = fc.sample(poolArb([1, 2, 3, 0.5]), 300)
let t = performance.now()
for (let rep = 0; rep < 30; rep++) for (const s of samples) drf(s.capacity, s.frameworks)
console.log('per call us', (performance.now() - t) / 9000 * 1000)
