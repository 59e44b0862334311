// Task runners: what a node does with a task it won. See README.md in this folder.
export { Runner, createRunner, type RunnerStopOptions } from './runner.js'
export type { RunContext, RunOutcome, RunOutcomeKind, RunHandle, RunInfo, CheckpointUploadOptions } from './types.js'
export { createRunnerConfig, validateRunnerConfig, defaultRunnerConfig, defaultJsPoolConfig, type RunnerInit, type RunnerConfig, type JsPoolInit, type JsPoolConfig } from './config.js'
export { LogStore, TaskLog, formatLogLine, parseLogLine, readLogFileTail, type LogLine, type LogRecord, type LogStream, type FollowOptions } from './log-store.js'
export { encodeCheckpoint, decodeCheckpoint, toJson, CHECKPOINT_TAG_JSON, CHECKPOINT_TAG_BYTES } from './codec.js'
export { RunnerStoppedError, CodecError } from './errors.js'
export { taskWorkDir, resolveInside, WORK_FILES } from './workdir.js'
export { heapLimitMb, type JsPoolStats } from './js-pool.js'
