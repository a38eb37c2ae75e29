export { Kernel, Process } from "./kernel.js";
export type { FaultAccess, KernelOptions, KernelStats, MapEntry, MemoryAccessOptions, MmapArgs, PageEntry, SpawnLayout } from "./kernel.js";
export { DESIGN_NAMES, DESIGNS } from "./designs.js";
export type { Design, DesignName, Level, VmallocSync } from "./designs.js";
export {
  KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE,
  PROT_READ, PROT_WRITE,
} from "./constants.js";
export type { KernelErrorCode } from "./constants.js";
