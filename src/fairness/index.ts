// The pure fairness core: who should get what. No I/O; see README.md in this folder.
export { maxMinFair } from './max-min.js'
export { dominantShare } from './dominant-share.js'
export { drf, type DrfResult } from './drf.js'
export { drfPlace, type ClusterNode, type DrfPlaceResult } from './drf-place.js'
export { FairnessLedger, type FairnessLedgerInit, type NodeUsageReport } from './ledger.js'
export type { FrameworkDemand } from './model.js'
