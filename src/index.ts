// The package entry: `import { drf, drfPlace, maxMinFair, FairnessLedger, parseTaskSpec, ... } from 'bidmesh'`.
import './polyfill.js'
export * from './core/index.js'
export * from './fairness/index.js'
export * from './dag/index.js'
