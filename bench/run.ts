// Runs one benchmark by name: `npm run bench -- mesh`. Each bench/<name>.ts exports `run(args)`.
import '../src/polyfill.js'
import { readdirSync } from 'node:fs'

const [name, ...args] = process.argv.slice(2)
const available = readdirSync(import.meta.dirname)
  .filter(f => f.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(f))
  .map(f => f.slice(0, -3))

if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`)
  process.exit(name === undefined ? 0 : 2)
}
const mod = await import(`./${name}.js`) as { run: (args: string[]) => Promise<void> }
await mod.run(args)
