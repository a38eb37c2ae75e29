// Kernel: a Linux-like memory manager running "on" a Machine. This file boots it (the frame
// table, the reference tables with the direct map and kernel text, the control registers),
// spawns processes and reports counts; the work of each system call is in the file Linux keeps
// it in (pgalloc, memory, mmap, mprotect, huge, fork, vmalloc, pageattr, tlbflush; README
// "Inside"), each an operation on an Mm and the KernelState, and every per-frame and per-entry
// step runs in a KernelCore (assembly/kernel/ by default), through one range loop.

import { CORE, Machine } from "../machine/machine.js";
import type { PwcConfig, TlbConfig } from "../machine/tlb.js";
import { checkBool, checkInt, checkOptions, checkU } from "../errors.js";
import {
  CR0_ET, CR0_PE, CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, CR4_PCIDE, CR4_PGE, CR4_PSE, EFER_LME, EFER_NXE, EFER_SCE,
  PTE_A, PTE_D, PTE_G, PTE_P, PTE_RW,
} from "../x86.js";
import { FI_KERNEL, FRAME_RECORD_BYTES, KS_COUNT, SRC_PHYS, wasmCore } from "./core.js";
import { tsCore } from "./ts-core.js";
import { DESIGNS, DESIGN_NAMES, type Design, type DesignName } from "./designs.js";
import { PROT_EXEC, PROT_READ, PROT_WRITE } from "./constants.js";
import { mmAlloc } from "./fork.js";
import { zeroCounters, type KernelStats } from "./mm.js";
import { setMemory, type PageRights } from "./pageattr.js";
import { allocTables } from "./pgalloc.js";
import { Process, processOf, spaceOf } from "./process.js";
import { LOW_RESERVED_FRAMES, MIB, PAGE, alignUp, hex, pageUp, KernelState } from "./state.js";
import { loadCr3, switchMm } from "./tlbflush.js";
import { ioremap, kernelData, mapKernel, vfree, vmalloc, vmallocSyncAll } from "./vmalloc.js";

export { Process };
export type { KernelStats, MapEntry } from "./mm.js";
export type { FaultAccess, MemoryAccessOptions } from "./memory.js";
export type { MmapArgs } from "./mmap.js";
export type { PageEntry } from "./pte.js";

export interface KernelOptions {
  design: DesignName;
  /** Guest RAM in bytes (a whole number of 4 KiB pages, at least 8 MiB). */
  ramBytes: number;
  /** Implementation of the per-entry loops: "wasm" (default). */
  impl?: "wasm" | "ts";
  physAddrBits?: number;
  wasm?: WebAssembly.Module | BufferSource;
  /** The Machine's TLB and paging-structure caches (Machine.create's options). */
  tlb?: TlbConfig | false;
  pwc?: PwcConfig | false;
  /**
   * Give each address space a PCID (x86_64-4level, -5level, -5level-folded): CR4.PCIDE = 1, a
   * context switch keeps the next process's TLB entries (CR3 bit 63), and flushes of a process
   * that is not running go to its PCID by INVPCID. Default false, as in the seeds' kernels.
   */
  pcid?: boolean;
}

/** Sizes of the areas spawn() creates (bytes; rounded up to pages). */
export interface SpawnLayout {
  text?: number;
  data?: number;
  /** Initial heap (brk) size. */
  heap?: number;
  stack?: number;
}

const HUGE = 2n * MIB; //             x86_64's data alignment and kernel-text page
const KERNEL_TEXT = 40 * 1024 * 1024; // __START_KERNEL_map maps the first 40 MiB
const STACK_GAP = 128n * MIB; //      mmap_base sits this far below the stack top

export class Kernel {
  readonly machine: Machine;
  readonly design: Design;
  readonly totalFrames: number;
  /** User address space: [0, userTop). */
  readonly userTop: bigint;
  readonly vmallocStart: bigint;
  readonly vmallocEnd: bigint;
  /** Size of the design's large page (2 MiB; 4 MiB on i386-2level), what MAP_HUGETLB maps. */
  readonly hugePageSize: bigint;

  readonly #k: KernelState;

  private constructor(k: KernelState, pcid: boolean) {
    const { machine, design, core } = k;
    this.#k = k;
    this.machine = machine;
    this.design = design;
    this.totalFrames = k.totalFrames;
    this.userTop = k.userTop;
    this.vmallocStart = k.vmallocStart;
    this.vmallocEnd = k.vmallocEnd;
    this.hugePageSize = k.hugePageSize;

    core.framesInit(k.totalFrames);
    for (let pfn = 0; pfn <= LOW_RESERVED_FRAMES; pfn++) core.claim(pfn, FI_KERNEL); // + empty_zero_page
    const n = design.levels.length;
    core.geoInit(n, design.entryBytes);
    design.levels.forEach((l, i) => core.geoLevel(n - i, l.shift, l.bits, l.flags, l.tableBits));

    // The reference tables: init_mm's pgd, with the direct map and the kernel text.
    k.refRoot = allocTables(k, 1, "the reference pgd")[0]!;
    if (design.perCpuPml4) k.cpuPml4 = k.refRoot;
    const big = BigInt(1 << design.directMapPage);
    const global = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G;
    mapKernel(k, design.pageOffset, alignUp(k.lowmem, big), 0n, kernelData(k), SRC_PHYS, k.levelOfShift(design.directMapPage));
    if (design.kernelText) {
      const text = alignUp(BigInt(Math.min(machine.ramBytes, KERNEL_TEXT)), HUGE);
      mapKernel(k, design.kernelText, text, 0n, global, SRC_PHYS, k.levelOfShift(21));
    }

    const hw = design.hardware;
    const cr0 = CR0_PE | CR0_ET | CR0_WP | CR0_PG;
    const cr4 = hw === "32-bit" ? CR4_PSE | CR4_PGE : hw === "5-level" ? CR4_PAE | CR4_PGE | CR4_LA57 : CR4_PAE | CR4_PGE;
    const efer = hw === "32-bit" ? 0n : hw === "pae" ? EFER_NXE : EFER_SCE | EFER_LME | EFER_NXE;
    k.regs = { cr0, cr4, efer };
    loadCr3(k, BigInt(k.refRoot) << 12n);
    if (pcid) {
      // CR4.PCIDE may be set only while CR3[11:0] = 0: init_mm runs with PCID 0.
      k.regs.cr4 |= CR4_PCIDE;
      loadCr3(k, BigInt(k.refRoot) << 12n);
      k.pcid = true;
    }
    this.resetStats();
  }

  /** Boots a kernel of the given design on a new Machine. */
  static async create(options: KernelOptions): Promise<Kernel> {
    const o = checkOptions<KernelOptions>("Kernel.create options", options, ["design", "ramBytes", "impl", "physAddrBits", "wasm", "tlb", "pwc", "pcid"]);
    if (o.design === undefined) throw new TypeError("Kernel.create: design is required");
    if (typeof o.design !== "string") throw new TypeError(`design must be a string, got ${typeof o.design}`);
    if (!DESIGN_NAMES.includes(o.design)) {
      throw new RangeError(`design must be one of ${DESIGN_NAMES.join(", ")}, got ${JSON.stringify(o.design)}`);
    }
    if (o.ramBytes === undefined) throw new TypeError("Kernel.create: ramBytes is required");
    checkInt("ramBytes", o.ramBytes, 8 * 1024 * 1024, Machine.MAX_RAM_BYTES);
    const impl = o.impl ?? "wasm";
    if (impl !== "wasm" && impl !== "ts") throw new RangeError(`impl must be "wasm" or "ts", got ${JSON.stringify(impl)}`);
    // The frame table lives in linear memory the Kernel asks its Machine for, below RAM.
    const extraBytes = Math.ceil(o.ramBytes / 4096) * FRAME_RECORD_BYTES;
    const machine = await Machine.create({ ramBytes: o.ramBytes, physAddrBits: o.physAddrBits, wasm: o.wasm, tlb: o.tlb, pwc: o.pwc, extraBytes });
    const pcid = checkBool("pcid", o.pcid);
    const design = DESIGNS[o.design];
    if (pcid && (design.hardware === "32-bit" || design.hardware === "pae" || design.perCpuPml4)) {
      throw new RangeError(`pcid needs a 4- or 5-level design with a pgd per process, not ${JSON.stringify(o.design)}`);
    }
    const core = impl === "ts" ? tsCore(machine[CORE]) : wasmCore(machine[CORE]);
    return new Kernel(new KernelState(machine, design, core), pcid);
  }

  /** Creates a process with text, data, heap and stack areas (nothing faulted in yet). */
  spawn(layout?: SpawnLayout): Process {
    const k = this.#k;
    k.live();
    const l = checkOptions<SpawnLayout>("spawn layout", layout, ["text", "data", "heap", "stack"]);
    const size = (name: keyof SpawnLayout, dflt: number) =>
      pageUp(BigInt(l[name] === undefined ? dflt : checkInt(`layout.${name}`, l[name], 0, 1 << 30)));
    const text = size("text", 256 * 1024);
    const data = size("data", 64 * 1024);
    const heap = size("heap", 128 * 1024);
    const stack = size("stack", 128 * 1024);
    if (text === 0n || stack === 0n) throw new RangeError("layout.text and layout.stack must be at least one page");
    const d = this.design;
    const mm = mmAlloc(k, null, { what: "a new pgd" });
    const textEnd = d.textBase + text;
    const dataStart = d.entryBytes === 8 ? alignUp(textEnd, HUGE) : textEnd + PAGE;
    const stackTop = d.mapWindow < d.userTop ? d.mapWindow + PAGE : d.userTop;
    const add = (start: bigint, len: bigint, prot: number) => {
      if (len > 0n) mm.vmas.insert({ start, end: start + len, prot, shared: false, huge: false });
    };
    add(d.textBase, text, PROT_READ | PROT_EXEC);
    add(dataStart, data, PROT_READ | PROT_WRITE);
    mm.brkStart = dataStart + data;
    add(mm.brkStart, heap, PROT_READ | PROT_WRITE);
    mm.brk = mm.brkStart + heap;
    add(stackTop - stack, stack, PROT_READ | PROT_WRITE);
    mm.mmapBase = stackTop - STACK_GAP;
    return processOf(k, mm);
  }

  /** Live processes, in creation order. */
  processes(): Process[] {
    const k = this.#k;
    k.live();
    return [...k.mms].map((mm) => processOf(k, mm));
  }

  /**
   * Context switch to a process (switch_mm): loads CR3 with its pgd (with PCIDs: its PCID and
   * the no-flush bit; 2.4: this CPU's PML4 with slot 0 rewritten), so that the Machine
   * translates in its address space. Nothing happens if it is already current.
   */
  switchTo(process: Process): void {
    const k = this.#k;
    k.live();
    const s = spaceOf(process);
    if (s.k !== k) throw new RangeError(`process ${s.mm.pid} belongs to another Kernel`);
    k.live(s.mm);
    switchMm(k, s.mm);
  }

  /**
   * vmalloc_sync_all: copies the reference's kernel entries covering the vmalloc area into every
   * pgd on the pgd list that lacks them. Returns the number of entries copied.
   */
  vmallocSyncAll(): number {
    this.#k.live();
    return vmallocSyncAll(this.#k);
  }

  /**
   * set_memory_ro/rw/nx/x on the direct map (change_page_attr): new rights for the kernel pages
   * of [va, va + length), splitting a large page the range cuts through, copied into every pgd
   * on the pgd list where processes hold their own copies. Ends with flush_tlb_all.
   */
  setMemory(va: bigint, length: number, rights: PageRights): void {
    this.#k.live();
    setMemory(this.#k, va, length, rights);
  }

  /** Allocates length bytes of kernel virtual memory backed by new frames (vmalloc). */
  vmalloc(length: number): bigint {
    this.#k.live();
    return vmalloc(this.#k, length);
  }

  /** Maps physical [pa, pa + length) uncached into the vmalloc area (ioremap). */
  ioremap(pa: bigint, length: number): bigint {
    this.#k.live();
    return ioremap(this.#k, pa, length);
  }

  /** Unmaps a vmalloc or ioremap area (vfree / iounmap); its frames go back, its tables stay. */
  vfree(addr: bigint): void {
    this.#k.live();
    vfree(this.#k, addr);
  }

  /** Arms fault injection: the n-th frame allocation from now fails (1 = the next); null disarms. */
  injectAllocFailure(n: number | null): void {
    this.#k.live();
    this.#k.core.injectFailure(n === null ? 0 : checkInt("n", n, 1, 2 ** 31 - 1));
  }

  stats(): KernelStats {
    const k = this.#k;
    k.live();
    return { ...k.counters, freeFrames: k.core.freeCount(), totalFrames: k.totalFrames, tablePages: k.core.tablePages() };
  }

  resetStats(): void {
    const k = this.#k;
    k.live();
    k.core.stat.fill(0, 0, KS_COUNT);
    k.counters = zeroCounters();
    for (const mm of k.mms) mm.counters = zeroCounters();
  }

  /** Physical address of the reference top-level table (init_mm's pgd; 3-level: the per-CPU PML4). */
  get referenceRoot(): bigint {
    this.#k.live();
    return BigInt(this.#k.refRoot) << 12n;
  }

  /** Reference count of the frame at pa (0 if free). */
  frameRefs(pa: bigint): number {
    const k = this.#k;
    k.live();
    const pfn = Number(checkU("pa", pa) >> 12n);
    if (pfn >= k.totalFrames) throw new RangeError(`pa ${hex(pa)} is past the end of RAM`);
    return k.core.frameCount(pfn);
  }
}
