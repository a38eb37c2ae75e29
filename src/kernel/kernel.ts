// Kernel: a Linux-like memory manager running "on" a Machine. It builds the kernel's reference
// tables at boot, gives each process its own tree (pgd_alloc per design), and implements
// mmap/munmap/mprotect/brk, the page-fault handler, fork (copy_page_range) and exit
// (zap + free_pgtables). Per-system-call decisions live here; every per-frame and per-entry
// step runs in a KernelCore (assembly/kernel/ by default), through one range loop.

import { CORE, Machine, type GeneralProtection } from "../machine/machine.js";
import type { PwcConfig, TlbConfig } from "../machine/tlb.js";
import { checkBool, checkInt, checkOptions, checkU } from "../errors.js";
import {
  CR0_ET, CR0_PE, CR0_PG, CR0_WP, CR3_NOFLUSH, CR4_LA57, CR4_PAE, CR4_PCIDE, CR4_PGE, CR4_PSE, EFER_LME, EFER_NXE, EFER_SCE,
} from "../x86.js";
import { FI_KERNEL, KG_FOLDED, KG_LARGE, KS, KS_COUNT, SRC_ANON, SRC_NEW, SRC_PHYS, wasmCore, type KernelCore } from "./core.js";
import { tsCore } from "./ts-core.js";
import { DESIGNS, DESIGN_NAMES, type Design, type DesignName } from "./designs.js";
import {
  KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC,
  PROT_READ, PROT_WRITE,
} from "./constants.js";
import { VmaList, type Vma } from "./vma.js";

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

/** Exact counts of the kernel's work, and the state of physical memory. */
export interface KernelStats {
  tablePagesAllocated: number;
  tablePagesFreed: number;
  entriesVisited: number;
  entriesRead: number;
  entriesWritten: number;
  entriesCopied: number;
  levelsVisited: number;
  framesCopied: number;
  tlbFlushes: number;
  pageFaults: number;
  vmallocFaults: number;
  vmallocSyncs: number;
  freeFrames: number;
  totalFrames: number;
  /** Page-table pages in use (the kernel's own included in kernel.stats()). */
  tablePages: number;
}

const COUNTER_KEYS = [
  "tablePagesAllocated", "tablePagesFreed", "entriesVisited", "entriesRead", "entriesWritten", "entriesCopied",
  "levelsVisited", "framesCopied", "tlbFlushes", "pageFaults", "vmallocFaults", "vmallocSyncs",
] as const;
type CounterKey = (typeof COUNTER_KEYS)[number];
type Counters = Record<CounterKey, number>;
const zeroCounters = (): Counters => ({
  tablePagesAllocated: 0, tablePagesFreed: 0, entriesVisited: 0, entriesRead: 0, entriesWritten: 0, entriesCopied: 0,
  levelsVisited: 0, framesCopied: 0, tlbFlushes: 0, pageFaults: 0, vmallocFaults: 0, vmallocSyncs: 0,
});
/** Core counter index -> public counter. */
const CORE_KEYS: Array<[number, CounterKey]> = [
  [KS.tablePagesAllocated, "tablePagesAllocated"], [KS.tablePagesFreed, "tablePagesFreed"],
  [KS.entriesVisited, "entriesVisited"], [KS.entriesRead, "entriesRead"], [KS.entriesWritten, "entriesWritten"],
  [KS.entriesCopied, "entriesCopied"], [KS.levelsVisited, "levelsVisited"], [KS.framesCopied, "framesCopied"],
];

/** Sizes of the areas spawn() creates (bytes; rounded up to pages). */
export interface SpawnLayout {
  text?: number;
  data?: number;
  /** Initial heap (brk) size. */
  heap?: number;
  stack?: number;
}

export interface MmapArgs {
  addr?: bigint;
  length: number | bigint;
  prot: number;
  flags: number;
}

/** What a faulting access was (default: a user read). */
export interface FaultAccess {
  write?: boolean;
  user?: boolean;
  fetch?: boolean;
}

export interface MemoryAccessOptions {
  /** A kernel-mode access (a system call touching the memory), not a user one. */
  supervisor?: boolean;
}

/** A leaf entry of a process's tables (a debugger's view: no counters, no A/D changes). */
export interface PageEntry {
  entry: bigint;
  /** 1 = PTE; higher for a large page. */
  level: number;
  /** Physical address of the frame (or large page) it maps. */
  pa: bigint;
}

/** One area of a process's address space, as /proc/pid/maps would list it. */
export interface MapEntry {
  start: bigint;
  end: bigint;
  prot: number;
  shared: boolean;
  huge: boolean;
}

// Entry bits (bigint, for templates handed to the core once per call).
const P = 1n, RW = 2n, US = 4n, PWT = 8n, PCD = 0x10n, A = 0x20n, D = 0x40n, PS = 0x80n, G = 0x100n;
const SPECIAL = 0x400n; //  bit 10: no struct page behind it (zero page, ioremap)
const PROTNONE = 0x800n; // bit 11: PROT_NONE page: not present to the CPU, still mapped for the kernel
const XD = 1n << 63n;
const PAGE = 4096n;
const MIB = 1n << 20n;
const HUGE = 2n * MIB; // x86_64's data alignment and kernel-text page
const pageUp = (x: bigint) => (x + PAGE - 1n) & ~(PAGE - 1n);
const alignUp = (x: bigint, a: bigint) => (x + a - 1n) & ~(a - 1n);
const hex = (v: bigint) => `0x${v.toString(16)}`;
const KNOWN_MAP_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB;
const LOW_RESERVED_FRAMES = 512; // first 2 MiB: real-mode area and the kernel image
const STACK_GAP = 128n * MIB; //     mmap_base sits this far below the stack top

/** A range of one area to populate, with the level its leaves go at (1, or the large-page level). */
type Piece = [Vma, bigint, bigint, number];

interface VmArea {
  start: bigint;
  end: bigint; // exclusive, guard page included
  size: bigint;
  kind: "vmalloc" | "ioremap";
}

/** Per-process state shared between the Kernel and its Process handles. */
class Mm {
  vmas = new VmaList();
  counters = zeroCounters();
  tablePages = 0;
  exited = false;
  brkStart = 0n;
  brk = 0n;
  mmapBase = 0n;
  /** PCID of this address space (0 without PCIDs). */
  pcid = 0;
  constructor(
    readonly pid: number,
    /** pfn of the top table the range loop walks (pgd). */
    readonly root: number,
    /** PAE: the PMDs that came with the pgd (index 3 = kernel PMD when unshared). */
    readonly pmds: number[],
  ) {}
}

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
  #hugeLevel: number;

  #core: KernelCore;
  #view: DataView;
  #counters = zeroCounters();
  #refRoot: number; //           swapper_pg_dir / init_level4_pgt
  #cpuPml4 = 0; //               x86_64-3level: the per-CPU PML4
  #slotPgd = new Map<number, number>(); // x86_64-3level: kernel pgd per PML4 slot
  #zeroPfn = LOW_RESERVED_FRAMES;
  #current: Mm | null = null;
  #procs = new Map<Mm, Process>();
  #pgdList: Mm[] = [];
  #nextPid = 1;
  #vmAreas: VmArea[] = [];
  #regs: { cr0: bigint; cr4: bigint; efer: bigint };
  #pcid = false;
  #freePcids: number[] = [];
  #nextPcid = 1;

  private constructor(machine: Machine, design: Design, core: KernelCore, pcid: boolean) {
    this.machine = machine;
    this.design = design;
    this.#core = core;
    this.userTop = design.userTop;
    const ram = machine.ram;
    this.#view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    this.totalFrames = machine.ramBytes / 4096;
    core.framesInit(this.totalFrames);
    for (let pfn = 0; pfn <= LOW_RESERVED_FRAMES; pfn++) core.claim(pfn, FI_KERNEL); // + empty_zero_page
    const n = design.levels.length;
    // The lowest level that may hold a large leaf: 2 MiB PMDs, or i386's 4 MiB PDEs.
    let hugeIndex = n - 2;
    while (!(design.levels[hugeIndex]!.bits > 0 && design.levels[hugeIndex]!.flags & KG_LARGE)) hugeIndex--;
    this.#hugeLevel = n - hugeIndex;
    this.hugePageSize = 1n << BigInt(design.levels[hugeIndex]!.shift);
    core.geoInit(n, design.entryBytes);
    design.levels.forEach((l, i) => core.geoLevel(n - i, l.shift, l.bits, l.flags, l.tableBits));

    const lowmem = BigInt(Math.min(machine.ramBytes, Number(design.directMapMax)));
    if (design.vmallocStart) {
      this.vmallocStart = design.vmallocStart;
    } else {
      // i386: VMALLOC_START = high_memory + VMALLOC_OFFSET (8 MiB), on an 8 MiB boundary.
      this.vmallocStart = alignUp(design.pageOffset + lowmem + 8n * MIB, 8n * MIB);
    }
    this.vmallocEnd = design.vmallocEnd;

    // The reference tables: init_mm's pgd, with the direct map and the kernel text.
    this.#refRoot = this.#allocTables(1)[0]!;
    if (design.perCpuPml4) {
      this.#cpuPml4 = this.#refRoot;
    }
    const nx = design.nx ? XD : 0n;
    const big = BigInt(1 << design.directMapPage);
    this.#mapKernel(design.pageOffset, alignUp(lowmem, big), 0n, P | RW | A | D | G | nx, SRC_PHYS, this.#levelOfShift(design.directMapPage));
    if (design.kernelText) {
      const text = alignUp(BigInt(Math.min(machine.ramBytes, 40 * 1024 * 1024)), HUGE);
      this.#mapKernel(design.kernelText, text, 0n, P | RW | A | D | G, SRC_PHYS, this.#levelOfShift(21));
    }

    const hw = design.hardware;
    const cr0 = CR0_PE | CR0_ET | CR0_WP | CR0_PG;
    const cr4 = hw === "32-bit" ? CR4_PSE | CR4_PGE : hw === "5-level" ? CR4_PAE | CR4_PGE | CR4_LA57 : CR4_PAE | CR4_PGE;
    const efer = hw === "32-bit" ? 0n : hw === "pae" ? EFER_NXE : EFER_SCE | EFER_LME | EFER_NXE;
    this.#regs = { cr0, cr4, efer };
    this.#loadCr3(BigInt(this.#refRoot) << 12n);
    if (pcid) {
      // CR4.PCIDE may be set only while CR3[11:0] = 0: init_mm runs with PCID 0.
      this.#regs.cr4 |= CR4_PCIDE;
      this.#loadCr3(BigInt(this.#refRoot) << 12n);
      this.#pcid = true;
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
    const machine = await Machine.create({ ramBytes: o.ramBytes, physAddrBits: o.physAddrBits, wasm: o.wasm, tlb: o.tlb, pwc: o.pwc });
    const pcid = checkBool("pcid", o.pcid);
    const design = DESIGNS[o.design];
    if (pcid && (design.hardware === "32-bit" || design.hardware === "pae" || design.perCpuPml4)) {
      throw new RangeError(`pcid needs a 4- or 5-level design with a pgd per process, not ${JSON.stringify(o.design)}`);
    }
    return new Kernel(machine, design, impl === "ts" ? tsCore(machine[CORE]) : wasmCore(machine[CORE]), pcid);
  }

  // ---- physical memory and tables -------------------------------------------------------------

  /** Level number (1 = PTE) whose entries map 2^shift bytes. */
  #levelOfShift(shift: number): number {
    const ls = this.design.levels;
    const i = ls.findIndex((l) => l.shift === shift && l.bits > 0);
    return ls.length - i;
  }

  /** Reserves and takes n zeroed table pages (ENOMEM: nothing taken). */
  #allocTables(n: number): number[] {
    if (!this.#core.reserve(n)) throw new KernelError("ENOMEM", `no memory for ${n} page-table page(s)`);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.#core.take(true, true));
    return out;
  }

  #entry(pfn: number, index: number): bigint {
    const off = pfn * 4096 + index * this.design.entryBytes;
    return this.design.entryBytes === 8 ? this.#view.getBigUint64(off, true) : BigInt(this.#view.getUint32(off, true));
  }

  #setEntry(pfn: number, index: number, value: bigint): void {
    const off = pfn * 4096 + index * this.design.entryBytes;
    if (this.design.entryBytes === 8) this.#view.setBigUint64(off, value, true);
    else this.#view.setUint32(off, Number(value), true);
  }

  /** Adds the core's counters since the last call to the kernel's and to the process's totals. */
  #absorb(mm: Mm | null, opts: { faults?: boolean; tablesTo?: Mm } = {}): void {
    const s = this.#core.stat;
    const kc = this.#counters;
    for (let i = 0; i < CORE_KEYS.length; i++) {
      const [at, key] = CORE_KEYS[i]!;
      const n = s[at]!;
      if (n === 0) continue;
      kc[key] += n;
      if (mm) mm.counters[key] += n;
    }
    const tables = s[KS.tablePagesAllocated]! - s[KS.tablePagesFreed]!;
    const owner = opts.tablesTo ?? mm;
    if (owner) owner.tablePages += tables;
    if (opts.faults) this.#count(mm, "pageFaults", s[KS.pagesPopulated]!);
    s.fill(0, 0, KS_COUNT);
  }

  #count(mm: Mm | null, key: CounterKey, n = 1): void {
    this.#counters[key] += n;
    if (mm) mm.counters[key] += n;
  }

  /** The table whose entries the range loop starts from for a kernel address. */
  #kernelRoot(va: bigint): number {
    if (!this.design.perCpuPml4) return this.#refRoot;
    // 2.4: the common code's pgd for a kernel address is the page behind its PML4 slot.
    const slot = Number((va >> 39n) & 511n);
    let pgd = this.#slotPgd.get(slot);
    if (pgd === undefined) {
      pgd = this.#allocTables(1)[0]!;
      this.#slotPgd.set(slot, pgd);
      this.#setEntry(this.#cpuPml4, slot, (BigInt(pgd) << 12n) | P | RW | A | D);
      this.#count(null, "entriesWritten");
    }
    return pgd;
  }

  /** Maps [va, va + length) in the reference tables (boot map, vmalloc, ioremap). All or nothing. */
  #mapKernel(va: bigint, length: bigint, phys: bigint, template: bigint, src: number, leafLevel: number): void {
    const c = this.#core;
    const slot = Number((va >> 39n) & 511n);
    const freshSlot = this.design.perCpuPml4 && !this.#slotPgd.has(slot);
    const root = this.#kernelRoot(va);
    c.countBegin();
    c.countPopulate(root, va, va + length, true, src, leafLevel);
    if (!c.reserve(c.needTables() + c.needFrames())) {
      if (freshSlot) {
        // All or nothing: the slot's pgd allocated just now goes back too.
        this.#setEntry(this.#cpuPml4, slot, 0n);
        this.#slotPgd.delete(slot);
        c.free(root);
      }
      this.#absorb(null);
      throw new KernelError("ENOMEM", `no memory to map ${hex(length)} bytes at ${hex(va)}`);
    }
    c.populate(root, va, va + length, true, src, leafLevel, template, 0n, phys);
    c.release();
    this.#absorb(null);
  }

  // ---- address spaces -----------------------------------------------------------------------

  #loadCr3(cr3: bigint): void {
    const r: GeneralProtection | null = this.machine.setRegisters({ ...this.#regs, cr3 });
    if (r) throw new Error(`wasm-mmu: kernel could not load CR3 ${hex(cr3)}: ${r.reason}`);
  }

  /** Context switch to mm (switch_mm): a CR3 write, which flushes the non-global TLB entries. */
  #switchTo(mm: Mm | null): void {
    if (this.#current === mm) return;
    this.#current = mm;
    if (this.design.perCpuPml4) {
      // 2.4: rewrite slot 0 of this CPU's PML4 with the next pgd, then reload CR3.
      this.#setEntry(this.#cpuPml4, 0, mm ? (BigInt(mm.root) << 12n) | P | RW | US | A | D : 0n);
      this.#count(mm, "entriesWritten");
      this.#loadCr3(BigInt(this.#cpuPml4) << 12n);
    } else if (this.#pcid) {
      // With PCIDs the next address space's entries are still valid: no flush (CR3 bit 63).
      this.#loadCr3((BigInt(mm ? mm.root : this.#refRoot) << 12n) | BigInt(mm ? mm.pcid : 0) | CR3_NOFLUSH);
      return;
    } else {
      this.#loadCr3(BigInt(mm ? mm.root : this.#refRoot) << 12n);
    }
    this.#count(mm, "tlbFlushes");
  }

  /**
   * flush_tlb_range / flush_tlb_page / flush_tlb_mm after the kernel changed mm's tables: counted
   * always; done on the CPU only if mm is loaded there (without PCIDs a CR3 switch has already
   * flushed every other address space). Like Linux, a range of more than 32 pages is one flush
   * of all non-global entries (INVPCID single-context, what a CR3 reload does) rather than an
   * INVLPG per page.
   */
  #flush(mm: Mm, start = 0n, end = 0n): void {
    this.#count(mm, "tlbFlushes");
    const pages = (end - start) >> 12n;
    if (this.#current !== mm) {
      // Only a PCID keeps entries of an address space that is not loaded.
      if (!this.#pcid) return;
      if (end > start && pages <= 32n) {
        for (let va = start; va < end; va += PAGE) this.machine.invpcid(0, mm.pcid, va);
      } else {
        this.machine.invpcid(1, mm.pcid);
      }
      return;
    }
    if (end > start && pages <= 32n) {
      for (let va = start; va < end; va += PAGE) this.machine.invlpg(va);
    } else {
      this.machine.invpcid(1, mm.pcid); // local_flush_tlb: this address space's non-global entries
    }
  }

  /** A PCID for a new address space (1..4095; 0 is init_mm's); #checkPcid said one is left. */
  #allocPcid(): number {
    if (!this.#pcid) return 0;
    return this.#freePcids.pop() ?? this.#nextPcid++;
  }

  /** ENOMEM, before anything is allocated, if every PCID is in use. */
  #checkPcid(): void {
    if (this.#pcid && !this.#freePcids.length && this.#nextPcid > 4095) {
      throw new KernelError("ENOMEM", "no PCID left (4095 address spaces)");
    }
  }

  /** flush_tlb_all: every TLB and paging-structure-cache entry, global ones included. */
  #flushAll(mm: Mm | null): void {
    this.#count(mm, "tlbFlushes");
    this.machine.invpcid(2, 0);
  }


  /** Tables a new pgd comes with (pgd_alloc): the pgd, and PAE's preallocated PMDs. */
  get #rootTables(): number {
    return 1 + this.design.paePmds;
  }

  /** pgd_alloc from the current reservation: a root with the kernel half as the design shares it. */
  #pgdAlloc(pid: number): Mm {
    const d = this.design;
    const c = this.#core;
    const root = c.take(true, true);
    const pmds: number[] = [];
    const perTable = 4096 / d.entryBytes;
    if (d.paePmds) {
      for (let i = 0; i < 3; i++) {
        const pmd = c.take(true, true);
        pmds.push(pmd);
        this.#setEntry(root, i, (BigInt(pmd) << 12n) | P);
      }
      let written = 3;
      if (d.paePmds === 4) {
        // Unshared: this pgd's own kernel PMD, initialised from the reference one.
        const kpmd = c.take(true, false);
        pmds.push(kpmd);
        c.cloneEntries(kpmd, this.#refKernelPmd(), 0, 512);
        this.#setEntry(root, 3, (BigInt(kpmd) << 12n) | P);
        written++;
      } else {
        c.cloneEntries(root, this.#refRoot, 3, 1); // the one shared kernel PMD
      }
      this.#counters.entriesWritten += written;
    } else if (!d.perCpuPml4) {
      c.cloneEntries(root, this.#refRoot, d.kernelFirst, perTable - d.kernelFirst);
    }
    const mm = new Mm(pid, root, pmds);
    mm.pcid = this.#allocPcid();
    if (d.pgdList) this.#pgdList.push(mm);
    return mm;
  }

  #refKernelPmd(): number {
    return Number((this.#entry(this.#refRoot, 3) >> 12n) & 0xfffffn);
  }

  /** pgd_free: the root and the PMDs that came with it. */
  #pgdFree(mm: Mm): void {
    for (const pmd of mm.pmds) this.#core.free(pmd);
    this.#core.free(mm.root);
    const i = this.#pgdList.indexOf(mm);
    if (i >= 0) this.#pgdList.splice(i, 1);
  }

  // ---- processes ------------------------------------------------------------------------------

  /** Creates a process with text, data, heap and stack areas (nothing faulted in yet). */
  spawn(layout?: SpawnLayout): Process {
    const l = checkOptions<SpawnLayout>("spawn layout", layout, ["text", "data", "heap", "stack"]);
    const size = (name: keyof SpawnLayout, dflt: number) =>
      pageUp(BigInt(l[name] === undefined ? dflt : checkInt(`layout.${name}`, l[name], 0, 1 << 30)));
    const text = size("text", 256 * 1024);
    const data = size("data", 64 * 1024);
    const heap = size("heap", 128 * 1024);
    const stack = size("stack", 128 * 1024);
    if (text === 0n || stack === 0n) throw new RangeError("layout.text and layout.stack must be at least one page");
    const d = this.design;
    this.#checkPcid();
    if (!this.#core.reserve(this.#rootTables)) throw new KernelError("ENOMEM", "no memory for a new pgd");
    const mm = this.#pgdAlloc(this.#nextPid++);
    this.#core.release();
    this.#absorb(mm);
    const rx = PROT_READ | PROT_EXEC;
    const rw = PROT_READ | PROT_WRITE;
    const textEnd = d.textBase + text;
    const dataStart = d.entryBytes === 8 ? alignUp(textEnd, HUGE) : textEnd + PAGE;
    const stackTop = d.mapWindow < d.userTop ? d.mapWindow + PAGE : d.userTop;
    const add = (start: bigint, len: bigint, prot: number) => {
      if (len > 0n) mm.vmas.insert({ start, end: start + len, prot, shared: false, huge: false });
    };
    add(d.textBase, text, rx);
    add(dataStart, data, rw);
    mm.brkStart = dataStart + data;
    add(mm.brkStart, heap, rw);
    mm.brk = mm.brkStart + heap;
    add(stackTop - stack, stack, rw);
    mm.mmapBase = stackTop - STACK_GAP;
    const p = new Process(this, mm);
    this.#procs.set(mm, p);
    return p;
  }

  /** Live processes, by pid. */
  processes(): Process[] {
    return [...this.#procs.values()];
  }

  #live(mm: Mm): void {
    if (mm.exited) throw new KernelError("ESRCH", `process ${mm.pid} has exited`);
  }

  /** Page-table bits of a user leaf for this area (the zero page and COW rules are the core's). */
  #leafBits(v: Vma, dirty: boolean): bigint {
    const nx = this.design.nx && !(v.prot & PROT_EXEC) ? XD : 0n;
    if (v.prot === 0) return PROTNONE | US | A | nx;
    const w = v.prot & PROT_WRITE ? RW | (dirty ? D : 0n) : 0n;
    return P | US | A | w | nx;
  }

  /** mprotect's masks: private writable pages stay read-only until a write fault (PAGE_COPY). */
  #protMasks(v: Vma): [bigint, bigint] {
    const nx = this.design.nx && !(v.prot & PROT_EXEC) ? XD : 0n;
    const clear = P | RW | PROTNONE | (this.design.nx ? XD : 0n);
    if (v.prot === 0) return [clear, PROTNONE | nx];
    return [clear, P | (v.shared && v.prot & PROT_WRITE ? RW : 0n) | nx];
  }

  #zeroEntry(v: Vma): bigint {
    const nx = this.design.nx && !(v.prot & PROT_EXEC) ? XD : 0n;
    return (BigInt(this.#zeroPfn) << 12n) | P | US | A | SPECIAL | nx;
  }

  /**
   * Populates pieces of areas (fault work), all or nothing: ENOMEM leaves every table as it was.
   * Returns how many present entries it replaced (which the TLB may still hold).
   */
  #populate(mm: Mm, pieces: Piece[], write: boolean, src: number, faults: boolean): number {
    const c = this.#core;
    c.countBegin();
    for (const [v, s, e, level] of pieces) c.countPopulate(mm.root, s, e, write, src, level);
    if (!c.reserve(c.needTables() + c.needFrames()) || !c.reserveHuge(c.needHuge(), Number(this.hugePageSize >> 12n))) {
      c.release();
      this.#absorb(mm);
      throw new KernelError("ENOMEM", `out of memory populating ${hex(pieces[0]![1])}`);
    }
    for (const [v, s, e, level] of pieces) {
      c.populate(mm.root, s, e, write, src, level, this.#leafBits(v, write || v.shared), this.#zeroEntry(v), 0n);
    }
    c.release();
    const replaced = c.stat[KS.entriesReplaced]!;
    this.#absorb(mm, { faults });
    return replaced;
  }

  /** do_page_fault for mm: true if resolved, false for SIGSEGV. */
  #fault(mm: Mm, va: bigint, write: boolean, user: boolean, fetch: boolean): boolean {
    this.#count(mm, "pageFaults");
    if (va >= this.userTop) return !user && this.#vmallocFault(mm, va);
    const v = mm.vmas.find(va);
    if (!v) return false;
    if (write ? !(v.prot & PROT_WRITE) : fetch ? !(v.prot & PROT_EXEC) : v.prot === 0) return false;
    const page = va & ~(PAGE - 1n);
    const H = this.hugePageSize;
    const block = va & ~(H - 1n);
    if (v.huge && block >= v.start && block + H <= v.end && !this.#tableAt(mm, block)) {
      // A large page for the whole block (transparent-huge-page style), falling back to small
      // pages when no aligned run of free frames is left.
      const c = this.#core;
      const level = this.#hugeLevel;
      c.countBegin();
      c.countPopulate(mm.root, block, block + H, write, SRC_ANON, level);
      if (!c.reserve(c.needTables() + c.needFrames())) {
        this.#absorb(mm);
        throw new KernelError("ENOMEM", `out of memory for a page table at ${hex(block)}`);
      }
      if (c.reserveHuge(c.needHuge(), Number(H >> 12n))) {
        c.populate(mm.root, block, block + H, write, SRC_ANON, level, this.#leafBits(v, write), this.#zeroEntry(v), 0n);
        c.release();
        const replaced = c.stat[KS.entriesReplaced]!;
        this.#absorb(mm);
        if (replaced) this.#flush(mm, block, block + H);
        return true;
      }
      c.release();
      this.#absorb(mm);
      if (this.#entryAt(mm.root, block, level) & PS) {
        // Copy-on-write of a shared large page with no run to copy it to: split it, copy one page.
        c.countBegin();
        c.countSplit(mm.root, block, block + H, level);
        if (!c.reserve(c.needTables() + 1)) {
          this.#absorb(mm);
          throw new KernelError("ENOMEM", `out of memory splitting the large page at ${hex(block)}`);
        }
        c.split(mm.root, block, block + H, level);
        c.populate(mm.root, page, page + PAGE, write, SRC_ANON, 1, this.#leafBits(v, write), this.#zeroEntry(v), 0n);
        c.release();
        this.#absorb(mm);
        this.#flush(mm, block, block + H);
        return true;
      }
    }
    // A write to the zero page or a copy-on-write break replaced a present entry: flush it.
    if (this.#populate(mm, [[v, page, page + PAGE, 1]], write, SRC_ANON, false)) this.#flush(mm, page, page + PAGE);
    return true;
  }

  /** The entry at `level` on va's path in the tables from root (0n if the walk stops above it). */
  #entryAt(root: number, va: bigint, level: number): bigint {
    const d = this.design;
    const mask = d.entryBytes === 8 ? 0xffffffffff000n : 0xfffff000n;
    let table = root;
    for (let i = 0; i < d.levels.length; i++) {
      const l = d.levels[i]!;
      const at = d.levels.length - i;
      if (l.flags & KG_FOLDED) continue;
      const e = this.#entry(table, Number((va >> BigInt(l.shift)) & BigInt((1 << l.bits) - 1)));
      if (at === level || e === 0n || (l.flags & KG_LARGE && e & PS)) return at === level ? e : 0n;
      table = Number((e & mask) >> 12n);
    }
    return 0n;
  }

  /** Does a table of small pages already sit where va's large page would go? */
  #tableAt(mm: Mm, va: bigint): boolean {
    const e = this.#entryAt(mm.root, va, this.#hugeLevel);
    return e !== 0n && !(e & PS);
  }

  /** Splits the large leaves of these blocks into small pages (split_huge_page), all or nothing. */
  #splitBlocks(mm: Mm, blocks: bigint[]): void {
    const c = this.#core;
    const H = this.hugePageSize;
    c.countBegin();
    for (const b of blocks) c.countSplit(mm.root, b, b + H, this.#hugeLevel);
    if (!c.reserve(c.needTables())) {
      this.#absorb(mm);
      throw new KernelError("ENOMEM", `out of memory splitting a large page at ${hex(blocks[0]!)}`);
    }
    for (const b of blocks) c.split(mm.root, b, b + H, this.#hugeLevel);
    c.release();
    this.#absorb(mm);
  }

  /** Splits large pages that [start, end) cuts through (munmap and mprotect of part of one). */
  #splitEdges(mm: Mm, start: bigint, end: bigint): void {
    const H = this.hugePageSize;
    const blocks: bigint[] = [];
    for (const at of [start, end]) {
      const b = at & ~(H - 1n);
      if (at !== b && mm.vmas.find(b)?.huge && this.#entryAt(mm.root, b, this.#hugeLevel) & PS && !blocks.includes(b)) blocks.push(b);
    }
    if (blocks.length) this.#splitBlocks(mm, blocks);
  }

  #present(mm: Mm, va: bigint): boolean {
    this.#switchTo(mm);
    return !this.machine.translate(va, { probe: true }).fault;
  }

  /** vmalloc_fault: copy the reference's entry into this process's tables if it lacks it. */
  #vmallocFault(mm: Mm, va: bigint): boolean {
    if (va < this.vmallocStart || va >= this.vmallocEnd) return false;
    const at = this.#syncSlot(mm, va);
    if (at) this.#core.syncEntries(at[0], at[1], at[2], 1);
    this.#absorb(mm);
    this.#flushAll(mm); // 2.6.11's vmalloc_fault ends with __flush_tlb_all
    if (!this.#present(mm, va)) return false;
    this.#count(mm, "vmallocFaults");
    return true;
  }

  /** Where a process keeps its own copy of kernel entries for va: [its table, reference table, index]. */
  #syncSlot(mm: Mm, va: bigint): [number, number, number] | undefined {
    const d = this.design;
    if (d.vmallocSync === "shared") return undefined;
    if (d.paePmds === 4) return [mm.pmds[3]!, this.#refKernelPmd(), Number((va >> 21n) & 511n)];
    const top = d.levels[0]!;
    return [mm.root, this.#refRoot, Number((va >> BigInt(top.shift)) & BigInt((1 << top.bits) - 1))];
  }

  /**
   * vmalloc_sync_all: copies the reference's kernel entries covering the vmalloc area into every
   * pgd on the pgd list that lacks them. Returns the number of entries copied.
   */
  vmallocSyncAll(): number {
    const d = this.design;
    if (!d.pgdList) return 0;
    let copied = 0;
    for (const mm of this.#pgdList) {
      const [dst, src, first] = this.#syncSlot(mm, this.vmallocStart)!;
      const last = this.#syncSlot(mm, this.vmallocEnd - 1n)![2];
      const n = this.#core.syncEntries(dst, src, first, last - first + 1);
      this.#absorb(mm);
      this.#count(mm, "vmallocSyncs", n);
      copied += n;
    }
    return copied;
  }

  /**
   * set_memory_ro/rw/nx/x on the direct map (change_page_attr): new rights for the kernel pages
   * of [va, va + length) in the reference tables, splitting a large page the range cuts through.
   * Where processes hold their own copies of the changed entries (i386's pgds, the unshared PAE
   * kernel PMDs) the change is copied into every pgd on the pgd list (set_pmd_pte), counted in
   * vmallocSyncs; elsewhere the tables below are shared. Ends with flush_tlb_all.
   */
  setMemory(va: bigint, length: number, rights: { write: boolean; execute: boolean }): void {
    const start = checkU("va", va) & ~(PAGE - 1n);
    checkInt("length", length, 1, 1 << 30);
    const r = checkOptions<{ write: boolean; execute: boolean }>("rights", rights, ["write", "execute"]);
    const write = checkBool("rights.write", r.write);
    const execute = checkBool("rights.execute", r.execute);
    const d = this.design;
    const end = pageUp(va + BigInt(length));
    const lowmem = BigInt(Math.min(this.machine.ramBytes, Number(d.directMapMax)));
    if (start < d.pageOffset || end > d.pageOffset + lowmem) {
      throw new KernelError("EINVAL", `${hex(start)}..${hex(end)} is not in the direct map`);
    }
    const c = this.#core;
    const root = this.#kernelRoot(start);
    const level = this.#levelOfShift(d.directMapPage);
    const big = 1n << BigInt(d.directMapPage);
    const edges = [start, end].map((a) => a & ~(big - 1n)).filter((b, i, all) => all.indexOf(b) === i);
    const cut = edges.filter((b) => (b < start || b + big > end) && this.#entryAt(root, b, level) & PS);
    c.countBegin();
    for (const b of cut) c.countSplit(root, b, b + big, level);
    if (!c.reserve(c.needTables())) {
      this.#absorb(null);
      throw new KernelError("ENOMEM", `out of memory splitting the direct map at ${hex(cut[0]!)}`);
    }
    for (const b of cut) c.split(root, b, b + big, level);
    c.release();
    const nx = d.nx ? XD : 0n;
    c.protect(root, start, end, RW | nx, (write ? RW : 0n) | (execute ? 0n : nx));
    this.#absorb(null);
    if (d.pgdList) {
      for (const mm of this.#pgdList) {
        const [dst, src, first] = this.#syncSlot(mm, start)!;
        const n = this.#syncSlot(mm, end - 1n)![2] - first + 1;
        c.cloneEntries(dst, src, first, n);
        this.#absorb(mm);
        this.#count(mm, "vmallocSyncs", n);
      }
    }
    this.#flushAll(null);
  }

  /** Allocates length bytes of kernel virtual memory backed by new frames (vmalloc). */
  vmalloc(length: number): bigint {
    checkInt("length", length, 1, 1 << 30);
    const size = pageUp(BigInt(length));
    const va = this.#vmArea(size, "vmalloc");
    const nx = this.design.nx ? XD : 0n;
    try {
      this.#mapKernel(va, size, 0n, P | RW | A | D | G | nx, SRC_NEW, 1);
    } catch (e) {
      this.#vmAreas.splice(this.#vmAreas.findIndex((a) => a.start === va), 1);
      throw e;
    }
    if (this.design.vmallocSync === "eager") this.vmallocSyncAll();
    return va;
  }

  /** Maps physical [pa, pa + length) uncached into the vmalloc area (ioremap). */
  ioremap(pa: bigint, length: number): bigint {
    checkU("pa", pa);
    checkInt("length", length, 1, 1 << 30);
    // Entries hold physical addresses below 2^MAXPHYADDR (2^32 in 4-byte entries): beyond that
    // an entry would name a different frame.
    const limit = 1n << BigInt(this.design.entryBytes === 4 ? 32 : this.machine.physAddrBits);
    if (pa + BigInt(length) > limit) {
      throw new RangeError(`pa 0x${pa.toString(16)} + ${length} bytes is beyond the physical address space (0x${limit.toString(16)})`);
    }
    const base = pa & ~(PAGE - 1n);
    const size = pageUp(pa + BigInt(length)) - base;
    const va = this.#vmArea(size, "ioremap");
    const nx = this.design.nx ? XD : 0n;
    try {
      this.#mapKernel(va, size, base, P | RW | PWT | PCD | A | D | G | SPECIAL | nx, SRC_PHYS, 1);
    } catch (e) {
      this.#vmAreas.splice(this.#vmAreas.findIndex((a) => a.start === va), 1);
      throw e;
    }
    if (this.design.vmallocSync === "eager") this.vmallocSyncAll();
    return va + (pa & (PAGE - 1n));
  }

  /** Unmaps a vmalloc or ioremap area (vfree / iounmap); its frames go back, its tables stay. */
  vfree(addr: bigint): void {
    checkU("addr", addr);
    const i = this.#vmAreas.findIndex((a) => a.start === (addr & ~(PAGE - 1n)));
    if (i < 0) throw new KernelError("EINVAL", `no vmalloc or ioremap area at ${hex(addr)}`);
    const a = this.#vmAreas[i]!;
    // floor above ceiling: no table is freed (kernel page tables are never torn down).
    this.#core.zap(this.#kernelRoot(a.start), a.start, a.start + a.size, ~0n, 1n, true);
    this.#absorb(null);
    this.#flushAll(null); // kernel mappings are global: flush_tlb_all
    this.#vmAreas.splice(i, 1);
  }

  /** First fit in the vmalloc area, with a guard page after each area. */
  #vmArea(size: bigint, kind: VmArea["kind"]): bigint {
    let start = this.vmallocStart;
    let i = 0;
    for (; i < this.#vmAreas.length; i++) {
      const a = this.#vmAreas[i]!;
      if (start + size + PAGE <= a.start) break;
      start = a.end;
    }
    if (start + size + PAGE > this.vmallocEnd) throw new KernelError("ENOMEM", `vmalloc area has no room for ${hex(size)} bytes`);
    this.#vmAreas.splice(i, 0, { start, end: start + size + PAGE, size, kind });
    return start;
  }

  /** Arms fault injection: the n-th frame allocation from now fails (1 = the next); null disarms. */
  injectAllocFailure(n: number | null): void {
    this.#core.injectFailure(n === null ? 0 : checkInt("n", n, 1, 2 ** 31 - 1));
  }

  stats(): KernelStats {
    return {
      ...this.#counters,
      freeFrames: this.#core.freeCount(),
      totalFrames: this.totalFrames,
      tablePages: this.#core.tablePages(),
    };
  }

  resetStats(): void {
    this.#core.stat.fill(0, 0, KS_COUNT);
    this.#counters = zeroCounters();
    for (const mm of this.#procs.keys()) mm.counters = zeroCounters();
  }

  /** Physical address of the reference top-level table (init_mm's pgd; 3-level: the per-CPU PML4). */
  get referenceRoot(): bigint {
    return BigInt(this.#refRoot) << 12n;
  }

  /** Reference count of the frame at pa (0 if free). */
  frameRefs(pa: bigint): number {
    const pfn = Number(checkU("pa", pa) >> 12n);
    if (pfn >= this.totalFrames) throw new RangeError(`pa ${hex(pa)} is past the end of RAM`);
    return this.#core.frameCount(pfn);
  }

  // ---- system calls, for Process ----------------------------------------------------------------

  /** @internal */
  _stats(mm: Mm): KernelStats {
    return { ...mm.counters, freeFrames: this.#core.freeCount(), totalFrames: this.totalFrames, tablePages: mm.tablePages };
  }

  /** @internal */
  _pageEntry(mm: Mm, va: bigint): PageEntry | null {
    this.#live(mm);
    const d = this.design;
    const v = checkU("va", va);
    // 2.4: kernel addresses live in the per-CPU PML4's other slots, not in the process's pgd.
    const kernelPgd = d.perCpuPml4 && v >= this.userTop ? this.#slotPgd.get(Number((v >> 39n) & 511n)) : mm.root;
    if (kernelPgd === undefined) return null;
    let table = kernelPgd;
    for (let i = 0; i < d.levels.length; i++) {
      const l = d.levels[i]!;
      if (l.flags & KG_FOLDED) continue;
      const level = d.levels.length - i;
      const e = this.#entry(table, Number((v >> BigInt(l.shift)) & BigInt((1 << l.bits) - 1)));
      if (e === 0n) return null;
      if (level === 1 || (l.flags & KG_LARGE && e & PS)) return { entry: e, level, pa: e & (d.entryBytes === 8 ? 0xffffffffff000n : 0xfffff000n) };
      table = Number((e & (d.entryBytes === 8 ? 0xffffffffff000n : 0xfffff000n)) >> 12n);
    }
    return null;
  }

  /** @internal */
  _maps(mm: Mm): MapEntry[] {
    this.#live(mm);
    return mm.vmas.list.map((v) => ({ ...v }));
  }

  /** @internal */
  _mmap(mm: Mm, args: MmapArgs): bigint {
    this.#live(mm);
    const a = checkOptions<MmapArgs>("mmap args", args, ["addr", "length", "prot", "flags"]);
    const d = this.design;
    const prot = checkInt("prot", a.prot, 0, 0x7fffffff);
    const flags = checkInt("flags", a.flags, 0, 0x7fffffff);
    const length = typeof a.length === "bigint" ? checkU("length", a.length) : BigInt(checkInt("length", a.length, 0, Number.MAX_SAFE_INTEGER));
    const hint = a.addr === undefined ? 0n : checkU("addr", a.addr);
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) throw new KernelError("EINVAL", `prot 0x${prot.toString(16)} has unknown bits`);
    if (flags & ~KNOWN_MAP_FLAGS) throw new KernelError("EINVAL", `flags 0x${flags.toString(16)} has unsupported bits`);
    const type = flags & (MAP_SHARED | MAP_PRIVATE);
    if (type !== MAP_SHARED && type !== MAP_PRIVATE) throw new KernelError("EINVAL", "flags must have exactly one of MAP_SHARED and MAP_PRIVATE");
    if (!(flags & MAP_ANONYMOUS)) throw new KernelError("EINVAL", "only MAP_ANONYMOUS mappings are supported (no files)");
    if (length === 0n) throw new KernelError("EINVAL", "length is 0");
    const huge = (flags & MAP_HUGETLB) !== 0;
    const align = huge ? this.hugePageSize : PAGE;
    const len = alignUp(length, align);
    if (len > d.userTop) throw new KernelError("ENOMEM", `length ${hex(len)} exceeds the address space`);
    let addr: bigint;
    if (flags & MAP_FIXED) {
      if (hint & (align - 1n)) throw new KernelError("EINVAL", `MAP_FIXED address ${hex(hint)} is not aligned`);
      if (hint > d.userTop - len) throw new KernelError("ENOMEM", `${hex(hint)} + ${hex(len)} is beyond TASK_SIZE ${hex(d.userTop)}`);
      addr = hint;
    } else {
      addr = this.#unmappedArea(mm, hint, len, align);
    }
    const vma: Vma = { start: addr, end: addr + len, prot, shared: type === MAP_SHARED, huge };
    if (vma.shared) {
      // Shared anonymous memory is populated here, so that every process mapping it (fork)
      // maps the same frames: reserve first (all or nothing), then unmap and map.
      const c = this.#core;
      const pages = huge ? 0 : Number(len >> 12n);
      if (!c.reserve(this.#tablesUpTo(addr, len) + pages) || !c.reserveHuge(huge ? Number(len / align) : 0, Number(align >> 12n))) {
        c.release();
        throw new KernelError("ENOMEM", `out of memory for a shared mapping of ${hex(len)} bytes`);
      }
    }
    if (flags & MAP_FIXED) this.#unmap(mm, addr, addr + len);
    mm.vmas.insert(vma);
    if (vma.shared) {
      const c = this.#core;
      c.populate(mm.root, addr, addr + len, true, SRC_NEW, huge ? this.#hugeLevel : 1, this.#leafBits(vma, false), 0n, 0n);
      c.release();
      this.#absorb(mm);
    } else if (flags & MAP_POPULATE && prot) {
      this.#populate(mm, [[vma, addr, addr + len, huge ? this.#hugeLevel : 1]], (prot & PROT_WRITE) !== 0, SRC_ANON, true);
    }
    return addr;
  }

  /** An upper bound of the table pages a populate of [addr, addr + len) takes. */
  #tablesUpTo(addr: bigint, len: bigint): number {
    let n = 0;
    for (const l of this.design.levels.slice(1)) {
      if (l.flags & 1) continue;
      const span = 1n << BigInt(l.shift + l.bits);
      n += Number(((addr + len - 1n) / span) - addr / span) + 1;
    }
    return n;
  }

  /** get_unmapped_area: the hint if free (and valid for the 47-bit window), else top-down from mmap_base. */
  #unmappedArea(mm: Mm, hint: bigint, len: bigint, align: bigint): bigint {
    const d = this.design;
    const window = d.mapWindow;
    const top = d.userTop;
    if (hint) {
      const a = alignUp(hint, align);
      // mmap_address_hint_valid: below TASK_SIZE, and not straddling the 47-bit window.
      const valid = a <= top - len && (a + len > window) === (a > window);
      if (valid && a >= PAGE * 16n && mm.vmas.isFree(a, a + len)) return a;
    }
    let high = mm.mmapBase;
    if (hint > window) high += top - window; // a high hint opens the full address space
    const low = PAGE * 16n; // mmap_min_addr
    const found = mm.vmas.topDown(len, low, high, align) ?? mm.vmas.topDown(len, low, window, align);
    if (found === undefined) throw new KernelError("ENOMEM", `no free range of ${hex(len)} bytes`);
    return found;
  }

  /** Removes [start, end) from the address space: zap, free page tables, flush. */
  #unmap(mm: Mm, start: bigint, end: bigint): void {
    if (mm.vmas.isFree(start, end)) return;
    mm.vmas.splitAt(start);
    mm.vmas.splitAt(end);
    const floor = mm.vmas.floorBelow(start);
    const ceiling = mm.vmas.ceilingAbove(end);
    this.#core.zap(mm.root, start, end, floor, ceiling, true);
    mm.vmas.remove(start, end);
    this.#absorb(mm);
    this.#flush(mm, start, end);
  }

  /** @internal */
  _munmap(mm: Mm, addr: bigint, length: number | bigint): void {
    this.#live(mm);
    const start = checkU("addr", addr);
    const len = typeof length === "bigint" ? checkU("length", length) : BigInt(checkInt("length", length, 0, Number.MAX_SAFE_INTEGER));
    if (start & (PAGE - 1n)) throw new KernelError("EINVAL", `addr ${hex(start)} is not page aligned`);
    if (len === 0n) throw new KernelError("EINVAL", "length is 0");
    const end = start + pageUp(len);
    if (end > this.userTop) throw new KernelError("EINVAL", `${hex(start)} + ${hex(len)} is beyond TASK_SIZE`);
    this.#splitEdges(mm, start, end);
    this.#unmap(mm, start, end);
  }

  /** @internal */
  _mprotect(mm: Mm, addr: bigint, length: number | bigint, prot: number): void {
    this.#live(mm);
    const start = checkU("addr", addr);
    const len = typeof length === "bigint" ? checkU("length", length) : BigInt(checkInt("length", length, 0, Number.MAX_SAFE_INTEGER));
    checkInt("prot", prot, 0, 0x7fffffff);
    if (start & (PAGE - 1n)) throw new KernelError("EINVAL", `addr ${hex(start)} is not page aligned`);
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) throw new KernelError("EINVAL", `prot 0x${prot.toString(16)} has unknown bits`);
    if (len === 0n) return;
    const end = start + pageUp(len);
    if (end > this.userTop || !mm.vmas.covers(start, end)) {
      throw new KernelError("ENOMEM", `${hex(start)}..${hex(end)} is not entirely mapped`);
    }
    this.#splitEdges(mm, start, end);
    mm.vmas.splitAt(start);
    mm.vmas.splitAt(end);
    for (const v of mm.vmas.overlapping(start, end)) {
      v.prot = prot;
      const [clear, set] = this.#protMasks(v);
      this.#core.protect(mm.root, v.start, v.end, clear, set);
    }
    mm.vmas.mergeAll();
    this.#absorb(mm);
    this.#flush(mm, start, end);
  }

  /** @internal */
  _brk(mm: Mm, addr?: bigint): bigint {
    this.#live(mm);
    if (addr === undefined) return mm.brk;
    const want = checkU("addr", addr);
    if (want < mm.brkStart) return mm.brk;
    const oldEnd = pageUp(mm.brk);
    const newEnd = pageUp(want);
    if (newEnd > oldEnd) {
      // Leave a guard page before the next area, as Linux does.
      if (newEnd + PAGE > this.userTop || !mm.vmas.isFree(oldEnd, newEnd + PAGE)) return mm.brk;
      mm.vmas.insert({ start: oldEnd, end: newEnd, prot: PROT_READ | PROT_WRITE, shared: false, huge: false });
    } else if (newEnd < oldEnd) {
      this.#unmap(mm, newEnd, oldEnd);
    }
    mm.brk = want;
    return mm.brk;
  }

  /** @internal */
  _touch(mm: Mm, va: bigint, length: number | bigint, write: boolean): void {
    this.#live(mm);
    const v0 = checkU("va", va);
    const len = typeof length === "bigint" ? checkU("length", length) : BigInt(checkInt("length", length, 0, Number.MAX_SAFE_INTEGER));
    checkBool("write", write);
    if (len === 0n) return;
    const start = v0 & ~(PAGE - 1n);
    const end = pageUp(v0 + len);
    if (end > this.userTop || !mm.vmas.covers(start, end)) throw new KernelError("EFAULT", `${hex(v0)}..${hex(v0 + len)} is not mapped`);
    const pieces: Piece[] = [];
    for (const v of mm.vmas.overlapping(start, end)) {
      if (write ? !(v.prot & PROT_WRITE) : v.prot === 0) {
        throw new KernelError("EFAULT", `${write ? "write" : "read"} to ${hex(v.start)}..${hex(v.end)} is not allowed by its protection`);
      }
      const s = v.start > start ? v.start : start;
      const e = v.end < end ? v.end : end;
      if (!v.huge) {
        pieces.push([v, s, e, 1]);
        continue;
      }
      // Whole blocks inside the area get large pages (unless already split); edges small ones.
      const H = this.hugePageSize;
      for (let b = s & ~(H - 1n); b < e; b += H) {
        const lo = b > s ? b : s;
        const hi = b + H < e ? b + H : e;
        if (b >= v.start && b + H <= v.end && !this.#tableAt(mm, b)) pieces.push([v, b, b + H, this.#hugeLevel]);
        else pieces.push([v, lo, hi, 1]);
      }
    }
    // Write faults may replace present read-only entries (zero page, copy-on-write).
    if (this.#populate(mm, pieces, write, SRC_ANON, true)) this.#flush(mm, start, end);
  }

  /** @internal */
  _handleFault(mm: Mm, va: bigint, access: FaultAccess | number): boolean {
    this.#live(mm);
    const v = checkU("va", va);
    let write: boolean, user: boolean, fetch: boolean;
    if (typeof access === "number") {
      checkInt("access", access, 0, 0xffff);
      write = (access & 2) !== 0;
      user = (access & 4) !== 0;
      fetch = (access & 16) !== 0;
    } else {
      const a = checkOptions<FaultAccess>("access", access, ["write", "user", "fetch"]);
      write = checkBool("access.write", a.write);
      user = a.user === undefined ? true : checkBool("access.user", a.user);
      fetch = checkBool("access.fetch", a.fetch);
    }
    return this.#fault(mm, v, write, user, fetch);
  }

  /** Runs one access through the CPU, page by page, taking page faults into the handler. */
  #access(mm: Mm, va: bigint, length: number, write: Uint8Array | null, supervisor: boolean): Uint8Array {
    this.#switchTo(mm);
    const out = write ? write : new Uint8Array(length);
    const user = !supervisor;
    let off = 0;
    let retries = 0;
    // A write faults all its pages in before it stores a byte, so that ENOMEM or EFAULT on a
    // later page leaves memory as it was.
    while (write && off < length) {
      const cur = va + BigInt(off);
      const r = this.machine.translate(cur, { write: true, user, probe: true });
      if (!r.fault) {
        off += Math.min(length - off, 4096 - Number(cur & 0xfffn));
        retries = 0;
        continue;
      }
      const what = `write at ${hex(cur)}`;
      if (r.fault === "gp" || retries++ > 2) throw new KernelError("EFAULT", `${what}: ${r.fault === "gp" ? r.reason : "fault not resolved"}`);
      if (!this.#fault(mm, cur, true, user, false)) throw new KernelError("EFAULT", `${what}: no mapping allows it (SIGSEGV)`);
      this.#switchTo(mm);
    }
    off = 0;
    while (off < length) {
      const cur = va + BigInt(off);
      const n = Math.min(length - off, 4096 - Number(cur & 0xfffn));
      const r = write
        ? this.machine.writeVirtual(cur, write.subarray(off, off + n), { user })
        : this.machine.readVirtual(cur, n, { user });
      if (r === null || r instanceof Uint8Array) {
        if (r) out.set(r, off);
        off += n;
        retries = 0;
        continue;
      }
      const what = `${write ? "write" : "read"} at ${hex(cur)}`;
      if (r.fault === "gp" || retries++ > 2) throw new KernelError("EFAULT", `${what}: ${r.fault === "gp" ? r.reason : "fault not resolved"}`);
      if (!this.#fault(mm, r.address, write !== null, user, false)) throw new KernelError("EFAULT", `${what}: no mapping allows it (SIGSEGV)`);
      this.#switchTo(mm);
    }
    return out;
  }

  /** @internal */
  _read(mm: Mm, va: bigint, length: number, opts?: MemoryAccessOptions): Uint8Array {
    this.#live(mm);
    const v = checkU("va", va);
    checkInt("length", length, 0, 1 << 30);
    const o = checkOptions<MemoryAccessOptions>("options", opts, ["supervisor"]);
    return this.#access(mm, v, length, null, checkBool("options.supervisor", o.supervisor));
  }

  /** @internal */
  _write(mm: Mm, va: bigint, bytes: Uint8Array, opts?: MemoryAccessOptions): void {
    this.#live(mm);
    const v = checkU("va", va);
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes must be a Uint8Array, got ${typeof bytes}`);
    const o = checkOptions<MemoryAccessOptions>("options", opts, ["supervisor"]);
    this.#access(mm, v, bytes.length, bytes, checkBool("options.supervisor", o.supervisor));
  }

  /** @internal */
  _fork(mm: Mm): Process {
    this.#live(mm);
    const c = this.#core;
    const vmas = mm.vmas.list;
    this.#checkPcid();
    c.countBegin();
    for (const v of vmas) c.countCopy(mm.root, v.start, v.end);
    if (!c.reserve(c.needTables() + this.#rootTables)) {
      this.#absorb(mm);
      throw new KernelError("ENOMEM", `out of memory forking process ${mm.pid}`);
    }
    const child = this.#pgdAlloc(this.#nextPid++);
    for (const v of vmas) c.copy(mm.root, child.root, v.start, v.end, !v.shared, v.shared);
    c.release();
    this.#absorb(mm, { tablesTo: child });
    this.#flush(mm); // flush_tlb_mm: the parent's writable entries became read-only
    child.vmas = mm.vmas.clone();
    child.brkStart = mm.brkStart;
    child.brk = mm.brk;
    child.mmapBase = mm.mmapBase;
    const p = new Process(this, child);
    this.#procs.set(child, p);
    return p;
  }

  /** @internal */
  _exit(mm: Mm): void {
    this.#live(mm);
    if (this.#current === mm) this.#switchTo(null);
    // exit_mmap: unmap_vmas + free_pgtables, area by area in address order. A table shared
    // with the next area stays until that area's pass (its ceiling); entries are not cleared
    // since every table below the root goes.
    const vmas = mm.vmas.list;
    for (let i = 0; i < vmas.length; i++) {
      const v = vmas[i]!;
      this.#core.zap(mm.root, v.start, v.end, 0n, i + 1 < vmas.length ? vmas[i + 1]!.start : 0n, false);
    }
    this.#pgdFree(mm);
    this.#absorb(mm);
    this.#count(mm, "tlbFlushes"); // tlb_finish_mmu (the CPU already switched away above)
    if (this.#pcid) {
      // The PCID is reused: nothing of this address space may stay behind under it.
      this.machine.invpcid(1, mm.pcid);
      this.#freePcids.push(mm.pcid);
    }
    mm.exited = true;
    mm.vmas = new VmaList();
    this.#procs.delete(mm);
  }
}

/** A process: an address space on the Kernel's Machine. Its methods are its system calls. */
export class Process {
  readonly #kernel: Kernel;
  readonly #mm: Mm;

  /** @internal */
  constructor(kernel: Kernel, mm: Mm) {
    this.#kernel = kernel;
    this.#mm = mm;
  }

  get pid(): number {
    return this.#mm.pid;
  }

  get exited(): boolean {
    return this.#mm.exited;
  }

  /** Physical address of this process's top-level table (its pgd). */
  get pgd(): bigint {
    return BigInt(this.#mm.root) << 12n;
  }

  /** Current program break. */
  get brkValue(): bigint {
    return this.#mm.brk;
  }

  mmap(args: MmapArgs): bigint {
    return this.#kernel._mmap(this.#mm, args);
  }

  munmap(addr: bigint, length: number | bigint): void {
    this.#kernel._munmap(this.#mm, addr, length);
  }

  mprotect(addr: bigint, length: number | bigint, prot: number): void {
    this.#kernel._mprotect(this.#mm, addr, length, prot);
  }

  /** Sets the program break (if possible) and returns it; without an argument, returns it. */
  brk(addr?: bigint): bigint {
    return this.#kernel._brk(this.#mm, addr);
  }

  read(va: bigint, length: number, opts?: MemoryAccessOptions): Uint8Array {
    return this.#kernel._read(this.#mm, va, length, opts);
  }

  write(va: bigint, bytes: Uint8Array, opts?: MemoryAccessOptions): void {
    this.#kernel._write(this.#mm, va, bytes, opts);
  }

  /** Faults in every page of [va, va + length) as reads or writes would, in one pass (all or nothing). */
  touch(va: bigint, length: number | bigint, write: boolean): void {
    this.#kernel._touch(this.#mm, va, length, write);
  }

  fork(): Process {
    return this.#kernel._fork(this.#mm);
  }

  exit(): void {
    this.#kernel._exit(this.#mm);
  }

  /** The page-fault handler for an access at va: true if resolved, false = SIGSEGV. */
  handleFault(va: bigint, access: FaultAccess | number = {}): boolean {
    return this.#kernel._handleFault(this.#mm, va, access);
  }

  /** The leaf entry mapping va in this process's tables, or null (not mapped). */
  pageEntry(va: bigint): PageEntry | null {
    return this.#kernel._pageEntry(this.#mm, va);
  }

  /** The areas of the address space, in order. */
  maps(): MapEntry[] {
    return this.#kernel._maps(this.#mm);
  }

  stats(): KernelStats {
    return this.#kernel._stats(this.#mm);
  }
}
