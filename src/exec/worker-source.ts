/**
 * The bootstrap of a js task's worker thread, run with `new Worker(WORKER_SOURCE, { eval: true })`.
 *
 * Why a string: a worker loads plain JavaScript that Node reads itself, not through the test
 * runner's TypeScript transform, and `tsc` does not copy `.js`/`.mjs` files to `dist/`. An eval
 * worker needs no file at all, so it runs the same from `src/` under vitest and from `dist/`.
 * Node evaluates it as a CommonJS script (so `require` is there) and `import()` loads the task's
 * module, an ES module or CommonJS, from a file URL.
 *
 * Messages, worker → runner: `{t:'progress', p}`, `{t:'checkpoint', id, state}`,
 * `{t:'result', value}`, `{t:'error', message, name, stack}`.
 * Runner → worker: `{t:'ack', id, error?}` (a checkpoint is persisted, or why not),
 * `{t:'abort', reason}` (cancel or timeout: aborts `ctx.signal`).
 *
 * Keep it ES2022 that Node 20 runs without flags, and free of backticks (it lives in a template).
 */
export const WORKER_SOURCE = String.raw`
'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const { format } = require('node:util')
const d = workerData
const controller = new AbortController()
const pending = new Map()
let nextId = 1
let newest = d.restore

parentPort.on('message', m => {
  if (m === null || typeof m !== 'object') return
  if (m.t === 'abort') {
    if (!controller.signal.aborted) controller.abort(new DOMException(String(m.reason), 'AbortError'))
  } else if (m.t === 'ack') {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (m.error === undefined) p.resolve()
    else p.reject(new Error(m.error))
  }
})

const ctx = Object.freeze({
  taskId: d.taskId,
  attempt: d.attempt,
  input: d.input,
  workDir: d.workDir,
  signal: controller.signal,
  progress (p) {
    parentPort.postMessage({ t: 'progress', p: Number(p) })
  },
  checkpoint (state) {
    return new Promise((resolve, reject) => {
      const id = nextId++
      let copy
      try {
        // A copy, so that restore() returns what was saved, not what the task mutated since.
        copy = structuredClone(state)
        parentPort.postMessage({ t: 'checkpoint', id, state })
      } catch (err) {
        reject(new TypeError('checkpoint state must be a JSON value or a Uint8Array: ' + (err && err.message)))
        return
      }
      pending.set(id, { resolve: () => { newest = copy; resolve() }, reject })
    })
  },
  async restore () {
    return newest === undefined ? undefined : structuredClone(newest)
  },
  log (...args) {
    process.stdout.write(format(...args) + '\n')
  }
})

function describe (err) {
  if (err instanceof Error) return { message: err.message || err.name, name: err.name, stack: err.stack }
  return { message: typeof err === 'string' ? err : format('thrown: %o', err), name: 'Error', stack: undefined }
}

;(async () => {
  let mod
  try {
    try {
      mod = await import(d.url)
    } catch (err) {
      // Insurance for a Node that gives eval code no import() callback: require(esm) (Node >= 20.19).
      if (err === null || typeof err !== 'object' || err.code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw err
      mod = require(require('node:url').fileURLToPath(d.url))
    }
  } catch (err) {
    const e = describe(err)
    e.message = 'cannot load ' + d.what + ': ' + e.message
    throw Object.assign(new Error(e.message), { stack: e.stack })
  }
  const fn = mod[d.exportName]
  if (typeof fn !== 'function') {
    const names = Object.keys(mod).filter(k => typeof mod[k] === 'function')
    throw new Error(d.what + ' has no function export "' + d.exportName + '"' +
      (names.length > 0 ? ' (it has: ' + names.join(', ') + ')' : ''))
  }
  return await fn(d.input, ctx)
})().then(value => {
  try {
    parentPort.postMessage({ t: 'result', value })
  } catch (err) {
    parentPort.postMessage({ t: 'error', message: 'the result cannot be sent: ' + describe(err).message, name: 'TypeError' })
  }
}, err => {
  parentPort.postMessage(Object.assign({ t: 'error' }, describe(err)))
}).finally(() => {
  // The task may have left timers or sockets open: its end is the end of the worker.
  process.exit(0)
})
`
