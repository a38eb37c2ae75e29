// The JavaScript/WebAssembly contract: result-block offsets, counter indexes, TLB-entry fields,
// access bits and status codes, read from the module's exported globals (assembly/contract.ts),
// their one home. Nothing here restates a value.

export const CONTRACT_NAMES = [
  "RES_STATUS", "RES_ERROR", "RES_PA", "RES_LEAF", "RES_SHIFT", "RES_LEVEL", "RES_MEMREFS", "RES_RIGHTS", "RES_HIT",
  "CTRL_TICK", "CTRL_KEY", "CTRL_HI_MASK", "CTRL_TOP_SHIFT", "CTRL_TOP_NEG", "CTRL_NO_KEY",
  "STATS", "STAT_COUNT", "STAT_WALKS", "STAT_WALK_MEMREFS", "STAT_A_WRITES", "STAT_D_WRITES", "STAT_PAGE_FAULTS",
  "STAT_GP_FAULTS", "RIGHT_W", "RIGHT_U", "RIGHT_XD", "RIGHT_G",
  "MAX_STRUCTS", "KIND_4K", "KIND_LARGE", "KIND_1G", "KIND_PWC", "SIDE_I", "SIDE_D", "W1_VALID", "W1_GLOBAL",
  "W1_TAGHI", "W1_PCID_SHIFT", "W1_KEY_MASK", "W1_GLOBAL_KEY_MASK", "W3_FRAME_HI", "W3_ALLOW_SHIFT",
  "STAT_TLB_HITS", "STAT_TLB_MISSES", "STAT_STRUCT", "STAT_FLUSH", "STAT_TLB_INVALIDATED",
  "STAT_PWC_INVALIDATED", "FLUSH_CR3", "FLUSH_CR4", "FLUSH_CR0", "FLUSH_INVLPG", "FLUSH_INVPCID", "FLUSH_FAULT",
  "ACC_WRITE", "ACC_USER", "ACC_FETCH", "ACC_AC", "ACC_PROBE", "ST_OK", "ST_PF", "ST_GP",
  "MODE_OFF", "MODE_32", "MODE_PAE", "MODE_4L", "MODE_5L", "DUMP_RECORD", "DUMP_HOLE",
] as const;

export type ContractName = (typeof CONTRACT_NAMES)[number];
/** Each value as the module exports it (32-bit globals: signed JavaScript numbers). */
export type Contract = Readonly<Record<ContractName, number>>;

/** Reads the contract from an instance's exports; a module that lacks a name is refused. */
export function readContract(exports: WebAssembly.Exports): Contract {
  const entries = CONTRACT_NAMES.map((name): [ContractName, number] => {
    const g = exports[name];
    if (!(g instanceof WebAssembly.Global) || typeof g.value !== "number") {
      throw new Error(`wasm-mmu: the WebAssembly core does not export the contract constant ${name}`);
    }
    return [name, g.value];
  });
  // Built in one go (not key by key) so the object keeps fast properties: hot paths read it.
  return Object.freeze(Object.fromEntries(entries) as Contract);
}
