// Mm: one address space (Linux's struct mm_struct): its top table, its areas, its program
// break and mmap base, its PCID and the counters of the work done for it.

import { VmaList } from "./vma.js";

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

/** One area of a process's address space, as /proc/pid/maps would list it. */
export interface MapEntry {
  start: bigint;
  end: bigint;
  prot: number;
  shared: boolean;
  huge: boolean;
}

/** The counters kept per kernel and per address space (KernelStats less the memory state). */
export const COUNTER_KEYS = [
  "tablePagesAllocated", "tablePagesFreed", "entriesVisited", "entriesRead", "entriesWritten", "entriesCopied",
  "levelsVisited", "framesCopied", "tlbFlushes", "pageFaults", "vmallocFaults", "vmallocSyncs",
] as const;
export type CounterKey = (typeof COUNTER_KEYS)[number];
export type Counters = Record<CounterKey, number>;
export const zeroCounters = (): Counters => Object.fromEntries(COUNTER_KEYS.map((key) => [key, 0])) as Counters;

export class Mm {
  /** Process id (given when its pgd is allocated). */
  pid = 0;
  /** pfn of the top table the range loop walks (pgd). */
  root = 0;
  /** PAE: the PMDs that came with the pgd (index 3 = kernel PMD when unshared). */
  pmds: number[] = [];
  /** PCID of this address space (0 without PCIDs). */
  pcid = 0;
  vmas = new VmaList();
  counters = zeroCounters();
  /** Page-table pages this address space holds. */
  tablePages = 0;
  exited = false;
  brkStart = 0n;
  brk = 0n;
  mmapBase = 0n;
}
