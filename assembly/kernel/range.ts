// The kernel's one range loop: every operation on a range of a page-table tree (copy for fork,
// zap for munmap and exit, protect for mprotect, populate for faults, touch, vmalloc and the
// boot direct map, and the count passes that size their reservations) walks it here, with
// Linux's wrap-safe pXd_addr_end boundaries. The loop is written once over the level number;
// the design's geometry (kgeo) gives each level's shift, index bits and flags, and the entry
// size (4 or 8 bytes) is the generic parameter E. A folded level (p4d on 4-level hardware,
// pud/pmd of 2-level i386) is a level the loop passes through without reading memory.

import { ramBase, ramSize } from "../state";
import { PTE_A, PTE_D, PTE_PS, PTE_RW, PTE_SW_SPECIAL, PTE_XD } from "../x86";
import {
  FI_TABLE, framesBase, KS_COPIED, KS_FAULTS, KS_FRAMES_COPIED, KS_LEVELS, KS_READ, KS_REPLACED, KS_VISITED, KS_WRITTEN,
  PAGE_SIZE, frameAddr, frameCount, freeTable, kadd, meta, nFrames, putFrame, take, takeHuge,
} from "./frames";

// Geometry of the design's software levels, 1 (PTE) .. kTop, 16 bytes per level.
const kgeo = memory.data(8 * 16);
export const KG_FOLDED: u32 = 1; // no table of its own: entries pass through to the level below
export const KG_LARGE: u32 = 2; //  a PS entry here is a large leaf
export const KG_KEEP: u32 = 4; //   tables below this level's entries live as long as the root (PAE PMDs)
let kTop: u32 = 4;
let wide: bool = true; // 8-byte entries

@inline function gShift(level: u32): u64 { return <u64>load<u32>(kgeo + (<usize>level << 4)); }
@inline function gMask(level: u32): u64 { return <u64>load<u32>(kgeo + (<usize>level << 4), 4); }
@inline function gFlags(level: u32): u32 { return load<u32>(kgeo + (<usize>level << 4), 8); }
@inline function gTableBits(level: u32): u64 { return <u64>load<u32>(kgeo + (<usize>level << 4), 12); }

/** Sets one software level of the design's geometry (tableBits: flags of an entry pointing to a table). */
export function kGeoLevel(level: u32, shift: u32, idxBits: u32, flags: u32, tableBits: u32): void {
  const g = kgeo + (<usize>level << 4);
  store<u32>(g, shift);
  store<u32>(g, idxBits ? (1 << idxBits) - 1 : 0, 4);
  store<u32>(g, flags, 8);
  store<u32>(g, tableBits, 12);
}

export function kGeoInit(top: u32, entryBytes: u32): void {
  kTop = top;
  wide = entryBytes == 8;
}

// Bits the OS owns in an entry (9..11).
const PTE_SPECIAL: u64 = PTE_SW_SPECIAL; // no reference count (zero page, ioremap, kernel image)

const OP_COPY: u32 = 1;
const OP_ZAP: u32 = 2;
const OP_PROTECT: u32 = 3;
const OP_POPULATE: u32 = 4;
const OP_COUNT_COPY: u32 = 5;
const OP_COUNT_POPULATE: u32 = 6;
const OP_SPLIT: u32 = 7;
const OP_COUNT_SPLIT: u32 = 8;

const NO_TABLE: u64 = <u64>-1; // a table the count pass knows is still to be allocated

export const SRC_ANON: u32 = 0; // user memory: zero page on read, new zeroed frame on write, COW breaks
export const SRC_NEW: u32 = 1; //  a new zeroed frame for every empty entry (vmalloc, shared anonymous)
export const SRC_PHYS: u32 = 2; // consecutive physical frames from physCursor, special (ioremap, direct map)

// Parameters of the running operation.
let op: u32 = 0;
let leafLevel: u32 = 1;
let copyCow: bool = false;
let copyClear: u64 = 0; //  bits cleared in the child's copy of a leaf (A; D for shared)
let copyFresh: bool = false; // the destination table was just taken and is not zeroed
let zapClear: bool = true;
let zapFloor: u64 = 0;
let zapCeiling: u64 = 0;
let protClear: u64 = 0;
let protSet: u64 = 0;
let popWrite: bool = false;
let popSrc: u32 = SRC_ANON;
let popTemplate: u64 = 0; //   leaf bits of a new frame
let popZeroEntry: u64 = 0; //  the whole entry mapping the zero page
let physCursor: u64 = 0;
let needTables: u32 = 0;
let needFrames: u32 = 0;
let needHuge: u32 = 0;
const lastSpan = memory.data(8 * 8); // per level: start address of the last table counted

// Work of the running call, added to kstat when it returns.
let visited: u64 = 0;
let readN: u64 = 0;
let writtenN: u64 = 0;
let copiedN: u64 = 0;
let levelsN: u64 = 0;
let framesCopiedN: u64 = 0;
let faultsN: u64 = 0;
let replacedN: u64 = 0;

function flushCounts(): void {
  kadd(KS_VISITED, visited);
  kadd(KS_READ, readN);
  kadd(KS_WRITTEN, writtenN);
  kadd(KS_COPIED, copiedN);
  kadd(KS_LEVELS, levelsN);
  kadd(KS_FRAMES_COPIED, framesCopiedN);
  kadd(KS_FAULTS, faultsN);
  kadd(KS_REPLACED, replacedN);
  visited = 0; readN = 0; writtenN = 0; copiedN = 0; levelsN = 0; framesCopiedN = 0; faultsN = 0; replacedN = 0;
}

/** Physical address bits of an entry (table or 4 KiB frame). */
@inline function entryAddr<E>(e: u64): u64 {
  return sizeof<E>() == 4 ? e & 0xFFFFF000 : e & 0x000FFFFFFFFFF000;
}

/** Linux's pXd_addr_end: the next boundary of a size-aligned block, or end; wrap-safe. */
@inline function addrEnd(addr: u64, end: u64, size: u64): u64 {
  const b = (addr + size) & ~(size - 1);
  return b - 1 < end - 1 ? b : end;
}

/** Is a table spanning [start, start + size) entirely inside [zapFloor, zapCeiling)? */
@inline function spanFreeable(start: u64, size: u64): bool {
  return start >= zapFloor && start + size - 1 <= zapCeiling - 1;
}

/** Counts a table the operation will need, once per table (walks go in address order). */
@inline function countTable(level: u32, spanStart: u64): void {
  const p = lastSpan + (<usize>level << 3);
  if (load<u64>(p) != spanStart) {
    store<u64>(p, spanStart);
    needTables++;
  }
}

/** The first level below `level` that has tables of its own. */
@inline function childLevel(level: u32): u32 {
  let l = level - 1;
  while (gFlags(l) & KG_FOLDED) l--;
  return l;
}

/** Is e a large leaf at this level (a PS entry where the design allows one)? */
@inline function isLarge(level: u32, e: u64): bool {
  return level > 1 && (e & PTE_PS) != 0 && (gFlags(level) & KG_LARGE) != 0;
}

/** Adds delta to the count of each of n frames from pfn (a large page counts every frame). */
function refFrames(pfn: u32, n: u32, delta: i32): void {
  for (let i: u32 = 0; i < n; i++) {
    const f = pfn + i;
    if (f >= nFrames) return;
    if (delta > 0) {
      const m = meta(f);
      store<u32>(m, load<u32>(m, 4) + 1, 4);
    } else {
      putFrame(f);
    }
  }
}

// ---- leaf visitors over n consecutive PTEs (level 1) -------------------------------------

/** fork: one pass that copies each PTE, write-protects private writable pages on both sides,
 *  marks the child's copy old and raises the frame's count. */
@inline function copyPtes<E>(sp: usize, dp: usize, n: usize): void {
  const end = sp + n * sizeof<E>();
  const cow = copyCow;
  const clear = ~copyClear;
  const limit = nFrames;
  const fb = framesBase;
  let copied: u64 = 0;
  let wp: u64 = 0;
  while (sp < end) {
    let e = <u64>load<E>(sp);
    if (e) {
      if (cow && (<u32>e & <u32>PTE_RW)) {
        e &= ~PTE_RW;
        store<E>(sp, <E>e);
        wp++;
      }
      if (!(<u32>e & <u32>PTE_SPECIAL)) {
        const pfn = <u32>(entryAddr<E>(e) >> 12);
        if (pfn < limit) {
          const m = fb + (<usize>pfn << 3);
          store<u32>(m, load<u32>(m, 4) + 1, 4);
        }
      }
      e &= clear;
      copied++;
    }
    store<E>(dp, <E>e);
    sp += sizeof<E>();
    dp += sizeof<E>();
  }
  visited += n;
  readN += n;
  writtenN += <u64>n + wp;
  copiedN += copied;
}

/** munmap / exit: drop each mapped frame's count (freeing at zero), clear the entry if asked. */
@inline function zapPtes<E>(p: usize, n: usize): void {
  const end = p + n * sizeof<E>();
  const clear = zapClear;
  const limit = nFrames;
  let written: u64 = 0;
  while (p < end) {
    const e = <u64>load<E>(p);
    if (e) {
      if (!(<u32>e & <u32>PTE_SPECIAL)) {
        const pfn = <u32>(entryAddr<E>(e) >> 12);
        if (pfn < limit) putFrame(pfn);
      }
      if (clear) {
        store<E>(p, 0);
        written++;
      }
    }
    p += sizeof<E>();
  }
  visited += n;
  readN += n;
  writtenN += written;
}

/** mprotect: new permission bits in every mapped entry. */
@inline function protectPtes<E>(p: usize, n: usize): void {
  const end = p + n * sizeof<E>();
  const clear = ~protClear;
  const set = protSet;
  let written: u64 = 0;
  while (p < end) {
    const e = <u64>load<E>(p);
    if (e) {
      store<E>(p, <E>((e & clear) | set));
      written++;
    }
    p += sizeof<E>();
  }
  visited += n;
  readN += n;
  writtenN += written;
}

/** Does populating this entry need a new frame? */
@inline function needsFrame<E>(e: u64): bool {
  if (popSrc == SRC_PHYS) return false;
  if (!e) return popSrc == SRC_NEW || popWrite;
  if (!popWrite || (e & PTE_RW)) return false;
  if (e & PTE_SPECIAL) return true; // zero page: a write gets its own page
  const pfn = <u32>(entryAddr<E>(e) >> 12);
  return pfn < nFrames && frameCount(pfn) > 1; // shared: copy; count 1: reuse
}

/** A new zeroed data frame from the reservation, as a leaf with the operation's template. */
@inline function newFrameEntry(): u64 {
  const f = take(0);
  memory.fill(frameAddr(f), 0, PAGE_SIZE);
  return (<u64>f << 12) | popTemplate;
}

/** Fault work on n PTEs: demand-zero, zero page on reads, copy-on-write breaks. */
function populatePtes<E>(p: usize, n: usize): void {
  const end = p + n * sizeof<E>();
  while (p < end) {
    const e = <u64>load<E>(p);
    readN++;
    let ne: u64 = 0;
    if (!e) {
      if (popSrc == SRC_PHYS) ne = physCursor | popTemplate;
      else if (popSrc == SRC_NEW || popWrite) ne = newFrameEntry();
      else ne = popZeroEntry;
    } else if (popWrite && popSrc == SRC_ANON && !(e & PTE_RW)) {
      if (e & PTE_SPECIAL) {
        ne = newFrameEntry();
      } else {
        const pfn = <u32>(entryAddr<E>(e) >> 12);
        if (pfn >= nFrames) {
          ne = 0; // not ours: leave it
        } else if (frameCount(pfn) == 1) {
          ne = e | PTE_RW | PTE_D | PTE_A; // the only user: reuse the page
        } else {
          const f = take(0);
          memory.copy(frameAddr(f), frameAddr(pfn), PAGE_SIZE);
          putFrame(pfn);
          framesCopiedN++;
          ne = (<u64>f << 12) | popTemplate;
        }
      }
    }
    if (ne) {
      store<E>(p, <E>ne);
      writtenN++;
      faultsN++;
      if (e) replacedN++;
    }
    physCursor += PAGE_SIZE;
    p += sizeof<E>();
  }
  visited += n;
}

/** Count pass of populate over n PTEs of an existing table. */
function countPtes<E>(p: usize, n: usize): void {
  const end = p + n * sizeof<E>();
  while (p < end) {
    if (needsFrame<E>(<u64>load<E>(p))) needFrames++;
    p += sizeof<E>();
  }
  visited += n;
  readN += n;
}

// ---- the loop ------------------------------------------------------------------------------

/**
 * Runs the current operation over [addr, end) of the table at level `level` (physical address
 * `table`; `dtable` is the destination table of a copy). [addr, end) lies inside the table's span.
 */
function rangeLevel<E>(level: u32, table: u64, dtable: u64, addr: u64, end: u64): void {
  levelsN++;
  const flags = gFlags(level);
  if (flags & KG_FOLDED) {
    rangeLevel<E>(level - 1, table, dtable, addr, end);
    return;
  }
  const shift = gShift(level);
  const mask = gMask(level);
  const first = (addr >> shift) & mask;
  const n = <usize>((((end - 1) >> shift) & mask) - first + 1);
  const esz = <usize>sizeof<E>();
  if (copyFresh) {
    // A new destination table: zero what this pass will not write.
    copyFresh = false;
    const d = ramBase + <usize>dtable;
    if (level == 1) {
      memory.fill(d, 0, <usize>first * esz);
      memory.fill(d + (<usize>first + n) * esz, 0, (<usize>mask + 1 - <usize>first - n) * esz);
    } else {
      memory.fill(d, 0, PAGE_SIZE);
    }
  }
  if (level == 1 && leafLevel == 1) {
    const p: usize = table == NO_TABLE ? <usize>0 : ramBase + <usize>table + <usize>first * esz;
    switch (op) {
      case OP_COPY: copyPtes<E>(p, ramBase + <usize>dtable + <usize>first * esz, n); break;
      case OP_ZAP: zapPtes<E>(p, n); break;
      case OP_PROTECT: protectPtes<E>(p, n); break;
      case OP_POPULATE: populatePtes<E>(p, n); break;
      case OP_COUNT_POPULATE:
        if (table == NO_TABLE) {
          if (popSrc != SRC_PHYS && (popSrc == SRC_NEW || popWrite)) needFrames += <u32>n;
        } else {
          countPtes<E>(p, n);
        }
        break;
      default: break;
    }
    return;
  }

  const size: u64 = <u64>1 << shift;
  const keep = (flags & KG_KEEP) != 0;
  let p = ramBase + <usize>table + <usize>first * esz;
  let dp = ramBase + <usize>dtable + <usize>first * esz;
  while (true) {
    const next = addrEnd(addr, end, size);
    const span = addr & ~(size - 1);
    visited++;
    if (table == NO_TABLE) {
      // Count pass below a table that does not exist yet.
      if (level == leafLevel) {
        if (popSrc != SRC_PHYS) needHuge++;
      } else {
        countTable(childLevel(level), span);
        rangeLevel<E>(level - 1, NO_TABLE, 0, addr, next);
      }
    } else {
      const e = <u64>load<E>(p);
      readN++;
      if (level == leafLevel) {
        largeAtLeafLevel<E>(level, p, e, size);
      } else if (isLarge(level, e)) {
        largeLeaf<E>(level, p, dp, e, addr, next, size);
      } else if (e) {
        const t = entryAddr<E>(e);
        if (t <= ramSize - PAGE_SIZE) {
          switch (op) {
            case OP_COPY: {
              let de = <u64>load<E>(dp);
              readN++;
              if (!de) {
                de = (<u64>take(FI_TABLE) << 12) | gTableBits(level);
                store<E>(dp, <E>de);
                writtenN++;
                copyFresh = true;
              }
              rangeLevel<E>(level - 1, t, entryAddr<E>(de), addr, next);
              break;
            }
            case OP_ZAP:
              rangeLevel<E>(level - 1, t, 0, addr, next);
              if (!keep && spanFreeable(span, size)) {
                freeTable(<u32>(t >> 12));
                if (zapClear) {
                  store<E>(p, 0);
                  writtenN++;
                }
              }
              break;
            case OP_COUNT_COPY:
              // Tables below a KEEP level come with the new root (PAE's PMDs).
              if (!keep) countTable(childLevel(level), span);
              if (childLevel(level) > 1) rangeLevel<E>(level - 1, t, 0, addr, next);
              break;
            default:
              rangeLevel<E>(level - 1, t, 0, addr, next);
          }
        }
      } else if (op == OP_POPULATE) {
        const t = <u64>take(FI_TABLE) << 12;
        memory.fill(ramBase + <usize>t, 0, PAGE_SIZE);
        store<E>(p, <E>(t | gTableBits(level)));
        writtenN++;
        rangeLevel<E>(level - 1, t, 0, addr, next);
      } else if (op == OP_COUNT_POPULATE) {
        countTable(childLevel(level), span);
        rangeLevel<E>(level - 1, NO_TABLE, 0, addr, next);
      }
    }
    if (next == end) break;
    addr = next;
    p += esz;
    dp += esz;
  }
}

/** Are all n frames from pfn referenced once (by this mapping alone)? */
function allOnce(pfn: u32, n: u32): bool {
  for (let i: u32 = 0; i < n; i++) {
    if (pfn + i >= nFrames || frameCount(pfn + i) != 1) return false;
  }
  return true;
}

/**
 * An entry at the level where the operation's leaves are large (leafLevel > 1): populate maps a
 * large page (physical range, or a new zeroed run) or breaks copy-on-write on one; split turns a
 * large leaf into a table of small ones; the count passes size their reservations.
 */
function largeAtLeafLevel<E>(level: u32, p: usize, e: u64, size: u64): void {
  const frames = <u32>(size >> 12);
  const large = isLarge(level, e);
  const base = <u32>((entryAddr<E>(e) & ~(size - 1)) >> 12);
  const cow = large && popWrite && popSrc == SRC_ANON && !(e & PTE_RW);
  if (op == OP_POPULATE) {
    let ne: u64 = 0;
    if (!e) {
      if (popSrc == SRC_PHYS) {
        ne = physCursor | popTemplate | PTE_PS;
      } else {
        const f = takeHuge();
        memory.fill(frameAddr(f), 0, <usize>size);
        ne = (<u64>f << 12) | popTemplate | PTE_PS;
      }
    } else if (cow) {
      if (allOnce(base, frames)) {
        ne = e | PTE_RW | PTE_D | PTE_A; // the only user: reuse the page
      } else {
        const f = takeHuge();
        memory.copy(frameAddr(f), frameAddr(base), <usize>size);
        refFrames(base, frames, -1);
        framesCopiedN += frames;
        ne = (<u64>f << 12) | popTemplate | PTE_PS;
      }
    }
    if (ne) {
      store<E>(p, <E>ne);
      writtenN++;
      faultsN++;
      if (e) replacedN++;
    }
  } else if (op == OP_COUNT_POPULATE) {
    if (!e ? popSrc != SRC_PHYS : cow && !allOnce(base, frames)) needHuge++;
  } else if (op == OP_SPLIT && large) {
    // The same frames and rights in a table of small leaves (PS and a large page's PAT bit off).
    const t = take(FI_TABLE);
    const bits = (e & 0xFFF & ~PTE_PS) | (e & PTE_XD);
    const n = <u32>gMask(1) + 1;
    let d = frameAddr(t);
    let pa = <u64>base << 12;
    for (let j: u32 = 0; j < n; j++) {
      store<E>(d, <E>(pa | bits));
      d += sizeof<E>();
      pa += PAGE_SIZE;
    }
    store<E>(p, <E>((<u64>t << 12) | gTableBits(level)));
    writtenN += <u64>n + 1;
  } else if (op == OP_COUNT_SPLIT && large) {
    needTables++;
  }
  physCursor += size;
}

/** A large leaf met by copy, zap or protect (the facade splits partly covered ones first). */
@inline function largeLeaf<E>(level: u32, p: usize, dp: usize, e: u64, addr: u64, next: u64, size: u64): void {
  const whole = (addr & (size - 1)) == 0 && next - addr == size;
  const special = (e & PTE_SPECIAL) != 0;
  const pfn = <u32>((entryAddr<E>(e) & ~(size - 1)) >> 12);
  const frames = <u32>(size >> 12);
  if (op == OP_COPY) {
    let s = e;
    if (copyCow && (e & PTE_RW)) {
      s = e & ~PTE_RW;
      store<E>(p, <E>s);
      writtenN++;
    }
    if (!special) refFrames(pfn, frames, 1);
    store<E>(dp, <E>(s & ~copyClear));
    writtenN++;
    copiedN++;
  } else if (op == OP_ZAP && whole) {
    if (!special) refFrames(pfn, frames, -1);
    if (zapClear) {
      store<E>(p, 0);
      writtenN++;
    }
  } else if (op == OP_PROTECT && whole) {
    store<E>(p, <E>((e & ~protClear) | protSet));
    writtenN++;
  }
}

/** Runs op over [start, end) from a root table (pfn), in the design's entry size. */
function run(root: u32, droot: u32, start: u64, end: u64): void {
  const r = <u64>root << 12;
  const d = <u64>droot << 12;
  if (wide) rangeLevel<u64>(kTop, r, d, start, end);
  else rangeLevel<u32>(kTop, r, d, start, end);
  flushCounts();
}

// ---- exports: one per operation -------------------------------------------------------------

/** Starts a sequence of count passes (tables are counted once across calls in address order). */
export function kCountBegin(): void {
  needTables = 0;
  needFrames = 0;
  needHuge = 0;
  memory.fill(lastSpan, 0xff, 8 * 8);
}
export function kNeedTables(): u32 { return needTables; }
export function kNeedFrames(): u32 { return needFrames; }
export function kNeedHuge(): u32 { return needHuge; }

/** Counts the tables a copy of [start, end) into a new tree will allocate. */
export function kCountCopy(root: u32, start: u64, end: u64): void {
  op = OP_COUNT_COPY;
  leafLevel = 1;
  run(root, 0, start, end);
}

/** fork's copy_page_range over one VMA: cow for private writable mappings, shared otherwise. */
export function kCopy(src: u32, dst: u32, start: u64, end: u64, cow: bool, shared: bool): void {
  op = OP_COPY;
  leafLevel = 1;
  copyCow = cow;
  copyClear = shared ? PTE_A | PTE_D : PTE_A;
  copyFresh = false;
  run(src, dst, start, end);
}

/**
 * Unmaps [start, end): drops frame counts, clears entries (unless clear = false, for a tree
 * about to be freed whole), and frees each table whose span lies inside [floor, ceiling).
 */
export function kZap(root: u32, start: u64, end: u64, floor: u64, ceiling: u64, clear: bool): void {
  op = OP_ZAP;
  leafLevel = 1;
  zapFloor = floor;
  zapCeiling = ceiling;
  zapClear = clear;
  run(root, 0, start, end);
}

/** mprotect: in every mapped leaf of [start, end), clears clearBits then sets setBits. */
export function kProtect(root: u32, start: u64, end: u64, clearBits: u64, setBits: u64): void {
  op = OP_PROTECT;
  leafLevel = 1;
  protClear = clearBits;
  protSet = setBits;
  run(root, 0, start, end);
}

function popParams(write: bool, src: u32, level: u32): void {
  popWrite = write;
  popSrc = src;
  leafLevel = level;
}

/** Count pass of kPopulate: adds the tables and frames it will take to kNeedTables/kNeedFrames. */
export function kCountPopulate(root: u32, start: u64, end: u64, write: bool, src: u32, level: u32): void {
  op = OP_COUNT_POPULATE;
  popParams(write, src, level);
  run(root, 0, start, end);
}

/**
 * Fault work over [start, end): missing tables, new leaves (template bits | frame), the zero
 * page for private reads (zeroEntry), copy-on-write breaks on writes; leaves at `level`.
 */
export function kPopulate(
  root: u32, start: u64, end: u64, write: bool, src: u32, level: u32, template: u64, zeroEntry: u64, phys: u64,
): void {
  op = OP_POPULATE;
  popParams(write, src, level);
  popTemplate = template;
  popZeroEntry = zeroEntry;
  physCursor = phys;
  run(root, 0, start, end);
}

/** Count pass of kSplit: adds a table for each large leaf at `level` in [start, end). */
export function kCountSplit(root: u32, start: u64, end: u64, level: u32): void {
  op = OP_COUNT_SPLIT;
  leafLevel = level;
  run(root, 0, start, end);
}

/** Splits every large leaf at `level` in [start, end) into a table of small leaves (split_huge_page). */
export function kSplit(root: u32, start: u64, end: u64, level: u32): void {
  op = OP_SPLIT;
  leafLevel = level;
  run(root, 0, start, end);
}

/** Copies n entries from one table to another (a new root's kernel half, a vmalloc sync). */
export function kCloneEntries(dst: u32, src: u32, first: u32, n: u32): void {
  const esz: usize = wide ? 8 : 4;
  memory.copy(frameAddr(dst) + <usize>first * esz, frameAddr(src) + <usize>first * esz, <usize>n * esz);
  kadd(KS_READ, n);
  kadd(KS_WRITTEN, n);
  kadd(KS_COPIED, n);
}

/**
 * Copies each entry of src in [first, first + n) that is present there and empty in dst
 * (vmalloc_sync_one, vmalloc_fault); returns how many were copied.
 */
export function kSyncEntries(dst: u32, src: u32, first: u32, n: u32): u32 {
  const esz: usize = wide ? 8 : 4;
  let s = frameAddr(src) + <usize>first * esz;
  let d = frameAddr(dst) + <usize>first * esz;
  let copied: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e: u64 = wide ? load<u64>(s) : <u64>load<u32>(s);
    const de: u64 = wide ? load<u64>(d) : <u64>load<u32>(d);
    if (e && !de) {
      if (wide) store<u64>(d, e);
      else store<u32>(d, <u32>e);
      copied++;
    }
    s += esz;
    d += esz;
  }
  kadd(KS_VISITED, n);
  kadd(KS_READ, 2 * n);
  kadd(KS_WRITTEN, copied);
  kadd(KS_COPIED, copied);
  return copied;
}
