// The package entry: `import { ... } from 'bidmesh'`.
import './polyfill.js'
export * from './core/index.js'
