// The page-table designs of the seeds, as data: hardware mode, the software levels the
// kernel's range loop walks (with folded levels), the user/kernel split and the kernel memory
// map. Sources: seed 000 (2.6.11 4-level, its mm.txt), 001 (2.4 3-level), 003 (PAE shared or
// unshared kernel PMD), 004 (5-level, run-time folding, the mmap hint rule).

import { KG_FOLDED, KG_KEEP, KG_LARGE } from "./core.js";

export type DesignName =
  | "i386-2level" | "i386-pae" | "i386-pae-unshared" | "x86_64-3level" | "x86_64-4level"
  | "x86_64-5level" | "x86_64-5level-folded";

export const DESIGN_NAMES: readonly DesignName[] = [
  "i386-2level", "i386-pae", "i386-pae-unshared", "x86_64-3level", "x86_64-4level",
  "x86_64-5level", "x86_64-5level-folded",
];

export interface Level {
  /** Linux's name for the level. */
  name: string;
  shift: number;
  /** Index bits (0 for a folded level). */
  bits: number;
  flags: number;
  /** Flags of an entry at this level that points to a table. */
  tableBits: number;
}

/** How vmalloc changes to the reference table reach the processes' tables. */
export type VmallocSync =
  | "fault" //  lazily: a kernel-mode fault copies the top-level entry (vmalloc_fault)
  | "shared" // nothing to do: every process shares the tables below (per-CPU PML4, shared kernel PMD)
  | "eager"; // vmalloc_sync_all over the pgd list (unshared kernel PMD)

export interface Design {
  name: DesignName;
  hardware: "32-bit" | "pae" | "4-level" | "5-level";
  entryBytes: 4 | 8;
  /** Software levels, top first; the last is the PTE level. */
  levels: Level[];
  /** TASK_SIZE: user addresses are [0, userTop). */
  userTop: bigint;
  /** mmap allocates below this unless the hint is above it (5-level: 47 bits). */
  mapWindow: bigint;
  textBase: bigint;
  /** Direct map of physical memory (PAGE_OFFSET) and its page size, and how much RAM it covers. */
  pageOffset: bigint;
  directMapPage: number;
  directMapMax: bigint;
  /** Kernel text mapping (x86_64's __START_KERNEL_map, 40 MiB from phys 0); 0n if none. */
  kernelText: bigint;
  vmallocStart: bigint;
  vmallocEnd: bigint;
  vmallocSync: VmallocSync;
  /** First top-level index of the kernel half (copied from the reference at pgd_alloc). */
  kernelFirst: number;
  /** x86_64-3level: one PML4 per CPU, slot 0 rewritten with the process's PGD at each switch. */
  perCpuPml4: boolean;
  /** PAE: user PMDs come with the pgd; unshared: the kernel PMD too (a per-pgd copy). */
  paePmds: 0 | 3 | 4;
  /** Process pgds are kept on a list (pgd_list) for vmalloc_sync_all. */
  pgdList: boolean;
  nx: boolean;
}

const T = 0x67; //      _PAGE_TABLE: present, writable, user, accessed, dirty
const PDPTE_P = 0x1; // a PAE PDPTE has only P (its R/W and U/S bits are reserved)
const lvl = (name: string, shift: number, bits: number, flags = 0, tableBits = T): Level =>
  ({ name, shift, bits, flags, tableBits });
const folded = (name: string, shift: number): Level => lvl(name, shift, 0, KG_FOLDED);

const GiB = 1n << 30n;
const PAGE = 4096n;

const x86_64_4: Level[] = [lvl("pml4", 39, 9), lvl("pgd", 30, 9, KG_LARGE), lvl("pmd", 21, 9, KG_LARGE), lvl("pte", 12, 9)];

const i386Pae: Design = {
  name: "i386-pae", hardware: "pae", entryBytes: 8,
  levels: [lvl("pgd", 30, 2, KG_KEEP, PDPTE_P), folded("pud", 30), lvl("pmd", 21, 9, KG_LARGE), lvl("pte", 12, 9)],
  userTop: 0xc0000000n, mapWindow: 0xc0000000n, textBase: 0x08048000n,
  pageOffset: 0xc0000000n, directMapPage: 21, directMapMax: 896n << 20n, kernelText: 0n,
  vmallocStart: 0n, vmallocEnd: 0xff7fe000n, vmallocSync: "shared",
  kernelFirst: 3, perCpuPml4: false, paePmds: 3, pgdList: false, nx: true,
};

/** Every design, by name. */
export const DESIGNS: Record<DesignName, Design> = {
  // Linux 2.6.11 (seed 000): true 4 levels, 47-bit user space, mm.txt's memory map.
  "x86_64-4level": {
    name: "x86_64-4level", hardware: "4-level", entryBytes: 8, levels: x86_64_4,
    userTop: 0x800000000000n, mapWindow: 0x800000000000n, textBase: 0x400000n,
    pageOffset: 0xffff810000000000n, directMapPage: 21, directMapMax: 1n << 46n,
    kernelText: 0xffffffff80000000n,
    vmallocStart: 0xffffc20000000000n, vmallocEnd: 0xffffe20000000000n, vmallocSync: "fault",
    kernelFirst: 256, perCpuPml4: false, paePmds: 0, pgdList: false, nx: true,
  },
  // LA57 (seed 004): 56-bit user space, 5-level memory map (Documentation/x86/x86_64/mm.rst).
  "x86_64-5level": {
    name: "x86_64-5level", hardware: "5-level", entryBytes: 8,
    levels: [lvl("pgd", 48, 9), lvl("p4d", 39, 9), lvl("pud", 30, 9, KG_LARGE), lvl("pmd", 21, 9, KG_LARGE), lvl("pte", 12, 9)],
    userTop: (1n << 56n) - PAGE, mapWindow: (1n << 47n) - PAGE, textBase: 0x400000n,
    pageOffset: 0xff11000000000000n, directMapPage: 21, directMapMax: 1n << 52n,
    kernelText: 0xffffffff80000000n,
    vmallocStart: 0xffa0000000000000n, vmallocEnd: 0xffd2000000000000n, vmallocSync: "fault",
    kernelFirst: 256, perCpuPml4: false, paePmds: 0, pgdList: false, nx: true,
  },
  // The same kernel on 4-level hardware: p4d folded at run time, pgd takes the 39-bit shift.
  "x86_64-5level-folded": {
    name: "x86_64-5level-folded", hardware: "4-level", entryBytes: 8,
    levels: [lvl("pgd", 39, 9), folded("p4d", 39), lvl("pud", 30, 9, KG_LARGE), lvl("pmd", 21, 9, KG_LARGE), lvl("pte", 12, 9)],
    userTop: (1n << 47n) - PAGE, mapWindow: (1n << 47n) - PAGE, textBase: 0x400000n,
    pageOffset: 0xffff888000000000n, directMapPage: 21, directMapMax: 1n << 46n,
    kernelText: 0xffffffff80000000n,
    vmallocStart: 0xffffc90000000000n, vmallocEnd: 0xffffe90000000000n, vmallocSync: "fault",
    kernelFirst: 256, perCpuPml4: false, paePmds: 0, pgdList: false, nx: true,
  },
  // Linux 2.4 (seed 001): common code sees pgd/pmd/pte; a per-CPU PML4 whose slot 0 holds the
  // current process's pgd; 512 GiB per process (TASK_SIZE 512 GiB - 1 GiB); kernel in slots 2, 510, 511.
  "x86_64-3level": {
    name: "x86_64-3level", hardware: "4-level", entryBytes: 8,
    levels: [lvl("pgd", 30, 9, KG_LARGE), lvl("pmd", 21, 9, KG_LARGE), lvl("pte", 12, 9)],
    userTop: 0x7fc0000000n, mapWindow: 0x7fc0000000n, textBase: 0x400000n,
    pageOffset: 0x0000010000000000n, directMapPage: 21, directMapMax: 508n * 512n * GiB,
    kernelText: 0xffffffff80000000n,
    vmallocStart: 0xffffff0000000000n, vmallocEnd: 0xffffff8000000000n, vmallocSync: "shared",
    kernelFirst: 1, perCpuPml4: true, paePmds: 0, pgdList: false, nx: true,
  },
  // i386 PAE (seed 003), shared kernel PMD: pgd = 4 PDPT entries, the 4th (kernel) shared by all.
  "i386-pae": i386Pae,
  // The Xen variant: page-sized pgd on the pgd list, a kernel PMD per pgd, vmalloc_sync_all.
  "i386-pae-unshared": { ...i386Pae, name: "i386-pae-unshared", vmallocSync: "eager", paePmds: 4, pgdList: true },
  // Non-PAE i386: 10+10 bits, 4-byte entries, pud and pmd folded, 4 MiB kernel pages.
  "i386-2level": {
    name: "i386-2level", hardware: "32-bit", entryBytes: 4,
    levels: [lvl("pgd", 22, 10, KG_LARGE), folded("pud", 22), folded("pmd", 22), lvl("pte", 12, 10)],
    userTop: 0xc0000000n, mapWindow: 0xc0000000n, textBase: 0x08048000n,
    pageOffset: 0xc0000000n, directMapPage: 22, directMapMax: 896n << 20n, kernelText: 0n,
    vmallocStart: 0n, vmallocEnd: 0xff7fe000n, vmallocSync: "fault",
    kernelFirst: 768, perCpuPml4: false, paePmds: 0, pgdList: true, nx: false,
  },
};
