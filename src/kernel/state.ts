// KernelState: what every mm operation shares, as Linux keeps it in init_mm, the per-CPU
// variables and a few globals: the Machine and the design it runs, the KernelCore, the
// reference tables, the current address space, the pgd list, the vmalloc areas, the PCIDs and
// the kernel-wide counters. Operations (pgalloc.ts, memory.ts, mmap.ts, ...) take it and an Mm.

import { CORE, type Machine } from "../machine/machine.js";
import { KG_LARGE, KS, KS_COUNT, type KernelCore } from "./core.js";
import type { Design } from "./designs.js";
import { COUNTER_KEYS, zeroCounters, type CounterKey, type Counters, type Mm } from "./mm.js";
import { KernelError } from "./constants.js";
import { PTE_XD } from "../x86.js";

export const PAGE = 4096n;
export const MIB = 1n << 20n;
/** First 2 MiB of RAM: real-mode area and the kernel image (frame 512 is empty_zero_page). */
export const LOW_RESERVED_FRAMES = 512;

/** A vmalloc or ioremap area of the kernel's address space. */
export interface VmArea {
  start: bigint;
  end: bigint; // exclusive, guard page included
  size: bigint;
  kind: "vmalloc" | "ioremap";
}

/** Core counter index -> public counter (the core's counters that KernelStats reports). */
const CORE_KEYS = (Object.entries(KS) as Array<[string, number]>)
  .filter((e): e is [CounterKey, number] => (COUNTER_KEYS as readonly string[]).includes(e[0]))
  .map(([key, at]) => [at, key] as const);

export interface AbsorbOptions {
  /** Count each populated page as a page fault (MAP_POPULATE, touch). */
  faults?: boolean;
  /** The address space the new table pages belong to, if not mm (fork's child). */
  tablesTo?: Mm;
}

export const hex = (v: bigint) => `0x${v.toString(16)}`;
export const pageUp = (x: bigint) => (x + PAGE - 1n) & ~(PAGE - 1n);
export const alignUp = (x: bigint, a: bigint) => (x + a - 1n) & ~(a - 1n);

export class KernelState {
  readonly totalFrames: number;
  /** User address space: [0, userTop). */
  readonly userTop: bigint;
  readonly vmallocStart: bigint;
  readonly vmallocEnd: bigint;
  /** RAM the direct map covers (lowmem). */
  readonly lowmem: bigint;
  /** The design's large page (2 MiB; 4 MiB on i386-2level): its size, frames and level (1 = PTE). */
  readonly hugePageSize: bigint;
  readonly hugeFrames: number;
  readonly hugeLevel: number;
  /** The execute-disable bit if the design has one, else 0n. */
  readonly nx: bigint;
  /** Physical-address bits of an entry (the most any MAXPHYADDR gives an entry of its size). */
  readonly addrMask: bigint;

  counters: Counters = zeroCounters();
  /** swapper_pg_dir / init_level4_pgt (x86_64-3level: the per-CPU PML4). */
  refRoot = 0;
  /** x86_64-3level: the per-CPU PML4 and the kernel pgd behind each of its slots. */
  cpuPml4 = 0;
  readonly slotPgd = new Map<number, number>();
  readonly zeroPfn = LOW_RESERVED_FRAMES;
  /** The address space loaded in CR3 (null: init_mm). */
  current: Mm | null = null;
  /** Live address spaces, in creation order. */
  readonly mms = new Set<Mm>();
  /** pgd_list, for vmalloc_sync_all and set_memory. */
  readonly pgdList: Mm[] = [];
  nextPid = 1;
  readonly vmAreas: VmArea[] = [];
  regs = { cr0: 0n, cr4: 0n, efer: 0n };
  pcid = false;
  readonly freePcids: number[] = [];
  nextPcid = 1;

  constructor(
    readonly machine: Machine,
    readonly design: Design,
    readonly core: KernelCore,
  ) {
    this.totalFrames = machine.ramBytes / 4096;
    this.userTop = design.userTop;
    this.lowmem = BigInt(Math.min(machine.ramBytes, Number(design.directMapMax)));
    // i386: VMALLOC_START = high_memory + VMALLOC_OFFSET (8 MiB), on an 8 MiB boundary.
    this.vmallocStart = design.vmallocStart || alignUp(design.pageOffset + this.lowmem + 8n * MIB, 8n * MIB);
    this.vmallocEnd = design.vmallocEnd;
    const ls = design.levels;
    // The lowest level that may hold a large leaf: 2 MiB PMDs, or i386's 4 MiB PDEs.
    let hugeIndex = ls.length - 2;
    while (!(ls[hugeIndex]!.bits > 0 && ls[hugeIndex]!.flags & KG_LARGE)) hugeIndex--;
    this.hugeLevel = ls.length - hugeIndex;
    this.hugePageSize = 1n << BigInt(ls[hugeIndex]!.shift);
    this.hugeFrames = Number(this.hugePageSize / PAGE);
    this.nx = design.nx ? PTE_XD : 0n;
    this.addrMask = (1n << (design.entryBytes === 8 ? 52n : 32n)) - PAGE; // bits 51:12 or 31:12
  }

  /** StateError if the Machine was destroyed (every Kernel and Process call starts here). */
  live(mm?: Mm): void {
    void this.machine[CORE]; // throws StateError once the Machine is destroyed
    if (mm?.exited) throw new KernelError("ESRCH", `process ${mm.pid} has exited`);
  }

  /** Level number (1 = PTE) whose entries map 2^shift bytes. */
  levelOfShift(shift: number): number {
    const ls = this.design.levels;
    return ls.length - ls.findIndex((l) => l.shift === shift && l.bits > 0);
  }

  /** Adds the core's counters since the last call to the kernel's and to mm's totals. */
  absorb(mm: Mm | null, opts: AbsorbOptions = {}): void {
    const s = this.core.stat;
    for (const [at, key] of CORE_KEYS) {
      const n = s[at]!;
      if (n === 0) continue;
      this.counters[key] += n;
      if (mm) mm.counters[key] += n;
    }
    const owner = opts.tablesTo ?? mm;
    if (owner) owner.tablePages += s[KS.tablePagesAllocated]! - s[KS.tablePagesFreed]!;
    if (opts.faults) this.count(mm, "pageFaults", s[KS.pagesPopulated]!);
    s.fill(0, 0, KS_COUNT);
  }

  /** Counts n events of the kernel (and of mm). */
  count(mm: Mm | null, key: CounterKey, n = 1): void {
    this.counters[key] += n;
    if (mm) mm.counters[key] += n;
  }
}
