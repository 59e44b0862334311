/**
 * Workflows driven over the mesh: the shell around the pure engine in `src/dag`. See README.md.
 */
export { WorkflowService, type WorkflowServiceInit, type WorkflowListEntry } from './service.js'
export { RunDriver } from './run-driver.js'
export { workflowStatus, type WorkflowStatus, type WorkflowTaskStatus } from './status.js'
export { recordStoreStateStore, MemoryStateStore, type WorkflowStateStore, type RecordStoreLike } from './state-store.js'
export { PubsubWorkflowGossip, type WorkflowAnnouncement, type WorkflowGossip } from './announce.js'
export type { WorkflowRecord } from './record.js'
