export { Machine, ACCESS_AC, ACCESS_FETCH, ACCESS_USER, ACCESS_WRITE } from "./machine/machine.js";
export type {
  Access, BatchBuffers, CacheStats, Fault, GeneralProtection, InlineTlb, MachineOptions,
  MachineStats, Mapping, PageFault, PagingMode, Range, Registers, Translation,
} from "./machine/machine.js";
export { SKYLAKE_TLB, DEFAULT_PWC, directMappedTlb } from "./machine/tlb.js";
export type { CacheGeometry, PwcConfig, TlbConfig, TlbPageSize, TlbSide, TlbStructureConfig } from "./machine/tlb.js";
export { StateError } from "./errors.js";
export * from "./x86.js";
export { ptdump, ptdumpRanges, formatLinux, defaultMarkers, PTDUMP_FORMATS } from "./tools/ptdump.js";
export type { Marker, PtdumpFormat, PtdumpOptions, PtdumpRange } from "./tools/ptdump.js";
export { captureMachine, loadCapture, readCapture } from "./tools/capture.js";
export type { Capture } from "./tools/capture.js";
export { LackeyParser, readLackey, KIND_I, KIND_L, KIND_S, KIND_M } from "./tools/lackey.js";
export type { AccessBlock, LackeyCounts, ReadOptions } from "./tools/lackey.js";
export * from "./kernel/index.js";
export { replay } from "./tools/replay.js";
export type { CacheRate, ReplayOptions, ReplayReport, ReplayResult } from "./tools/replay.js";
