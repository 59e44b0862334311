/**
 * The bootstrap of a js worker thread, run with `new Worker(WORKER_SOURCE, { eval: true })`. A
 * worker is long-lived: it runs one task at a time, as often as the pool hands it one.
 *
 * Why a string: a worker loads plain JavaScript that Node reads itself, not through the test
 * runner's TypeScript transform, and `tsc` does not copy `.js`/`.mjs` files to `dist/`. An eval
 * worker needs no file at all, so it runs the same from `src/` under vitest and from `dist/`.
 * Node evaluates it as a CommonJS script (so `require` is there) and `import()` loads the task's
 * module, an ES module or CommonJS, from a file URL.
 *
 * Every message carries `run`, the id of the run it is about; either side drops a message for a
 * run other than the current one, so nothing of an earlier run can leak into a later one.
 *
 * Runner → worker:
 * - `{t:'run', run, taskId, attempt, workDir, url, what, exportName, input, restore, env}`
 * - `{t:'abort', run, reason}` — cancel, timeout or stop: aborts `ctx.signal`.
 * - `{t:'ack', run, id, error?}` — checkpoint `id` is persisted, or why not.
 *
 * Worker → runner:
 * - `{t:'log', run, items: [stream, text | bytes][]}` — output, in order. At most
 *   WINDOW_CHARS may be unacknowledged; past that, output waits in the worker's heap (bounded by
 *   its heap limit), as a full pipe would block the writer.
 * - `{t:'progress', run, p}`, `{t:'checkpoint', run, id, state}`
 * - `{t:'result', run, value}` or `{t:'error', run, message, name, stack}` — as soon as the
 *   export settles.
 * - `{t:'done', run, pending, modules}` — the run is over and all its output sent. `pending`
 *   names the work the task left behind (`'Timeout x1'`, empty when none), `modules` counts the
 *   distinct modules this worker has imported. The runner reuses the worker only when `pending`
 *   is empty.
 *
 * Runner → worker, besides: `{t:'logAck', run, n}` — `n` more characters of output are taken.
 *
 * Keep it ES2022 that Node 20 runs without flags, and free of backticks (it lives in a template).
 */
export const WORKER_SOURCE = String.raw`
'use strict'
const { parentPort } = require('node:worker_threads')
const { format } = require('node:util')

// Output in flight to the runner at most, and in one message at most (characters or bytes).
const WINDOW_CHARS = 256 * 1024
const BATCH_CHARS = 64 * 1024
let run = null
const modules = new Set()

function resources () {
  const counts = new Map()
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) || 0) + 1)
  return counts
}

// What a run leaves alive (timers, sockets, file operations) beyond what the idle worker has.
// Taken inside an immediate, like the check after each run, so that both count alike.
const baseline = new Promise(resolve => { setImmediate(() => { resolve(resources()) }) })

function pendingWork (base) {
  const extra = []
  for (const [name, n] of resources()) {
    const more = n - (base.get(name) || 0)
    if (more > 0) extra.push(name + ' x' + more)
  }
  return extra.join(', ')
}

function sendOutput (r) {
  while (r.out.length > 0 && r.unacked < WINDOW_CHARS) {
    let n = 0
    let chars = 0
    while (n < r.out.length && (n === 0 || chars < BATCH_CHARS)) chars += r.out[n++][1].length
    r.unacked += chars
    parentPort.postMessage({ t: 'log', run: r.id, items: r.out.splice(0, n) })
  }
}

// The first write goes out at once (a task's first line should show without delay); the writes
// that follow in the same synchronous stretch go together once it yields.
function emit (r, stream, data) {
  r.out.push([stream, data])
  if (r.flushQueued) return
  sendOutput(r)
  r.flushQueued = true
  queueMicrotask(() => {
    r.flushQueued = false
    sendOutput(r)
  })
}

// console.log, console.error and direct writes all end here: output belongs to the run that is
// current when it is written, and is dropped between runs.
function capture (stream) {
  return function write (chunk, encoding, cb) {
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined }
    if (run !== null) {
      let data
      if (typeof chunk === 'string') data = encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(chunk, encoding) : chunk
      else if (chunk instanceof Uint8Array) data = Buffer.from(chunk) // a copy: the task may reuse its buffer
      else data = String(chunk)
      emit(run, stream, data)
    }
    if (typeof cb === 'function') process.nextTick(cb)
    return true
  }
}
process.stdout.write = capture('out')
process.stderr.write = capture('err')

function setEnv (env) {
  for (const name of Object.keys(process.env)) delete process.env[name]
  Object.assign(process.env, env)
}

function describe (err) {
  if (err instanceof Error) return { message: err.message || err.name, name: err.name, stack: err.stack }
  return { message: typeof err === 'string' ? err : format('thrown: %o', err), name: 'Error', stack: undefined }
}

function makeCtx (r, m) {
  return Object.freeze({
    taskId: m.taskId,
    attempt: m.attempt,
    input: m.input,
    workDir: m.workDir,
    signal: r.controller.signal,
    progress (p) {
      if (run === r) parentPort.postMessage({ t: 'progress', run: r.id, p: Number(p) })
    },
    checkpoint (state) {
      return new Promise((resolve, reject) => {
        if (run !== r) { reject(new Error('the run has ended')); return }
        const id = r.nextId++
        let copy
        try {
          // A copy, so that restore() returns what was saved, not what the task mutated since.
          copy = structuredClone(state)
          parentPort.postMessage({ t: 'checkpoint', run: r.id, id, state })
        } catch (err) {
          reject(new TypeError('checkpoint state must be a JSON value or a Uint8Array: ' + (err && err.message)))
          return
        }
        r.pending.set(id, { resolve: () => { r.newest = copy; resolve() }, reject })
      })
    },
    async restore () {
      return r.newest === undefined ? undefined : structuredClone(r.newest)
    },
    log (...args) {
      if (run === r) emit(r, 'out', format(...args) + '\n')
    }
  })
}

async function call (m, ctx) {
  let mod
  try {
    try {
      mod = await import(m.url)
    } catch (err) {
      // Insurance for a Node that gives eval code no import() callback: require(esm) (Node >= 20.19).
      if (err === null || typeof err !== 'object' || err.code !== 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING') throw err
      mod = require(require('node:url').fileURLToPath(m.url))
    }
  } catch (err) {
    const e = describe(err)
    throw Object.assign(new Error('cannot load ' + m.what + ': ' + e.message), { stack: e.stack })
  } finally {
    modules.add(m.url)
  }
  const fn = mod[m.exportName]
  if (typeof fn !== 'function') {
    const names = Object.keys(mod).filter(k => typeof mod[k] === 'function')
    throw new Error(m.what + ' has no function export "' + m.exportName + '"' +
      (names.length > 0 ? ' (it has: ' + names.join(', ') + ')' : ''))
  }
  return await fn(m.input, ctx)
}

async function start (m) {
  const base = await baseline
  if (run !== null) {
    // The runner sends one run at a time; if it ever did not, this worker must not be reused.
    parentPort.postMessage({ t: 'error', run: m.run, message: 'the worker is busy with run ' + run.id })
    parentPort.postMessage({ t: 'done', run: m.run, pending: 'another run', modules: modules.size })
    return
  }
  const r = { id: m.run, controller: new AbortController(), pending: new Map(), nextId: 1, newest: m.restore, out: [], unacked: 0, flushQueued: false, onAck: null }
  run = r
  setEnv(m.env)
  let end
  try {
    end = { t: 'result', run: r.id, value: await call(m, makeCtx(r, m)) }
  } catch (err) {
    end = Object.assign({ t: 'error', run: r.id }, describe(err))
  }
  // At once, as the task settles: what it does after (an unhandled rejection that ends the
  // worker, a stop request that comes in meanwhile) does not change how it ended.
  post(end)
  // One turn of the event loop: what the task started without awaiting (promise chains,
  // immediates) runs now and shows up below if it is still waiting for something.
  await new Promise(resolve => { setImmediate(resolve) })
  while (r.out.length > 0) await new Promise(resolve => { r.onAck = resolve })
  run = null
  parentPort.postMessage({ t: 'done', run: r.id, pending: pendingWork(base), modules: modules.size })
}

// Posts how the task ended; a result that cannot be cloned (a function, a symbol) fails the run.
function post (end) {
  try {
    parentPort.postMessage(end)
  } catch (err) {
    if (end.t !== 'result') throw err
    parentPort.postMessage({ t: 'error', run: end.run, message: 'the result cannot be sent: ' + describe(err).message, name: 'TypeError' })
  }
}

parentPort.on('message', m => {
  if (m === null || typeof m !== 'object') return
  if (m.t === 'run') {
    // A fault of this bootstrap must end the worker (the runner sees the error), not hang the run.
    start(m).catch(err => { setImmediate(() => { throw err }) })
    return
  }
  const r = run
  if (r === null || m.run !== r.id) return
  if (m.t === 'abort') {
    if (!r.controller.signal.aborted) r.controller.abort(new DOMException(String(m.reason), 'AbortError'))
  } else if (m.t === 'ack') {
    const p = r.pending.get(m.id)
    if (p === undefined) return
    r.pending.delete(m.id)
    if (m.error === undefined) p.resolve()
    else p.reject(new Error(m.error))
  } else if (m.t === 'logAck') {
    r.unacked -= m.n
    sendOutput(r)
    const wake = r.onAck
    r.onAck = null
    if (wake !== null) wake()
  }
})
`
