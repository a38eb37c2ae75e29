// Large pages for user memory (mm/huge_memory.c, mm/hugetlb.c): the MAP_HUGETLB fault that maps
// a whole block with one large leaf, its copy-on-write with a split fallback when no aligned
// run of free frames is left, and split_huge_page where munmap or mprotect cuts a large page.

import { SRC_ANON, KS } from "./core.js";
import type { Mm } from "./mm.js";
import { entryAt, leafBits, zeroEntry } from "./pte.js";
import { reserved, reservedOrSmall } from "./reserve.js";
import { PAGE, hex, type KernelState } from "./state.js";
import { flushTlbRange } from "./tlbflush.js";
import type { Vma } from "./vma.js";
import { PTE_PS } from "../x86.js";

/** The large-page block containing va. */
export const blockOf = (k: KernelState, va: bigint) => va & ~(k.hugePageSize - 1n);

/** Does a table of small pages already sit where va's large page would go? */
export function tableAt(k: KernelState, mm: Mm, va: bigint): boolean {
  const e = entryAt(k, mm.root, va, k.hugeLevel);
  return e !== 0n && !(e & PTE_PS);
}

/** Is there a large leaf where va's large page goes? */
const largeAt = (k: KernelState, root: number, va: bigint, level: number) => (entryAt(k, root, va, level) & PTE_PS) !== 0n;

/**
 * A fault in a MAP_HUGETLB area whose block holds no small-page table: a large page for the
 * whole block (transparent-huge-page style). Returns false if it did not map one (no aligned
 * run of free frames left and no large page to split): the caller maps a small page.
 */
export function hugeFault(k: KernelState, mm: Mm, v: Vma, va: bigint, write: boolean): boolean {
  const H = k.hugePageSize;
  const block = blockOf(k, va);
  const level = k.hugeLevel;
  const mapped = reservedOrSmall(
    k, mm,
    { what: `a page table at ${hex(block)}`, count: (c) => c.countPopulate(mm.root, block, block + H, write, SRC_ANON, level) },
    (c) => {
      c.populate(mm.root, block, block + H, write, SRC_ANON, level, leafBits(k, v, write), zeroEntry(k, v), 0n);
      return c.stat[KS.entriesReplaced]!;
    },
  );
  if (mapped !== undefined) {
    if (mapped) flushTlbRange(k, mm, block, block + H);
    return true;
  }
  if (!largeAt(k, mm.root, block, level)) return false;
  // Copy-on-write of a shared large page with no run to copy it to: split it, copy one page.
  const page = va & ~(PAGE - 1n);
  reserved(
    k, mm,
    { what: `splitting the large page at ${hex(block)}`, count: (c) => c.countSplit(mm.root, block, block + H, level), frames: 1 },
    (c) => {
      c.split(mm.root, block, block + H, level);
      c.populate(mm.root, page, page + PAGE, write, SRC_ANON, 1, leafBits(k, v, write), zeroEntry(k, v), 0n);
    },
  );
  flushTlbRange(k, mm, block, block + H);
  return true;
}

/**
 * Splits the large leaves at `level` of these blocks (of `size` bytes) into small pages
 * (split_huge_page; the direct map's for set_memory), all or nothing.
 */
export function splitBlocks(k: KernelState, mm: Mm | null, root: number, blocks: bigint[], size: bigint, level: number): void {
  if (!blocks.length) return;
  reserved(
    k, mm,
    { what: `splitting the large page at ${hex(blocks[0]!)}`, count: (c) => blocks.forEach((b) => c.countSplit(root, b, b + size, level)) },
    (c) => blocks.forEach((b) => c.split(root, b, b + size, level)),
  );
}

/** The blocks of `size` bytes with a large leaf at `level` that [start, end) cuts through. */
export function cutBlocks(k: KernelState, root: number, start: bigint, end: bigint, size: bigint, level: number, inArea = (_b: bigint) => true): bigint[] {
  const blocks: bigint[] = [];
  for (const at of [start, end]) {
    const b = at & ~(size - 1n);
    if (at !== b && !blocks.includes(b) && inArea(b) && largeAt(k, root, b, level)) blocks.push(b);
  }
  return blocks;
}

/** The large pages of mm's MAP_HUGETLB areas that [start, end) cuts through. */
export function edgeBlocks(k: KernelState, mm: Mm, start: bigint, end: bigint): bigint[] {
  return cutBlocks(k, mm.root, start, end, k.hugePageSize, k.hugeLevel, (b) => mm.vmas.find(b)?.huge === true);
}

/** Splits the large pages that [start, end) cuts through (munmap, mprotect, MAP_FIXED over part of one). */
export function splitEdges(k: KernelState, mm: Mm, start: bigint, end: bigint): void {
  splitBlocks(k, mm, mm.root, edgeBlocks(k, mm, start, end), k.hugePageSize, k.hugeLevel);
}
