import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { ValidationError } from '../core/index.js'

/** The files the runner keeps in an attempt's work dir. */
export const WORK_FILES = Object.freeze({
  /** Every line of output, `<ISO time> <stream> <text>`. */
  log: 'task.log',
  /** `$BIDMESH_CHECKPOINT_FILE` of an exec task. */
  checkpoint: 'checkpoint',
  /** `$BIDMESH_RESULT_FILE` of an exec task: JSON written by the task. */
  result: 'result.json',
  /** `$BIDMESH_INPUT_FILE` of an exec task given an input. */
  input: 'input.json'
})

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

/**
 * The work dir of one attempt: `<dataDir>/tasks/<taskId>/<attempt>`. Refuses a task id that is
 * not a plain file name, so that an id from the network can never point outside the data dir.
 */
export function taskWorkDir (dataDir: string, taskId: string, attempt: number): string {
  if (!SEGMENT.test(taskId) || taskId.length > 128) {
    throw new ValidationError('task id', [{ path: 'taskId', message: `"${taskId}" is not a plain name (letters, digits, . _ : -)` }])
  }
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new ValidationError('attempt', [{ path: 'attempt', message: `must be a non-negative integer, got ${attempt}` }])
  }
  return join(dataDir, 'tasks', taskId, String(attempt))
}

/**
 * The absolute directory for `cwd` (relative to the work dir), or undefined when it is absolute
 * or leaves the work dir through `..`: a task's files stay inside its sandbox dir.
 */
export function resolveInside (workDir: string, cwd: string | undefined): string | undefined {
  if (cwd === undefined || cwd === '' || cwd === '.') return resolve(workDir)
  if (isAbsolute(cwd)) return undefined
  const abs = resolve(workDir, cwd)
  const rel = relative(resolve(workDir), abs)
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined
  return abs
}
