// The JavaScript/WebAssembly contract: every constant the TypeScript facade reads from linear
// memory or passes to an export, exported from the module as an immutable global. The facade
// reads them from the instance (src/wasm/contract.ts) instead of restating them, and refuses a
// module whose contract lacks a name it needs.

export {
  RES_STATUS, RES_ERROR, RES_PA, RES_LEAF, RES_SHIFT, RES_LEVEL, RES_MEMREFS, RES_RIGHTS, RES_HIT,
  CTRL_TICK, CTRL_KEY, CTRL_HI_MASK, CTRL_TOP_SHIFT, CTRL_TOP_NEG, CTRL_NO_KEY,
  STATS, STAT_COUNT, STAT_WALKS, STAT_WALK_MEMREFS, STAT_A_WRITES, STAT_D_WRITES, STAT_PAGE_FAULTS,
  STAT_GP_FAULTS, RIGHT_W, RIGHT_U, RIGHT_XD, RIGHT_G,
} from "./state";
export {
  MAX_STRUCTS, KIND_4K, KIND_LARGE, KIND_1G, KIND_PWC, SIDE_I, SIDE_D, W1_VALID, W1_GLOBAL,
  W1_TAGHI, W1_PCID_SHIFT, W1_KEY_MASK, W1_GLOBAL_KEY_MASK, W3_FRAME_HI, W3_ALLOW_SHIFT,
  STAT_TLB_HITS, STAT_TLB_MISSES, STAT_STRUCT, STAT_FLUSH, STAT_TLB_INVALIDATED,
  STAT_PWC_INVALIDATED, FLUSH_CR3, FLUSH_CR4, FLUSH_CR0, FLUSH_INVLPG, FLUSH_INVPCID, FLUSH_FAULT,
} from "./tlb";
export { ACC_WRITE, ACC_USER, ACC_FETCH, ACC_AC, ACC_PROBE, ST_OK, ST_PF, ST_GP } from "./x86";
export { MODE_OFF, MODE_32, MODE_PAE, MODE_4L, MODE_5L } from "./x86";
export { DUMP_RECORD, DUMP_HOLE } from "./dump";
