// Exports of the WebAssembly core. Addresses cross as u64 here only on slow paths (register
// loads, single translations); bulk paths pass pointers into linear memory.
export { init, setControl, pdptesValid, modeOf, heapBase } from "./state";
export { translate, translate2, translatePa, translateBatch, flushStats } from "./walk";
export {
  tlbDefine, tlbConfigure, syncContext, rederiveAllow, invlpg, invpcid, flushFor, movCr3,
} from "./tlb";
export { dumpStart, dumpStartAll, dumpNext } from "./dump";
export { lackeyParse } from "./lackey";
export {
  kFramesInit, kClaim, kInjectFailure, kFreeCount, kTablePages, kReserved, kStatBlock, kFrameInfo,
  kFrameCount, kTake, kFree, kReserve, kRelease, kReserveHuge,
} from "./kernel/frames";
export {
  kGeoLevel, kGeoInit, kCountBegin, kNeedTables, kNeedFrames, kCountCopy, kCopy, kZap, kProtect,
  kCountPopulate, kPopulate, kCloneEntries, kSyncEntries, kNeedHuge, kCountSplit, kSplit,
} from "./kernel/range";
export * from "./contract";
