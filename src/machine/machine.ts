// Machine: the hardware. Guest RAM in WebAssembly linear memory, the paging registers, and
// translation exactly as the Intel SDM Vol. 3A ch. 4 defines it. Knows nothing of processes.

import { LINEAR_MEMORY_MAX, LayoutPlan, instantiateCore, type Block, type CoreExports } from "../wasm/core.js";
import type { Contract } from "../wasm/contract.js";
import { StateError, checkBool, checkBytes, checkInt, checkOptions, checkU } from "../errors.js";
import {
  CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR0_WP, CR3_NOFLUSH, CR4_CET, CR4_LA57, CR4_PAE, CR4_PCIDE, CR4_PGE,
  CR4_PKE, CR4_PSE, CR4_SMAP, CR4_SMEP, EFER_LMA, EFER_LME, EFER_NXE,
} from "../x86.js";
import { planCaches, type PwcConfig, type StructurePlan, type TlbConfig } from "./tlb.js";

export type PagingMode = "off" | "32-bit" | "pae" | "4-level" | "5-level";
const MODE_NAMES: readonly PagingMode[] = ["off", "32-bit", "pae", "4-level", "5-level"];

export interface MachineOptions {
  /** Guest RAM in bytes: a whole number of 4 KiB pages, 1 MiB up to Machine.MAX_RAM_BYTES. */
  ramBytes: number;
  /** MAXPHYADDR, 32..52 (default 46). Sets the reserved physical-address bits. */
  physAddrBits?: number;
  /** The compiled core, for bundlers that load it themselves (default: build/release.wasm). */
  wasm?: WebAssembly.Module | BufferSource;
  /** TLB structures (default: SKYLAKE_TLB); false: none, every translation walks. */
  tlb?: TlbConfig | false;
  /** Paging-structure caches (default: DEFAULT_PWC); false: none. */
  pwc?: PwcConfig | false;
  /**
   * Bytes of linear memory set aside below RAM for software running on the machine (default 0:
   * a Machine carries nothing but the hardware). The Kernel asks for its frame table here, 8
   * bytes per 4 KiB frame; the RAM limit is then MAX_RAM_BYTES less about these bytes.
   */
  extraBytes?: number;
}

export interface Registers {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  pkru: bigint;
}

/** How the access is made; all false by default (a supervisor data read). */
export interface Access {
  write?: boolean;
  user?: boolean; //  CPL = 3
  fetch?: boolean; // instruction fetch
  ac?: boolean; //    EFLAGS.AC = 1: supervisor data accesses may reach user pages under SMAP
  probe?: boolean; // debugger's view: no A/D writes, no counters
}

export interface Translation {
  fault?: undefined;
  pa: bigint;
  /** True if a TLB entry answered (no walk; entry is then undefined). */
  tlbHit: boolean;
  /** 4096, 2 MiB, 4 MiB or 1 GiB. */
  pageSize: number;
  /** Level of the leaf: 1 = PTE, 2 = PDE (large page), 3 = PDPTE (1 GiB page). */
  level: number;
  /** The leaf entry as the walk read it (undefined on a TLB hit: a TLB holds no entries). */
  entry: bigint | undefined;
  /** Effective rights: R/W and U/S at every level, no XD at any level (with NXE). */
  write: boolean;
  user: boolean;
  execute: boolean;
  /** The translation is global: G in the leaf and CR4.PGE = 1 (SDM 4.10.2.4). */
  global: boolean;
  /** Paging-structure entries read from memory for this translation. */
  memRefs: number;
}

export interface PageFault {
  fault: "page";
  /** SDM error code: PF_P | PF_WR | PF_US | PF_RSVD | PF_ID | PF_PK. */
  errorCode: number;
  /** The faulting linear address (what CR2 would hold). */
  address: bigint;
  /** Level of the entry that ended the walk (1 = PTE), or of the leaf for a rights fault. */
  level: number;
}

export interface GeneralProtection {
  fault: "gp";
  errorCode: 0;
  address?: bigint;
  reason: string;
}

export type Fault = PageFault | GeneralProtection;

export interface Mapping {
  va: bigint;
  pa: bigint;
  size: number;
  /** The raw leaf entry. */
  entry: bigint;
  /** Effective rights over all levels. */
  user: boolean;
  write: boolean;
  execute: boolean;
}

export interface Range {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  user: boolean;
  write: boolean;
}

export interface CacheStats {
  name: string;
  hits: number;
  misses: number;
}

export interface MachineStats {
  /** Translations answered by a TLB / that needed a walk (probes are not counted). */
  tlbHits: number;
  tlbMisses: number;
  walks: number;
  /** Paging-structure entries read from memory by walks. */
  walkMemRefs: number;
  accessedWrites: number;
  dirtyWrites: number;
  pageFaults: number;
  gpFaults: number;
  /** Per TLB structure: hits; misses = lookups on its level and side that no structure answered. */
  tlb: CacheStats[];
  /** Per paging-structure cache (pde, pdpte, pml4e, pml5e): a level is consulted when every
   * deeper cache missed; a hit there lets the walk skip the levels above. */
  pwc: CacheStats[];
  /** Invalidation operations by cause, and entries they removed. */
  flushes: { cr0: number; cr3: number; cr4: number; invlpg: number; invpcid: number; pageFault: number };
  tlbEntriesInvalidated: number;
  pwcEntriesInvalidated: number;
}

/**
 * The TLB's hit path in JavaScript (the v86 pattern): looks the first-level 4 KiB TLB up with
 * typed-array reads of linear memory and calls WebAssembly only on a miss. It answers and counts
 * exactly as translate() does (its hits are in stats(), and it marks entries most recently
 * used). See the README.
 */
export interface InlineTlb {
  /** Physical address for the linear address (vaLo, vaHi: its 32-bit halves, signed or
   * unsigned) and access bits (ACCESS_*), or -1 if the access faults (fault() then describes it). */
  translate(vaLo: number, vaHi: number, access: number): number;
  /** The fault of the last translate() that returned -1. */
  fault(vaLo: number, vaHi: number): Fault;
  /** Translations this object answered in JavaScript (since it was taken or the last
   * resetStats()) / passed to WebAssembly. */
  readonly hits: number;
  readonly misses: number;
}

/** Zero-copy batch buffers in linear memory (see Machine.batch()). */
export interface BatchBuffers {
  capacity: number;
  /** Linear addresses, as u64 or as (low, high) u32 word pairs over the same bytes. */
  va: BigUint64Array;
  vaWords: Uint32Array;
  /** Physical addresses written by run(). */
  pa: BigUint64Array;
  paWords: Uint32Array;
  /** Per-address access bits (ACCESS_WRITE | ACCESS_USER | ACCESS_FETCH | ACCESS_AC), used when
   * run() is given no access. */
  access: Uint8Array;
  /** Translates entries [start, count); returns the index of the first that faulted (its fault
   * via lastFault()), or count. One WebAssembly call. */
  run(count: number, start?: number, access?: Access): number;
}

/** Access bits for batch buffers, translateLoHi() and the inline path (the core's ACC_*; a
 * test and every Machine.create hold them equal). */
export const ACCESS_WRITE = 1, ACCESS_USER = 2, ACCESS_FETCH = 4, ACCESS_AC = 8;
/** Bit a of VALID_ACCESS: access bits a are valid (any of the four, but not write and fetch). */
const VALID_ACCESS = 0x5f5f;

const DUMP_RECORDS = 2048;
/** Bytes of a dump record, for planning the dump block before the core is loaded (held equal
 * to the core's DUMP_RECORD at create). */
const DUMP_RECORD_BYTES = 32;
const BATCH = 4096;
const TWO32 = 4294967296;
const TWO53 = 1n << 53n;
const U64_END = 1n << 64n;

const MIB = 1 << 20;
const PAGE = 4096;
/** Supported CR4 bits: 0..14 and 16..24 (bit 15 and 25 up are reserved here). */
const CR4_VALID = 0x1ff7fffn;
/** EFER bits modelled: SCE, LME, LMA, NXE. */
const EFER_VALID = 0xd01n;
const ACCESS_KEYS = ["write", "user", "fetch", "ac", "probe"] as const;
const REGISTER_KEYS = ["cr0", "cr3", "cr4", "efer", "pkru"] as const;

// Register-write helpers (module level: hot methods create no closures).
const gp = (reason: string): GeneralProtection => ({ fault: "gp", errorCode: 0, reason });
const on = (r: bigint, bit: bigint) => (r & bit) !== 0n;
const changed = (a: bigint, b: bigint, bit: bigint) => ((a ^ b) & bit) !== 0n;

/** Internal handle for the Kernel and tools of this package (not part of the public API). */
export const CORE = Symbol("wasm-mmu core");
export interface CoreAccess {
  exports: CoreExports;
  memory: WebAssembly.Memory;
  blocks: Record<string, Block>;
  ramOffset: number;
  contract: Contract;
}

export class Machine {
  /** Largest guest RAM a Machine can have: 4 GiB of linear memory less the emulator's blocks. */
  static readonly MAX_RAM_BYTES = Machine.maxRam();

  /** Guest RAM: byte p is physical address p. */
  readonly ram: Uint8Array;
  readonly ramBytes: number;
  readonly physAddrBits: number;

  #core: CoreExports;
  #k: Contract;
  #mem: WebAssembly.Memory;
  #ctrl: number;
  #dump: number;
  #u32: Uint32Array;
  #i32: Int32Array;
  #view: DataView;
  /** The paging mode (MODE_*), as the core derived it at the last register load. */
  #mode = 0;
  /** Hits each inline path answered, per side (0 instruction, 1 data): added to stats(). */
  #inlineHits: Float64Array[] = [];
  #regs: Registers = { cr0: 0x10n, cr3: 0n, cr4: 0n, efer: 0n, pkru: 0n };
  #destroyed = false;
  #access: CoreAccess;
  #structures: StructurePlan[] = [];
  #pcid = 0;
  #pcide = false;
  #lma = false;
  #batch: BatchBuffers | undefined;

  /** Linear-memory blocks for a machine with cacheBytes of TLB/PWC and extraBytes for its software. */
  private static plan(cacheBytes: number, extraBytes = 0): LayoutPlan {
    const plan = new LayoutPlan();
    plan.add("ctrl", 4096);
    plan.add("dump", DUMP_RECORD_BYTES * DUMP_RECORDS);
    plan.add("batch", BATCH * 17);
    plan.add("tlb", cacheBytes);
    if (extraBytes) plan.add("extra", extraBytes);
    return plan;
  }

  /** Largest whole-page RAM whose blocks (default caches) and RAM fit in 4 GiB of linear memory. */
  private static maxRam(cacheBytes = planCaches(undefined, undefined).bytes, extraBytes = 0): number {
    return Math.floor(Machine.plan(cacheBytes, extraBytes).maxRamBytes / PAGE) * PAGE;
  }

  private constructor(core: CoreExports, contract: Contract, memory: WebAssembly.Memory, plan: LayoutPlan, ramOffset: number, ramBytes: number, physAddrBits: number) {
    this.#core = core;
    this.#k = contract;
    this.#mem = memory;
    this.#ctrl = plan.blocks.ctrl!.offset;
    this.#dump = plan.blocks.dump!.offset;
    this.#u32 = new Uint32Array(memory.buffer);
    this.#i32 = new Int32Array(memory.buffer);
    this.#view = new DataView(memory.buffer);
    this.ram = new Uint8Array(memory.buffer, ramOffset, ramBytes);
    this.ramBytes = ramBytes;
    this.physAddrBits = physAddrBits;
    this.#access = { exports: core, memory, blocks: plan.blocks, ramOffset, contract };
    this.#mode = contract.MODE_OFF;
  }

  /** @internal */
  get [CORE](): CoreAccess {
    this.#live();
    return this.#access;
  }

  /** A new machine with zeroed RAM and paging off (CR0 = 0x10, as after RESET). */
  static async create(options: MachineOptions): Promise<Machine> {
    const o = checkOptions<MachineOptions>("Machine.create options", options, ["ramBytes", "physAddrBits", "wasm", "tlb", "pwc", "extraBytes"]);
    if (o.ramBytes === undefined) throw new TypeError("Machine.create: ramBytes is required");
    const caches = planCaches(o.tlb, o.pwc);
    const extraBytes = o.extraBytes === undefined ? 0 : checkInt("extraBytes", o.extraBytes, 0, LINEAR_MEMORY_MAX);
    const ramBytes = checkInt("ramBytes", o.ramBytes, MIB, Machine.maxRam(caches.bytes, extraBytes));
    if (ramBytes % PAGE !== 0) throw new RangeError(`ramBytes must be a whole number of 4 KiB pages, got ${ramBytes}`);
    const physAddrBits = o.physAddrBits === undefined ? 46 : checkInt("physAddrBits", o.physAddrBits, 32, 52);
    const plan = Machine.plan(caches.bytes, extraBytes);
    const { exports, memory, ramOffset, contract } = await instantiateCore(plan, ramBytes, physAddrBits, o.wasm);
    const k = contract;
    if (k.ACC_WRITE !== ACCESS_WRITE || k.ACC_USER !== ACCESS_USER || k.ACC_FETCH !== ACCESS_FETCH || k.ACC_AC !== ACCESS_AC) {
      throw new Error("wasm-mmu: the WebAssembly core's access bits differ from this facade's ACCESS_*");
    }
    if (k.DUMP_RECORD !== DUMP_RECORD_BYTES) throw new Error("wasm-mmu: the WebAssembly core's dump records differ in size");
    const base = plan.blocks.tlb!.offset;
    caches.structures.forEach((s, i) =>
      exports.tlbDefine(i, base + s.entriesAt, s.sets, s.ways, s.kind, s.sides, s.level, base + s.lruAt),
    );
    exports.tlbConfigure(caches.tlbOn ? 1 : 0, caches.pwcOn ? 1 : 0);
    const m = new Machine(exports, contract, memory, plan, ramOffset, ramBytes, physAddrBits);
    m.#structures = caches.structures;
    return m;
  }

  #live(): void {
    if (this.#destroyed) throw new StateError("this Machine was destroyed");
  }

  /** Marks the machine unusable: any later call (inline paths taken before included) throws
   * StateError. Its linear memory is freed when the last reference to it goes. */
  destroy(): void {
    this.#destroyed = true;
    // No inline hit is possible any more: their misses reach #live().
    this.#i32[(this.#ctrl + this.#k.CTRL_KEY) >> 2] = this.#k.CTRL_NO_KEY;
  }

  /** The paging mode the registers select. */
  get mode(): PagingMode {
    this.#live();
    return MODE_NAMES[this.#mode]!;
  }

  /** Current register values (EFER.LMA as the CPU sets it). */
  registers(): Registers {
    this.#live();
    return { ...this.#regs };
  }

  /**
   * Loads control registers with MOV-to-CR semantics. The fields given are written together and
   * the resulting state is checked as a CPU checks it (reserved bits, PG without PE, CET without WP, long mode
   * without PAE, PCIDE outside long mode or with CR3[11:0] != 0, LA57 or LME changed while
   * paging in long mode, invalid PAE PDPTEs). A CPU's refusal comes back as a #GP value and
   * changes nothing. EFER.LMA is not writable: it follows LME and PG. With CR4.PCIDE = 1, bit
   * 63 of cr3 is the no-flush hint and is not stored.
   */
  setRegisters(values: Partial<Registers>): GeneralProtection | null {
    this.#live();
    const v = checkOptions<Registers>("setRegisters values", values, REGISTER_KEYS);
    if (v.cr3 !== undefined && v.cr0 === undefined && v.cr4 === undefined && v.efer === undefined && v.pkru === undefined) {
      return this.movCr3(v.cr3);
    }
    const cur = this.#regs;
    const next: Registers = { ...cur };
    for (const key of REGISTER_KEYS) {
      if (v[key] !== undefined) next[key] = checkU(key, v[key], key === "pkru" ? 32 : 64);
    }

    if (next.cr0 >> 32n) return gp(`cr0 bits 63:32 are reserved (0x${next.cr0.toString(16)})`);
    if (on(next.cr0, CR0_PG) && !on(next.cr0, CR0_PE)) return gp("CR0.PG = 1 requires CR0.PE = 1");
    if (on(next.cr0, CR0_NW) && !on(next.cr0, CR0_CD)) return gp("CR0.NW = 1 requires CR0.CD = 1");
    if (next.cr4 & ~CR4_VALID) return gp(`cr4 sets reserved bits 0x${(next.cr4 & ~CR4_VALID).toString(16)}`);
    if (next.efer & ~EFER_VALID) return gp(`efer sets reserved bits 0x${(next.efer & ~EFER_VALID).toString(16)}`);
    if (on(next.cr4, CR4_CET) && !on(next.cr0, CR0_WP)) return gp("CR4.CET = 1 requires CR0.WP = 1");
    const paging = on(next.cr0, CR0_PG);
    const lma = paging && on(next.efer, EFER_LME);
    next.efer = lma ? next.efer | EFER_LMA : next.efer & ~EFER_LMA;
    const curPaging = on(cur.cr0, CR0_PG);
    const curLma = on(cur.efer, EFER_LMA);
    if (lma && !on(next.cr4, CR4_PAE)) return gp("long mode (EFER.LME and CR0.PG) requires CR4.PAE = 1");
    if (curPaging && paging && on(cur.efer, EFER_LME) !== on(next.efer, EFER_LME)) {
      return gp("EFER.LME cannot change while paging is enabled");
    }
    if (curLma && lma && on(cur.cr4, CR4_LA57) !== on(next.cr4, CR4_LA57)) {
      return gp("CR4.LA57 cannot change while paging in long mode");
    }
    if (on(next.cr4, CR4_PCIDE) && !lma) return gp("CR4.PCIDE = 1 requires long mode");
    if (on(next.cr4, CR4_PCIDE) && !on(cur.cr4, CR4_PCIDE) && (next.cr3 & 0xfffn) !== 0n) {
      return gp(`CR4.PCIDE cannot be set while CR3[11:0] = 0x${(next.cr3 & 0xfffn).toString(16)}`);
    }
    // CR3: with PCIDE, bit 63 is the no-flush hint, not a register bit.
    let noFlush = false;
    if (v.cr3 !== undefined && on(next.cr4, CR4_PCIDE) && on(next.cr3, CR3_NOFLUSH)) {
      noFlush = true;
      next.cr3 &= ~CR3_NOFLUSH;
    }
    if (lma) {
      const rsvd = next.cr3 >> BigInt(this.physAddrBits);
      if (rsvd) return gp(`cr3 sets bits above MAXPHYADDR (${this.physAddrBits}): 0x${next.cr3.toString(16)}`);
    } else if (next.cr3 >> 32n) {
      throw new RangeError(`cr3 must fit in 32 bits outside long mode, got 0x${next.cr3.toString(16)}`);
    }
    // PAE: the PDPTEs are (re)loaded by MOV CR3, by entering PAE paging, and by MOV CR4
    // changing PAE, PGE, PSE or SMEP (SDM 4.4.1).
    const reload =
      v.cr3 !== undefined || !curPaging || curLma ||
      ((cur.cr4 ^ next.cr4) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) !== 0n ||
      ((cur.cr0 ^ next.cr0) & (CR0_PG | CR0_CD | CR0_NW)) !== 0n;
    const core = this.#core;
    const ok = core.setControl(next.cr0, next.cr3, next.cr4, next.efer, Number(next.pkru), reload ? 1 : 0);
    if (!ok) return gp(`a present PAE PDPTE at 0x${(next.cr3 & 0xffffffe0n).toString(16)} sets reserved bits`);
    core.syncContext();
    this.#regs = next;
    this.#mode = core.modeOf(next.cr0, next.cr4, next.efer);
    this.#pcid = on(next.cr4, CR4_PCIDE) ? Number(next.cr3 & 0xfffn) : 0;
    this.#pcide = on(next.cr4, CR4_PCIDE);
    this.#lma = on(next.efer, EFER_LMA);
    this.#invalidateFor(cur, next, v.cr3 !== undefined, noFlush);
    return null;
  }

  /**
   * MOV to CR3 alone (a context switch), as setRegisters({ cr3 }) but without the checks that
   * only other registers need: the CR3 reserved bits, PAE's PDPTEs, and with CR4.PCIDE bit 63 as
   * the no-flush hint. Returns the #GP a CPU raises, changing nothing.
   */
  movCr3(cr3: bigint): GeneralProtection | null {
    this.#live();
    if (typeof cr3 !== "bigint" || cr3 < 0n || cr3 >= U64_END) checkU("cr3", cr3);
    const pcide = this.#pcide;
    // Below 2^53 (any CR3 without the no-flush bit) the checks run on a number.
    let v = cr3, n = cr3 < TWO53 ? Number(cr3) : -1, noFlush = false;
    if (n < 0 && pcide && on(v, CR3_NOFLUSH)) {
      noFlush = true;
      v &= ~CR3_NOFLUSH;
      if (v < TWO53) n = Number(v);
    }
    if (n < 0 || n >= (this.#lma ? 2 ** this.physAddrBits : TWO32)) {
      if (this.#lma) return gp(`cr3 sets bits above MAXPHYADDR (${this.physAddrBits}): 0x${v.toString(16)}`);
      throw new RangeError(`cr3 must fit in 32 bits outside long mode, got 0x${v.toString(16)}`);
    }
    if (!this.#core.movCr3(n >>> 0, (n / TWO32) >>> 0, noFlush ? 1 : 0)) {
      return gp(`a present PAE PDPTE at 0x${(n & 0xffffffe0).toString(16)} sets reserved bits`);
    }
    this.#regs.cr3 = v; // registers() hands out copies
    this.#pcid = pcide ? n & 0xfff : 0;
    return null;
  }

  /** The TLB and paging-structure-cache invalidations of these register writes (SDM 4.10.4.1). */
  #invalidateFor(cur: Registers, next: Registers, cr3Written: boolean, noFlush: boolean): void {
    const core = this.#core;
    // Everything, globals included, for every PCID: CR0.PG 1 -> 0, CR0.WP changed (the SDM does
    // not require it; QEMU does it too), CR4.PGE changed, CR4.PCIDE 1 -> 0, CR4.LA57 changed.
    if ((on(cur.cr0, CR0_PG) && !on(next.cr0, CR0_PG)) || changed(cur.cr0, next.cr0, CR0_WP)) {
      core.flushFor(this.#k.FLUSH_CR0, -1, 1);
    } else if (
      changed(cur.cr4, next.cr4, CR4_PGE | CR4_LA57) ||
      (on(cur.cr4, CR4_PCIDE) && !on(next.cr4, CR4_PCIDE))
    ) {
      core.flushFor(this.#k.FLUSH_CR4, -1, 1);
    } else if (changed(cur.cr4, next.cr4, CR4_PAE | CR4_PSE) || (!on(cur.cr4, CR4_SMEP) && on(next.cr4, CR4_SMEP))) {
      // Every entry of the current PCID (CR4.PSE is not named by the SDM; it changes how PDEs
      // are read, so it is treated like CR4.PAE).
      core.flushFor(this.#k.FLUSH_CR4, this.#pcid, 1);
    } else if (on(cur.cr0, CR0_PG) !== on(next.cr0, CR0_PG)) {
      core.flushFor(this.#k.FLUSH_CR0, -1, 1); // paging turned on: nothing cached may predate it
    }
    // MOV to CR3: the new PCID's non-global entries (PCID 0 without PCIDE), unless bit 63 said not to.
    if (cr3Written && !noFlush) core.flushFor(this.#k.FLUSH_CR3, this.#pcid, 0);
    // Rights checks on cached entries use the current registers.
    const rightsRegs =
      changed(cur.cr0, next.cr0, CR0_WP) || changed(cur.cr4, next.cr4, CR4_SMEP | CR4_SMAP | CR4_PKE) ||
      changed(cur.efer, next.efer, EFER_NXE) || cur.pkru !== next.pkru;
    if (rightsRegs) core.rederiveAllow();
  }

  /** INVLPG: drops va's page from the TLBs (current PCID and global entries) and the current
   * PCID's paging-structure-cache entries. Like the instruction, a no-op for a non-canonical va. */
  invlpg(va: bigint): void {
    this.#live();
    const v = checkU("va", va);
    this.#core.invlpg(v);
  }

  /**
   * INVPCID: type 0 individual address (pcid, va), 1 single PCID, 2 all including globals,
   * 3 all but globals. Returns the #GP a CPU raises for a type above 3, a PCID above 0xfff, a
   * non-zero PCID with CR4.PCIDE = 0 (types 0 and 1), or a non-canonical va (type 0).
   */
  invpcid(type: number, pcid: number, va: bigint = 0n): GeneralProtection | null {
    this.#live();
    checkInt("type", type, 0, Number.MAX_SAFE_INTEGER);
    checkInt("pcid", pcid, 0, Number.MAX_SAFE_INTEGER);
    const v = checkU("va", va);
    if (type > 3) return gp(`INVPCID type ${type} is not defined`);
    if (pcid > 0xfff) return gp(`INVPCID descriptor PCID 0x${pcid.toString(16)} exceeds 12 bits`);
    if (type <= 1 && pcid !== 0 && !(this.#regs.cr4 & CR4_PCIDE)) return gp("INVPCID with a non-zero PCID needs CR4.PCIDE = 1");
    if (type === 0) {
      const m = this.mode;
      const bits = m === "5-level" ? 57 : 48;
      if (BigInt.asUintN(64, BigInt.asIntN(bits, v)) !== v) return gp(`INVPCID type 0 address 0x${v.toString(16)} is not canonical`);
    }
    this.#core.invpcid(type, pcid, v);
    return null;
  }

  #accessBits(access: Access | undefined): number {
    if (access === undefined) return 0;
    const k = this.#k;
    const a = checkOptions<Access>("access", access, ACCESS_KEYS);
    let bits = 0;
    if (checkBool("access.write", a.write)) bits |= k.ACC_WRITE;
    if (checkBool("access.user", a.user)) bits |= k.ACC_USER;
    if (checkBool("access.fetch", a.fetch)) bits |= k.ACC_FETCH;
    if (checkBool("access.ac", a.ac)) bits |= k.ACC_AC;
    if (checkBool("access.probe", a.probe)) bits |= k.ACC_PROBE;
    if ((bits & k.ACC_WRITE) && (bits & k.ACC_FETCH)) throw new RangeError("access cannot be both write and fetch");
    return bits;
  }

  /** True in the modes whose linear addresses are 32 bits wide. */
  get #narrow(): boolean {
    return this.#mode < this.#k.MODE_4L;
  }

  #checkVa(va: unknown): bigint {
    const v = typeof va === "bigint" && va >= 0n && va < TWO53 ? va : checkU("va", va);
    if (this.#narrow && v >> 32n) {
      throw new RangeError(`va must fit in 32 bits in ${MODE_NAMES[this.#mode]} mode, got 0x${v.toString(16)}`);
    }
    return v;
  }

  /** Status of the last translation written to the result block. */
  #status(): number {
    return this.#u32[(this.#ctrl + this.#k.RES_STATUS) >> 2]!;
  }

  #result(va: bigint, status: number): Translation | Fault {
    const c = this.#ctrl >> 2;
    const w = this.#u32;
    const k = this.#k;
    if (status === k.ST_OK) {
      const rights = w[c + (k.RES_RIGHTS >> 2)]!;
      const hit = w[c + (k.RES_HIT >> 2)]! !== 0;
      const pa = c + (k.RES_PA >> 2);
      return {
        pa: BigInt(w[pa]! + w[pa + 1]! * TWO32), // at most 52 bits: exact as a number
        tlbHit: hit,
        pageSize: 1 << w[c + (k.RES_SHIFT >> 2)]!, // shift <= 30
        level: w[c + (k.RES_LEVEL >> 2)]!,
        entry: hit ? undefined : this.#view.getBigUint64(this.#ctrl + k.RES_LEAF, true),
        write: (rights & k.RIGHT_W) !== 0,
        user: (rights & k.RIGHT_U) !== 0,
        execute: (rights & k.RIGHT_XD) === 0,
        global: (rights & k.RIGHT_G) !== 0,
        memRefs: w[c + (k.RES_MEMREFS >> 2)]!,
      };
    }
    if (status === k.ST_PF) {
      return { fault: "page", errorCode: w[c + (k.RES_ERROR >> 2)]!, address: va, level: w[c + (k.RES_LEVEL >> 2)]! };
    }
    return { fault: "gp", errorCode: 0, address: va, reason: "non-canonical linear address" };
  }

  /** Translates a linear address as the CPU would for this access. Faults are values. */
  translate(va: bigint, access?: Access): Translation | Fault {
    this.#live();
    const v = this.#checkVa(va);
    const bits = this.#accessBits(access);
    // Below 2^53 the halves come from a number, cheaper than BigInt arithmetic or an i64 call.
    let lo: number, hi: number;
    if (v < TWO53) {
      const n = Number(v);
      lo = n >>> 0;
      hi = (n / TWO32) >>> 0;
    } else {
      lo = Number(v & 0xffffffffn);
      hi = Number(v >> 32n);
    }
    return this.#result(v, this.#core.translate2(lo, hi, bits));
  }

  /**
   * translate() for emulators: the linear address as its 32-bit halves (each signed or
   * unsigned), access as ACCESS_* bits; returns the physical address, or -1 if the access
   * faults (lastFault() then describes it). No BigInt and no object per call.
   */
  translateLoHi(vaLo: number, vaHi: number, access: number): number {
    if (this.#destroyed) this.#live();
    if ((vaLo !== (vaLo | 0) && vaLo !== vaLo >>> 0) || (vaHi !== (vaHi | 0) && vaHi !== vaHi >>> 0)) {
      throw new RangeError(`vaLo and vaHi must be 32-bit integers, got ${vaLo} and ${vaHi}`);
    }
    if (access !== (access & 15) || !((VALID_ACCESS >> access) & 1)) {
      throw new RangeError(`access must be ACCESS_* bits, not both write and fetch, got ${access}`);
    }
    if (vaHi !== 0 && this.#narrow) {
      throw new RangeError(`va must fit in 32 bits in ${MODE_NAMES[this.#mode]} mode, got high word 0x${(vaHi >>> 0).toString(16)}`);
    }
    return this.#core.translatePa(vaLo, vaHi, access);
  }

  /** Translates every address of vas in one WebAssembly call per 4096; stops at the first fault. */
  translateBatch(vas: BigUint64Array, access?: Access, out?: BigUint64Array): { translated: number; pa: BigUint64Array; fault?: Fault } {
    this.#live();
    if (!(vas instanceof BigUint64Array)) throw new TypeError(`vas must be a BigUint64Array, got ${String(vas)}`);
    const pa = out ?? new BigUint64Array(vas.length);
    if (!(pa instanceof BigUint64Array) || pa.length < vas.length) {
      throw new RangeError(`out must be a BigUint64Array of at least ${vas.length} elements`);
    }
    const bits = this.#accessBits(access);
    const b = this.batch();
    for (let done = 0; done < vas.length; ) {
      const n = Math.min(BATCH, vas.length - done);
      b.va.set(vas.subarray(done, done + n));
      const stop = this.#core.translateBatch(b.va.byteOffset, 0, b.pa.byteOffset, 0, n, bits);
      pa.set(b.pa.subarray(0, stop), done);
      if (stop < n) return { translated: done + stop, pa, fault: this.#result(vas[done + stop]!, this.#status()) as Fault };
      done += n;
    }
    return { translated: vas.length, pa };
  }

  /** Batch buffers in linear memory, for callers that fill addresses themselves (trace replay). */
  batch(): BatchBuffers {
    this.#live();
    if (this.#batch) return this.#batch;
    const off = this.#access.blocks.batch!.offset;
    const buf = this.#mem.buffer;
    const vaAt = off, paAt = off + BATCH * 8, accAt = off + BATCH * 16;
    const core = this.#core;
    const self = this;
    this.#batch = {
      capacity: BATCH,
      va: new BigUint64Array(buf, vaAt, BATCH),
      vaWords: new Uint32Array(buf, vaAt, BATCH * 2),
      pa: new BigUint64Array(buf, paAt, BATCH),
      paWords: new Uint32Array(buf, paAt, BATCH * 2),
      access: new Uint8Array(buf, accAt, BATCH),
      run(count: number, start = 0, access?: Access): number {
        self.#live();
        checkInt("count", count, 0, BATCH);
        checkInt("start", start, 0, count);
        const bits = access === undefined ? 0 : self.#accessBits(access);
        return core.translateBatch(vaAt, access === undefined ? accAt : 0, paAt, start, count, bits);
      },
    };
    return this.#batch;
  }

  /** The fault of the last translation that did not succeed, for an address va. */
  lastFault(va: bigint): Fault {
    this.#live();
    const r = this.#result(checkU("va", va), this.#status());
    if (!r.fault) throw new RangeError("the last translation did not fault");
    return r;
  }

  /** The JavaScript inline TLB hit path (see InlineTlb). Uses the first-level 4 KiB structures. */
  inlineTlb(): InlineTlb {
    this.#live();
    const k = this.#k;
    const w = this.#i32;
    const base = this.#access.blocks.tlb!.offset;
    const side = (bit: number) => this.#structures.find((x) => x.kind === k.KIND_4K && x.level === 1 && (x.sides & bit) !== 0);
    const is = side(k.SIDE_I), ds = side(k.SIDE_D);
    // Word indexes of each side's entries and LRU stamps, its set mask and ways (-1: none).
    const iWord = is ? (base + is.entriesAt) >> 2 : -1, iLru = is ? (base + is.lruAt) >> 2 : 0;
    const iSets = is ? is.sets - 1 : 0, iWays = is ? is.ways : 0;
    const dWord = ds ? (base + ds.entriesAt) >> 2 : -1, dLru = ds ? (base + ds.lruAt) >> 2 : 0;
    const dSets = ds ? ds.sets - 1 : 0, dWays = ds ? ds.ways : 0;
    const ctrl = this.#ctrl >> 2;
    const keyAt = ctrl + (k.CTRL_KEY >> 2), hiMaskAt = ctrl + (k.CTRL_HI_MASK >> 2);
    const shiftAt = ctrl + (k.CTRL_TOP_SHIFT >> 2), negAt = ctrl + (k.CTRL_TOP_NEG >> 2), tickAt = ctrl + (k.CTRL_TICK >> 2);
    const keyMask = k.W1_KEY_MASK, gMask = k.W1_GLOBAL_KEY_MASK, gBits = k.W1_VALID | k.W1_GLOBAL;
    const frameHi = k.W3_FRAME_HI, allowShift = k.W3_ALLOW_SHIFT;
    // ALLOW bit of each valid access (as the core's accessIndex() numbers them); 0 for invalid
    // bits, which then take the checked path.
    const allowOf = new Int32Array(16);
    for (let a = 0; a < 16; a++) {
      if (!((VALID_ACCESS >> a) & 1)) continue;
      const i = a & ACCESS_USER ? 5 + (a & ACCESS_FETCH ? 2 : a & ACCESS_WRITE) : a & ACCESS_FETCH ? 2 : (a & ACCESS_AC ? 3 : 0) + (a & ACCESS_WRITE);
      allowOf[a] = 1 << (i + allowShift);
    }
    // This path's hits per side (0 instruction, 1 data); stats() adds every path's.
    const counts = new Float64Array(2);
    this.#inlineHits.push(counts);
    const self = this;
    let misses = 0;
    const miss = (vaLo: number, vaHi: number, access: number): number => {
      misses++;
      return self.translateLoHi(vaLo, vaHi, access);
    };
    /** Physical address from the entry at word i (frame in w2 and w3's low byte). */
    const paOf = (i: number, vaLo: number) => ((w[i + 2]! >>> 0) + (w[i + 3]! & frameHi) * TWO32) * 4096 + (vaLo & 0xfff);
    // Only canonical addresses and valid arguments may hit (the tag drops the sign extension);
    // anything else takes the checked path, which answers or throws as translateLoHi() does.
    const direct = iWays <= 1 && dWays <= 1;
    const translate = direct
      ? (vaLo: number, vaHi: number, access: number): number => {
          // Direct-mapped: one entry to compare, no LRU to keep.
          const top = (vaHi | 0) >> w[shiftAt]!;
          const allow = allowOf[access & 15]!;
          if ((top === 0 || top === w[negAt]) && allow && access === (access & 15) && (vaLo === (vaLo | 0) || vaLo === vaLo >>> 0)) {
            const hi = vaHi & w[hiMaskAt]!;
            const vpn = (vaLo >>> 12) | (hi << 20);
            const fetch = access & ACCESS_FETCH;
            const at = fetch ? iWord : dWord;
            if (at >= 0) {
              const i = at + ((vpn & (fetch ? iSets : dSets)) << 2);
              const w1 = w[i + 1]!, tagHi = hi >>> 12;
              if (w[i] === vpn && ((w1 & keyMask) === (w[keyAt]! | tagHi) || (w1 & gMask) === (gBits | tagHi)) && w[i + 3]! & allow) {
                counts[fetch ? 0 : 1]!++;
                return paOf(i, vaLo);
              }
            }
          }
          return miss(vaLo, vaHi, access);
        }
      : (vaLo: number, vaHi: number, access: number): number => {
          const top = (vaHi | 0) >> w[shiftAt]!;
          const allow = allowOf[access & 15]!;
          if ((top === 0 || top === w[negAt]) && allow && access === (access & 15) && (vaLo === (vaLo | 0) || vaLo === vaLo >>> 0)) {
            const hi = vaHi & w[hiMaskAt]!;
            const vpn = (vaLo >>> 12) | (hi << 20);
            const fetch = access & ACCESS_FETCH;
            const at = fetch ? iWord : dWord, ways = fetch ? iWays : dWays;
            if (at >= 0) {
              const tagHi = hi >>> 12, key = w[keyAt]! | tagHi, gkey = gBits | tagHi;
              let i = at + (((vpn & (fetch ? iSets : dSets)) * ways) << 2);
              for (let n = 0; n < ways; n++, i += 4) {
                const w1 = w[i + 1]!;
                if (w[i] !== vpn || ((w1 & keyMask) !== key && (w1 & gMask) !== gkey)) continue;
                if (!(w[i + 3]! & allow)) break;
                // Most recently used, as the core's touch() marks it.
                const t = (w[tickAt]! + 1) | 0;
                w[tickAt] = t;
                w[(fetch ? iLru : dLru) + ((i - at) >> 2)] = t;
                counts[fetch ? 0 : 1]!++;
                return paOf(i, vaLo);
              }
            }
          }
          return miss(vaLo, vaHi, access);
        };
    return {
      get hits() { return counts[0]! + counts[1]!; },
      get misses() { return misses; },
      translate,
      fault(vaLo: number, vaHi: number): Fault {
        return self.lastFault((BigInt(vaHi >>> 0) << 32n) | BigInt(vaLo >>> 0));
      },
    };
  }

  /** Physical address of each byte run [va, va+length) touches, or the first fault. */
  #spans(va: bigint, length: number, access: Access | undefined): Array<[bigint, number]> | Fault {
    const bits = this.#accessBits(access);
    const spans: Array<[bigint, number]> = [];
    let cur = va;
    let left = length;
    const wrap = this.mode === "4-level" || this.mode === "5-level" ? 1n << 64n : 1n << 32n;
    while (left > 0) {
      const r = this.#result(cur, this.#core.translate(cur, bits));
      if (r.fault) return r;
      const n = Math.min(left, PAGE - Number(cur & 0xfffn));
      spans.push([r.pa, n]);
      left -= n;
      cur = (cur + BigInt(n)) % wrap;
    }
    return spans;
  }

  /** Reads through the page tables; correct across page boundaries. */
  readVirtual(va: bigint, length: number, access?: Access): Uint8Array | Fault {
    this.#live();
    const v = this.#checkVa(va);
    checkInt("length", length, 0, 1 << 30);
    const spans = this.#spans(v, length, access);
    if (!Array.isArray(spans)) return spans;
    const out = new Uint8Array(length);
    let o = 0;
    for (const [pa, n] of spans) {
      out.set(this.#physRead(pa, n), o);
      o += n;
    }
    return out;
  }

  /** Writes through the page tables. Every page is translated before any byte is written. */
  writeVirtual(va: bigint, bytes: Uint8Array, access?: Access): Fault | null {
    this.#live();
    const v = this.#checkVa(va);
    const data = checkBytes("bytes", bytes);
    this.#accessBits(access); // checked as given, before write: true is added
    const spans = this.#spans(v, data.length, { ...access, write: true });
    if (!Array.isArray(spans)) return spans;
    let o = 0;
    for (const [pa, n] of spans) {
      this.#physWrite(pa, data.subarray(o, o + n));
      o += n;
    }
    return null;
  }

  /** Bytes at pa; non-existent memory (past RAM) reads as all ones. */
  #physRead(pa: bigint, n: number): Uint8Array {
    if (pa + BigInt(n) <= BigInt(this.ramBytes)) return this.ram.subarray(Number(pa), Number(pa) + n);
    const out = new Uint8Array(n).fill(0xff);
    for (let i = 0; i < n; i++) if (pa + BigInt(i) < BigInt(this.ramBytes)) out[i] = this.ram[Number(pa) + i]!;
    return out;
  }

  /** Writes to non-existent memory are dropped. */
  #physWrite(pa: bigint, data: Uint8Array): void {
    const end = pa + BigInt(data.length);
    if (pa >= BigInt(this.ramBytes)) return;
    const keep = end <= BigInt(this.ramBytes) ? data.length : this.ramBytes - Number(pa);
    this.ram.set(data.subarray(0, keep), Number(pa));
  }

  #checkPhys(pa: unknown, length: number): number {
    const p = checkU("pa", pa);
    if (p + BigInt(length) > BigInt(this.ramBytes)) {
      throw new RangeError(`pa 0x${p.toString(16)} + ${length} bytes is past the end of RAM (0x${this.ramBytes.toString(16)})`);
    }
    return Number(p);
  }

  /** A copy of RAM bytes [pa, pa+length). */
  readPhysical(pa: bigint, length: number): Uint8Array {
    this.#live();
    checkInt("length", length, 0, this.ramBytes);
    const p = this.#checkPhys(pa, length);
    return this.ram.slice(p, p + length);
  }

  writePhysical(pa: bigint, bytes: Uint8Array): void {
    this.#live();
    const data = checkBytes("bytes", bytes);
    const p = this.#checkPhys(pa, data.length);
    this.ram.set(data, p);
  }

  /**
   * Every present leaf of the current address space in ascending linear-address order, the set
   * and granularity of QEMU's `info tlb` (entries with reserved bits set are skipped: a walk
   * through them faults).
   */
  mappings(): Mapping[] {
    this.#live();
    const out: Mapping[] = [];
    const view = this.#view;
    const k = this.#k;
    this.#core.dumpStart();
    for (;;) {
      const n = this.#core.dumpNext(this.#dump, DUMP_RECORDS);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const r = this.#dump + i * k.DUMP_RECORD;
        const rights = view.getUint32(r + 28, true);
        out.push({
          va: view.getBigUint64(r, true),
          pa: view.getBigUint64(r + 8, true),
          entry: view.getBigUint64(r + 16, true),
          size: 2 ** view.getUint32(r + 24, true),
          user: (rights & k.RIGHT_U) !== 0,
          write: (rights & k.RIGHT_W) !== 0,
          execute: (rights & k.RIGHT_XD) === 0,
        });
      }
    }
    return out;
  }

  /** Contiguous runs of mappings with equal effective user/write rights (QEMU's `info mem`). */
  ranges(): Range[] {
    const out: Range[] = [];
    let last: Range | undefined;
    for (const m of this.mappings()) {
      const end = m.va + BigInt(m.size);
      if (last && last.end === m.va && last.user === m.user && last.write === m.write) last.end = end;
      else out.push((last = { start: m.va, end, user: m.user, write: m.write }));
    }
    return out;
  }

  /** Counters since creation or the last resetStats(); inline-path hits included. */
  stats(): MachineStats {
    this.#live();
    this.#core.flushStats();
    const k = this.#k;
    const at = (i: number) => Number(this.#view.getBigUint64(this.#ctrl + k.STATS + i * 8, true));
    // Hits the inline paths answered count in the first-level 4 KiB structure of their side.
    let hitsI = 0, hitsD = 0;
    for (const c of this.#inlineHits) {
      hitsI += c[0]!;
      hitsD += c[1]!;
    }
    const inline = (s: StructurePlan) =>
      s.kind === k.KIND_4K && s.level === 1 ? (s.sides & k.SIDE_I ? hitsI : 0) + (s.sides & k.SIDE_D ? hitsD : 0) : 0;
    const caches = this.#structures.map((s, i) => ({
      kind: s.kind,
      name: s.name,
      hits: at(k.STAT_STRUCT + 2 * i) + inline(s),
      misses: at(k.STAT_STRUCT + 2 * i + 1),
    }));
    const strip = ({ name, hits, misses }: CacheStats) => ({ name, hits, misses });
    const flush = (cause: number) => at(k.STAT_FLUSH + cause);
    return {
      tlbHits: at(k.STAT_TLB_HITS) + hitsI + hitsD,
      tlbMisses: at(k.STAT_TLB_MISSES),
      walks: at(k.STAT_WALKS),
      walkMemRefs: at(k.STAT_WALK_MEMREFS),
      accessedWrites: at(k.STAT_A_WRITES),
      dirtyWrites: at(k.STAT_D_WRITES),
      pageFaults: at(k.STAT_PAGE_FAULTS),
      gpFaults: at(k.STAT_GP_FAULTS),
      tlb: caches.filter((c) => c.kind < k.KIND_PWC).map(strip),
      pwc: caches.filter((c) => c.kind >= k.KIND_PWC).map(strip),
      flushes: {
        cr3: flush(k.FLUSH_CR3),
        cr4: flush(k.FLUSH_CR4),
        cr0: flush(k.FLUSH_CR0),
        invlpg: flush(k.FLUSH_INVLPG),
        invpcid: flush(k.FLUSH_INVPCID),
        pageFault: flush(k.FLUSH_FAULT),
      },
      tlbEntriesInvalidated: at(k.STAT_TLB_INVALIDATED),
      pwcEntriesInvalidated: at(k.STAT_PWC_INVALIDATED),
    };
  }

  resetStats(): void {
    this.#live();
    this.#core.flushStats();
    new Uint8Array(this.#mem.buffer, this.#ctrl + this.#k.STATS, this.#k.STAT_COUNT * 8).fill(0);
    for (const c of this.#inlineHits) c.fill(0);
  }
}
