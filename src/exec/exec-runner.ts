import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ExecTaskSpec } from '../core/index.js'
import { CheckpointWatcher } from './checkpoint-watcher.js'
import { toJson } from './codec.js'
import { describeStop, stopEnding, type Attempt, type Ending } from './control.js'
import { processReaper } from './reaper.js'
import { deferred, pipeToLog, within } from './util.js'
import { resolveInside, WORK_FILES } from './workdir.js'

/** The environment of an exec task: the inherited names, `spec.env`, then the `BIDMESH_*` variables. */
export function execEnv (a: Pick<Attempt, 'ctx' | 'config'>, spec: ExecTaskSpec, hasInput: boolean): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of a.config.inheritEnv) {
    const v = process.env[name]
    if (v !== undefined) env[name] = v
  }
  Object.assign(env, spec.env)
  const { workDir } = a.ctx
  env.BIDMESH_TASK_ID = a.ctx.taskId
  env.BIDMESH_ATTEMPT = String(a.ctx.attempt)
  env.BIDMESH_WORK_DIR = workDir
  env.BIDMESH_CHECKPOINT_FILE = join(workDir, WORK_FILES.checkpoint)
  env.BIDMESH_RESULT_FILE = join(workDir, WORK_FILES.result)
  if (hasInput) env.BIDMESH_INPUT_FILE = join(workDir, WORK_FILES.input)
  else delete env.BIDMESH_INPUT_FILE
  return env
}

/** Sends `signal` to every process of the group led by `pid`; false when none is left. */
function killGroup (pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false // ESRCH: the group is gone
  }
}

/**
 * Runs an exec task: `command` without a shell, in its own process group (so that a stop reaches
 * the whole tree), stdout and stderr into the task log, the checkpoint file watched. Resolves only
 * once the process has exited, its group is gone and its pipes are closed.
 */
export async function runExec (a: Attempt, spec: ExecTaskSpec): Promise<Ending> {
  const { ctx, config, log, control } = a
  const cwd = resolveInside(ctx.workDir, spec.cwd)
  if (cwd === undefined) {
    return { kind: 'failed', error: `cwd "${spec.cwd}" is outside the task's work dir; use a path relative to it` }
  }
  await mkdir(cwd, { recursive: true, mode: 0o700 })
  const checkpointFile = join(ctx.workDir, WORK_FILES.checkpoint)
  const resultFile = join(ctx.workDir, WORK_FILES.result)
  // The same attempt may run again in the same dir (node restart): start from a clean slate.
  await rm(resultFile, { force: true })
  if (ctx.checkpoint !== undefined) await writeFile(checkpointFile, ctx.checkpoint)
  else await rm(checkpointFile, { force: true })
  const hasInput = ctx.input !== undefined
  if (hasInput) await writeFile(join(ctx.workDir, WORK_FILES.input), toJson(ctx.input, 'input'))

  // Stopped while setting up: do not start at all.
  if (control.request !== undefined) return stopEnding(control.request)

  const stdoutTail: string[] = []
  let lastErr = ''
  const unsubscribe = log.onLine(line => {
    if (line.stream === 'out' && config.stdoutTailLines > 0) {
      stdoutTail.push(line.text)
      if (stdoutTail.length > config.stdoutTailLines) stdoutTail.shift()
    } else if (line.stream === 'err' && line.text.trim() !== '') {
      lastErr = line.text
    }
  })

  const watcher = ctx.onCheckpoint === undefined
    ? undefined
    : new CheckpointWatcher({
      path: checkpointFile,
      intervalMs: spec.checkpoint.intervalMs,
      initial: ctx.checkpoint,
      maxBytes: config.maxCheckpointBytes,
      upload: a.upload,
      log
    })
  await watcher?.prime()

  const [file, ...args] = spec.command as [string, ...string[]]
  let child: ChildProcess
  try {
    child = spawn(file, args, {
      cwd,
      env: execEnv(a, spec, hasInput),
      // Its own process group: a stop signals -pid and so reaches every descendant.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true
    })
  } catch (err) {
    unsubscribe()
    return { kind: 'failed', error: `cannot start ${file}: ${(err as Error).message}` }
  }

  const exited = deferred<{ code: number | null, signal: NodeJS.Signals | null } | { error: Error }>()
  const closed = deferred()
  child.once('exit', (code, signal) => { exited.resolve({ code, signal }) })
  child.once('close', () => { closed.resolve() })
  child.once('error', err => {
    // Spawn failures (ENOENT, EACCES) come here with no pid and no 'exit'.
    if (child.pid === undefined) { exited.resolve({ error: err }); closed.resolve() }
  })
  if (child.stdout !== null) pipeToLog(child.stdout, log, 'out')
  if (child.stderr !== null) pipeToLog(child.stderr, log, 'err')

  const pid = child.pid
  let graceTimer: ReturnType<typeof setTimeout> | undefined
  let ended = false
  const onForce = (): void => { if (pid !== undefined && !ended) killGroup(pid, 'SIGKILL') }
  if (pid !== undefined) {
    processReaper.track(pid)
    a.setPid(pid)
    log.append('sys', `started pid ${pid}: ${JSON.stringify(spec.command)}`)
    control.onStop(r => {
      if (ended) return // never signal a group id after the run is over: the pid may be reused
      log.append('sys', `${describeStop(r)}; sending SIGTERM to process group ${pid}`)
      killGroup(pid, 'SIGTERM')
      graceTimer = setTimeout(() => {
        if (killGroup(pid, 'SIGKILL')) log.append('sys', `still running after ${config.killGraceMs} ms; sent SIGKILL`)
      }, config.killGraceMs)
    })
    if (control.forced.aborted) onForce()
    else control.forced.addEventListener('abort', onForce, { once: true })
    watcher?.start()
  }

  const exit = await exited.promise
  ended = true
  const request = control.request // a stop asked for after the exit does not change the outcome
  if (pid !== undefined) {
    // The task ends with its main process: whatever it left running in its group goes too.
    if (killGroup(pid, 0)) {
      log.append('sys', 'killing processes left in the task\'s process group')
      killGroup(pid, 'SIGKILL')
    }
    // A process that left the group (setsid) may still hold the pipes: do not wait forever.
    if (!await within(closed.promise, Math.max(config.killGraceMs, 100), control.forced)) {
      child.stdout?.destroy()
      child.stderr?.destroy()
    }
  }
  if (pid !== undefined) processReaper.untrack(pid)
  clearTimeout(graceTimer)
  control.forced.removeEventListener('abort', onForce)
  await watcher?.flush()
  log.flushPartial() // the pipes are closed: output after the last newline is a line too
  unsubscribe()

  if ('error' in exit) return { kind: 'failed', error: `cannot start ${file}: ${exit.error.message}` }
  if (request !== undefined) return stopEnding(request)
  if (exit.code === 0) return await execResult(resultFile, stdoutTail, config.maxResultBytes)
  if (exit.code !== null) {
    return { kind: 'failed', error: `exited with code ${exit.code}${lastErr === '' ? '' : `: ${lastErr}`}`, exitCode: exit.code }
  }
  return { kind: 'failed', error: `killed by ${exit.signal ?? 'a signal'}${lastErr === '' ? '' : `: ${lastErr}`}`, signal: exit.signal ?? undefined }
}

/** The result of an exec task that exited 0: the JSON of its result file, else its stdout tail. */
async function execResult (resultFile: string, stdoutTail: string[], maxBytes: number): Promise<Ending> {
  let size: number
  try {
    size = (await stat(resultFile)).size
  } catch {
    return { kind: 'succeeded', result: { exitCode: 0, stdoutTail: stdoutTail.join('\n') }, exitCode: 0 }
  }
  if (size > maxBytes) {
    return { kind: 'failed', error: `the result file is ${size} bytes, more than the limit of ${maxBytes}`, exitCode: 0 }
  }
  const text = await readFile(resultFile, 'utf8')
  try {
    return { kind: 'succeeded', result: JSON.parse(text), exitCode: 0 }
  } catch (err) {
    return { kind: 'failed', error: `the result file is not valid JSON: ${(err as Error).message}`, exitCode: 0 }
  }
}
