// The per-entry half of the Kernel: the frame allocator and the one range loop. The Kernel
// (kernel.ts and the operation files beside it) decides what to do per system call; a
// KernelCore does the work per frame and per page-table entry, in guest RAM and the frame
// table. Two implementations plug in behind this interface: WebAssembly (assembly/kernel/,
// the default) and plain TypeScript over typed arrays (impl: "ts", the comparison baseline).
//
// Contract for an implementation (both must give identical tables, frame records and counts):
// - Frame records: FRAME_RECORD_BYTES per 4 KiB frame in the Machine's `extra` block, which
//   the Kernel asks for at Machine.create (see assembly/kernel/frames.ts for the layout).
//   Free frames are a stack: the last frame freed is the next one allocated.
// - An operation that allocates (always through reserve.ts) first calls countBegin and a count
//   pass, then reserve(tables + frames) and reserveHuge (all or nothing; each reserved frame or
//   run is one allocation for fault injection), then runs; it takes frames only from the reservation, and release() returns
//   what is left in reverse order, so a failed reserve leaves the free list exactly as it was.
// - Roots and tables are frame numbers (pfn); addresses are bigints (u64 in the core).
// - Counters (KS_* below) are added to `stat` (Float64Array); the Kernel zeroes it per call.

import type { CoreAccess } from "../machine/machine.js";

/** Entry bit 10, one of the OS's (SDM: ignored): no struct page behind it (zero page,
 * ioremap), so the core keeps no reference count for it. */
export const PTE_SW_SPECIAL = 1n << 10n;

/** Where a populate gets the frames of new leaves. */
export const SRC_ANON = 0; // zero page for private reads, new zeroed frames on writes, COW breaks
export const SRC_NEW = 1; //  a new zeroed frame for every empty entry
export const SRC_PHYS = 2; // consecutive physical frames from `phys` (ioremap, direct map)

/** Bytes of a frame record: the frame table is this much per 4 KiB frame of RAM, in the linear
 * memory the Kernel asks its Machine for (Machine.create's extraBytes). */
export const FRAME_RECORD_BYTES = 8;

/** Frame record flags (info word; layout in assembly/kernel/frames.ts). */
export const FI_FREE = 0x80000000; // on the free list
export const FI_RES = 0x40000000; //  held by the current reservation
export const FI_LINK = 0x3fffffff; // next pfn + 1 while free or reserved
export const FI_TABLE = 1; //         a page-table page
export const FI_KERNEL = 2; //        the kernel's own (boot image, zero page): never freed

/** Geometry level flags. */
export const KG_FOLDED = 1;
export const KG_LARGE = 2;
export const KG_KEEP = 4;

/** Indices into the counter block. */
export const KS = {
  tablePagesAllocated: 0,
  tablePagesFreed: 1,
  entriesVisited: 2,
  entriesRead: 3,
  entriesWritten: 4,
  entriesCopied: 5,
  levelsVisited: 6,
  framesCopied: 7,
  pagesPopulated: 8,
  entriesReplaced: 9,
} as const;
export const KS_COUNT = 10;

export interface KernelCore {
  /** Counters of the calls since the Kernel last zeroed them (indices KS). */
  readonly stat: Float64Array;
  framesInit(nFrames: number): void;
  /** Takes a free frame for the kernel's own use (boot image, zero page); false if not free. */
  claim(pfn: number, flags: number): boolean;
  injectFailure(n: number): void;
  freeCount(): number;
  tablePages(): number;
  reserved(): number;
  frameInfo(pfn: number): number;
  frameCount(pfn: number): number;
  reserve(n: number): boolean;
  /** Reserves count runs of `frames` free frames aligned to their size (large pages); all or nothing. */
  reserveHuge(count: number, frames: number): boolean;
  /** Returns every reserved frame and run. */
  release(): void;
  /** A frame from the reservation (a table page if `table`), zeroed if `zero`. */
  take(table: boolean, zero: boolean): number;
  free(pfn: number): void;

  /** Software level `level` (1 = PTE) of the design: shift, index bits, KG_* flags, table-entry bits. */
  geoLevel(level: number, shift: number, idxBits: number, flags: number, tableBits: number): void;
  geoInit(topLevel: number, entryBytes: 4 | 8): void;

  countBegin(): void;
  needTables(): number;
  needFrames(): number;
  /** Large pages (runs) the counted populate will take. */
  needHuge(): number;
  countCopy(root: number, start: bigint, end: bigint): void;
  copy(src: number, dst: number, start: bigint, end: bigint, cow: boolean, shared: boolean): void;
  zap(root: number, start: bigint, end: bigint, floor: bigint, ceiling: bigint, clear: boolean): void;
  protect(root: number, start: bigint, end: bigint, clearBits: bigint, setBits: bigint): void;
  countPopulate(root: number, start: bigint, end: bigint, write: boolean, src: number, leafLevel: number): void;
  populate(
    root: number, start: bigint, end: bigint, write: boolean, src: number, leafLevel: number,
    template: bigint, zeroEntry: bigint, phys: bigint,
  ): void;
  /** Count pass of split: a table for each large leaf at `level` in [start, end). */
  countSplit(root: number, start: bigint, end: bigint, level: number): void;
  /** Turns each large leaf at `level` in [start, end) into a table of small leaves (same frames and rights). */
  split(root: number, start: bigint, end: bigint, level: number): void;
  cloneEntries(dst: number, src: number, first: number, n: number): void;
  /** Entry `index` of the table at pfn (a debugger's read: not counted). */
  readEntry(pfn: number, index: number): bigint;
  /** Writes entry `index` of the table at pfn (not counted: the caller counts entriesWritten). */
  writeEntry(pfn: number, index: number, value: bigint): void;
  /** Copies entries present in src and empty in dst over [first, first + n); returns how many. */
  syncEntries(dst: number, src: number, first: number, n: number): number;
}

/** The exports of assembly/kernel/ (u64 crosses as a signed BigInt). */
interface KernelExports {
  kFramesInit(base: number, frames: number): void;
  kClaim(pfn: number, flags: number): number;
  kInjectFailure(n: number): void;
  kFreeCount(): number;
  kTablePages(): number;
  kReserved(): number;
  kStatBlock(): number;
  kFrameInfo(pfn: number): number;
  kFrameCount(pfn: number): number;
  kTake(table: number, zero: number): number;
  kFree(pfn: number): void;
  kReserve(n: number): number;
  kReserveHuge(count: number, frames: number): number;
  kRelease(): void;
  kGeoLevel(level: number, shift: number, idxBits: number, flags: number, tableBits: number): void;
  kGeoInit(top: number, entryBytes: number): void;
  kCountBegin(): void;
  kNeedTables(): number;
  kNeedFrames(): number;
  kNeedHuge(): number;
  kCountSplit(root: number, start: bigint, end: bigint, level: number): void;
  kSplit(root: number, start: bigint, end: bigint, level: number): void;
  kCountCopy(root: number, start: bigint, end: bigint): void;
  kCopy(src: number, dst: number, start: bigint, end: bigint, cow: number, shared: number): void;
  kZap(root: number, start: bigint, end: bigint, floor: bigint, ceiling: bigint, clear: number): void;
  kProtect(root: number, start: bigint, end: bigint, clearBits: bigint, setBits: bigint): void;
  kCountPopulate(root: number, start: bigint, end: bigint, write: number, src: number, level: number): void;
  kPopulate(
    root: number, start: bigint, end: bigint, write: number, src: number, level: number,
    template: bigint, zeroEntry: bigint, phys: bigint,
  ): void;
  kCloneEntries(dst: number, src: number, first: number, n: number): void;
  kSyncEntries(dst: number, src: number, first: number, n: number): number;
}

const s64 = (v: bigint) => BigInt.asIntN(64, v);

/** The WebAssembly KernelCore of a Machine's core instance. */
export function wasmCore(access: CoreAccess): KernelCore {
  const k = access.exports as unknown as KernelExports;
  const framesBlock = access.blocks.extra!;
  const ram = new DataView(access.memory.buffer, access.ramOffset);
  let entryBytes = 8;
  return {
    stat: new Float64Array(access.memory.buffer, k.kStatBlock(), KS_COUNT),
    framesInit: (n) => k.kFramesInit(framesBlock.offset, n),
    claim: (pfn, flags) => k.kClaim(pfn, flags) !== 0,
    injectFailure: (n) => k.kInjectFailure(n),
    freeCount: () => k.kFreeCount(),
    tablePages: () => k.kTablePages(),
    reserved: () => k.kReserved(),
    frameInfo: (pfn) => k.kFrameInfo(pfn) >>> 0,
    frameCount: (pfn) => k.kFrameCount(pfn) >>> 0,
    reserve: (n) => k.kReserve(n) !== 0,
    reserveHuge: (count, frames) => k.kReserveHuge(count, frames) !== 0,
    release: () => k.kRelease(),
    take: (table, zero) => k.kTake(table ? 1 : 0, zero ? 1 : 0),
    free: (pfn) => k.kFree(pfn),
    geoLevel: (level, shift, idxBits, flags, tableBits) => k.kGeoLevel(level, shift, idxBits, flags, tableBits),
    geoInit: (top, bytes) => {
      entryBytes = bytes;
      k.kGeoInit(top, bytes);
    },
    countBegin: () => k.kCountBegin(),
    needTables: () => k.kNeedTables(),
    needFrames: () => k.kNeedFrames(),
    needHuge: () => k.kNeedHuge(),
    countSplit: (root, start, end, level) => k.kCountSplit(root, start, end, level),
    split: (root, start, end, level) => k.kSplit(root, start, end, level),
    countCopy: (root, start, end) => k.kCountCopy(root, start, end),
    copy: (src, dst, start, end, cow, shared) => k.kCopy(src, dst, start, end, cow ? 1 : 0, shared ? 1 : 0),
    zap: (root, start, end, floor, ceiling, clear) => k.kZap(root, start, end, floor, ceiling, clear ? 1 : 0),
    protect: (root, start, end, clearBits, setBits) => k.kProtect(root, start, end, s64(clearBits), s64(setBits)),
    countPopulate: (root, start, end, write, src, level) => k.kCountPopulate(root, start, end, write ? 1 : 0, src, level),
    populate: (root, start, end, write, src, level, template, zeroEntry, phys) =>
      k.kPopulate(root, start, end, write ? 1 : 0, src, level, s64(template), s64(zeroEntry), phys),
    cloneEntries: (dst, src, first, n) => k.kCloneEntries(dst, src, first, n),
    syncEntries: (dst, src, first, n) => k.kSyncEntries(dst, src, first, n),
    readEntry: (pfn, index) => {
      const at = pfn * 4096 + index * entryBytes;
      return entryBytes === 8 ? ram.getBigUint64(at, true) : BigInt(ram.getUint32(at, true));
    },
    writeEntry: (pfn, index, value) => {
      const at = pfn * 4096 + index * entryBytes;
      if (entryBytes === 8) ram.setBigUint64(at, value, true);
      else ram.setUint32(at, Number(value), true);
    },
  };
}
