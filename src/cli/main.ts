#!/usr/bin/env node
import '../polyfill.js'
import { CommanderError } from 'commander'
import { BidmeshError, ValidationError } from '../core/errors.js'
import { buildProgram } from './program.js'

try {
  await buildProgram().parseAsync(process.argv)
} catch (err: any) {
  // Bad input exits 2 and expected failures 1, each with one clear line; a stack only for bugs.
  if (err instanceof CommanderError) {
    // Commander already printed the message (or the help / version text).
    process.exit(err.exitCode === 0 ? 0 : 2)
  }
  if (err instanceof ValidationError) {
    console.error(`bidmesh: ${err.message}`)
    process.exit(2)
  }
  console.error(`bidmesh: ${err instanceof BidmeshError ? err.message : (err?.stack ?? String(err))}`)
  process.exit(1)
}
