/**
 * The pure workflow (DAG) core: validation, graph functions, runtime estimates and the run
 * engine. No I/O: the shell passes the clock and stores the state.
 */
export { buildGraph, type Graph, type GraphTask } from './graph.js'
export { findCycles, type Cycle } from './cycles.js'
export { validateWorkflow, parseWorkflow } from './validate.js'
export { topoOrder, topoIndices } from './topo.js'
export { readyTasks, type NodeStatus } from './ready.js'
export { criticalPath, remainingByIndex, type CriticalPath } from './critical-path.js'
export {
  ESTIMATE_ALPHA, DEFAULT_ESTIMATE_MS, MAX_ESTIMATE_KEYS, MAX_ESTIMATE_NODES,
  emptyEstimates, estimateKey, observeDuration, estimateMs, mergeEstimates, trimEstimates, parseEstimates,
  type Estimates, type EstimateSample, type Observation
} from './estimates.js'
export { instanceKey, parseInstanceKey } from './expand.js'
export type { RunState, RunStatus, TaskRun, TaskRunState, UnitRun, UnitState, UnitRef, RunUpdate, Submission } from './run-types.js'
export { startRun, runSummary, inFlight, taskResult, type RunSummary } from './run.js'
export { nextActions, taskPriorities, type NextActions, type NextActionsOptions } from './next-actions.js'
export { onTaskStarted, onTaskSucceeded, onTaskFailed, onTaskCancelled, onTaskLost, cancelRun, findUnit, type UnitEvent } from './events.js'
export { parseRunState } from './run-schema.js'
