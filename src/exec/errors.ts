import { BidmeshError } from '../core/index.js'

/** `start()` after `stop()`: the runner no longer takes tasks. */
export class RunnerStoppedError extends BidmeshError {
  constructor (taskId: string) {
    super(`the runner is stopped; task ${taskId} was not started`, 'unavailable', { taskId })
    this.name = 'RunnerStoppedError'
  }
}

/** A checkpoint or a result that cannot be encoded or decoded; the message says why. */
export class CodecError extends BidmeshError {
  constructor (message: string) {
    super(message, 'invalid_argument')
    this.name = 'CodecError'
  }
}
