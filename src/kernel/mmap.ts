// Mapping and unmapping (mm/mmap.c, arch/x86/mm/mmap.c): mmap with get_unmapped_area and the
// 5-level 47-bit hint rule, shared anonymous memory populated at mmap time, munmap and brk.

import { checkInt, checkOptions, checkU } from "../errors.js";
import {
  KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE,
  PROT_READ, PROT_WRITE,
} from "./constants.js";
import { KG_FOLDED, SRC_ANON, SRC_NEW } from "./core.js";
import { edgeBlocks, splitBlocks, splitEdges } from "./huge.js";
import { checkLength, populate } from "./memory.js";
import type { Mm } from "./mm.js";
import { leafBits } from "./pte.js";
import { reserved } from "./reserve.js";
import { PAGE, alignUp, hex, pageUp, type KernelState } from "./state.js";
import { flushTlbRange } from "./tlbflush.js";
import type { Vma } from "./vma.js";

export interface MmapArgs {
  addr?: bigint;
  length: number | bigint;
  prot: number;
  flags: number;
}

export const KNOWN_PROT = PROT_READ | PROT_WRITE | PROT_EXEC;
const KNOWN_MAP_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB;
/** mmap_min_addr: nothing is mapped below 64 KiB unless MAP_FIXED. */
const MMAP_MIN_ADDR = PAGE * 16n;

/** EINVAL for prot bits mmap and mprotect do not know. */
export function checkProt(prot: unknown): number {
  const p = checkInt("prot", prot, 0, 0x7fffffff);
  if (p & ~KNOWN_PROT) throw new KernelError("EINVAL", `prot 0x${p.toString(16)} has unknown bits`);
  return p;
}

export function mmap(k: KernelState, mm: Mm, args: MmapArgs): bigint {
  const a = checkOptions<MmapArgs>("mmap args", args, ["addr", "length", "prot", "flags"]);
  const prot = checkInt("prot", a.prot, 0, 0x7fffffff);
  const flags = checkInt("flags", a.flags, 0, 0x7fffffff);
  const length = checkLength(a.length);
  const hint = a.addr === undefined ? 0n : checkU("addr", a.addr);
  checkProt(prot);
  if (flags & ~KNOWN_MAP_FLAGS) throw new KernelError("EINVAL", `flags 0x${flags.toString(16)} has unsupported bits`);
  const type = flags & (MAP_SHARED | MAP_PRIVATE);
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) throw new KernelError("EINVAL", "flags must have exactly one of MAP_SHARED and MAP_PRIVATE");
  if (!(flags & MAP_ANONYMOUS)) throw new KernelError("EINVAL", "only MAP_ANONYMOUS mappings are supported (no files)");
  if (length === 0n) throw new KernelError("EINVAL", "length is 0");
  const huge = (flags & MAP_HUGETLB) !== 0;
  const align = huge ? k.hugePageSize : PAGE;
  const len = alignUp(length, align);
  if (len > k.userTop) throw new KernelError("ENOMEM", `length ${hex(len)} exceeds the address space`);
  let addr: bigint;
  if (flags & MAP_FIXED) {
    if (hint & (align - 1n)) throw new KernelError("EINVAL", `MAP_FIXED address ${hex(hint)} is not aligned`);
    if (hint > k.userTop - len) throw new KernelError("ENOMEM", `${hex(hint)} + ${hex(len)} is beyond TASK_SIZE ${hex(k.userTop)}`);
    addr = hint;
  } else {
    addr = unmappedArea(k, mm, hint, len, align);
  }
  const vma: Vma = { start: addr, end: addr + len, prot, shared: type === MAP_SHARED, huge };
  const level = huge ? k.hugeLevel : 1;
  // MAP_FIXED over part of a large page splits it first (the unmap would otherwise zap part of a
  // large leaf and lose the whole large page).
  const cut = flags & MAP_FIXED ? edgeBlocks(k, mm, addr, addr + len) : [];
  const place = () => {
    if (flags & MAP_FIXED) unmap(k, mm, addr, addr + len);
    mm.vmas.insert(vma);
  };
  if (vma.shared) {
    // Shared anonymous memory is populated here, so that every process mapping it (fork)
    // maps the same frames: reserve first (all or nothing, the split's tables too), then
    // split, unmap and map.
    const H = k.hugePageSize;
    reserved(
      k, mm,
      {
        what: `a shared mapping of ${hex(len)} bytes`,
        count: (c) => cut.forEach((b) => c.countSplit(mm.root, b, b + H, k.hugeLevel)),
        frames: tablesUpTo(k, addr, len) + (huge ? 0 : Number(len / PAGE)),
        runs: huge ? Number(len / align) : 0,
      },
      (c) => {
        cut.forEach((b) => c.split(mm.root, b, b + H, k.hugeLevel));
        place();
        c.populate(mm.root, addr, addr + len, true, SRC_NEW, level, leafBits(k, vma, false), 0n, 0n);
      },
    );
  } else {
    splitBlocks(k, mm, mm.root, cut, k.hugePageSize, k.hugeLevel);
    place();
    if (flags & MAP_POPULATE && prot !== PROT_NONE) populate(k, mm, [[vma, addr, addr + len, level]], (prot & PROT_WRITE) !== 0, SRC_ANON, true);
  }
  return addr;
}

/** An upper bound of the table pages a populate of [addr, addr + len) takes. */
function tablesUpTo(k: KernelState, addr: bigint, len: bigint): number {
  let n = 0;
  for (const l of k.design.levels.slice(1)) {
    if (l.flags & KG_FOLDED) continue;
    const span = 1n << BigInt(l.shift + l.bits);
    n += Number((addr + len - 1n) / span - addr / span) + 1;
  }
  return n;
}

/** get_unmapped_area: the hint if free (and valid for the 47-bit window), else top-down from mmap_base. */
function unmappedArea(k: KernelState, mm: Mm, hint: bigint, len: bigint, align: bigint): bigint {
  const window = k.design.mapWindow;
  const top = k.userTop;
  if (hint) {
    const a = alignUp(hint, align);
    // mmap_address_hint_valid: below TASK_SIZE, and not straddling the 47-bit window.
    const valid = a <= top - len && (a + len > window) === (a > window);
    if (valid && a >= MMAP_MIN_ADDR && mm.vmas.isFree(a, a + len)) return a;
  }
  let high = mm.mmapBase;
  if (hint > window) high += top - window; // a high hint opens the full address space
  const found = mm.vmas.topDown(len, MMAP_MIN_ADDR, high, align) ?? mm.vmas.topDown(len, MMAP_MIN_ADDR, window, align);
  if (found === undefined) throw new KernelError("ENOMEM", `no free range of ${hex(len)} bytes`);
  return found;
}

/** Removes [start, end) from the address space: zap, free page tables, flush (unmap_region). */
export function unmap(k: KernelState, mm: Mm, start: bigint, end: bigint): void {
  if (mm.vmas.isFree(start, end)) return;
  mm.vmas.splitAt(start);
  mm.vmas.splitAt(end);
  const floor = mm.vmas.floorBelow(start);
  const ceiling = mm.vmas.ceilingAbove(end);
  k.core.zap(mm.root, start, end, floor, ceiling, true);
  mm.vmas.remove(start, end);
  k.absorb(mm);
  flushTlbRange(k, mm, start, end);
}

/** A page-aligned [addr, addr + length) of user space (EINVAL otherwise), as munmap and mprotect check it. */
export function userRange(k: KernelState, addr: bigint, length: number | bigint): [bigint, bigint] {
  const start = checkU("addr", addr);
  const len = checkLength(length);
  if (start & (PAGE - 1n)) throw new KernelError("EINVAL", `addr ${hex(start)} is not page aligned`);
  return [start, start + pageUp(len)];
}

export function munmap(k: KernelState, mm: Mm, addr: bigint, length: number | bigint): void {
  const [start, end] = userRange(k, addr, length);
  if (start === end) throw new KernelError("EINVAL", "length is 0");
  if (end > k.userTop) throw new KernelError("EINVAL", `${hex(start)} + ${hex(end - start)} is beyond TASK_SIZE`);
  splitEdges(k, mm, start, end);
  unmap(k, mm, start, end);
}

/** brk: sets the program break if it can and returns it (without an argument, returns it). */
export function brk(k: KernelState, mm: Mm, addr?: bigint): bigint {
  if (addr === undefined) return mm.brk;
  const want = checkU("addr", addr);
  if (want < mm.brkStart) return mm.brk;
  const oldEnd = pageUp(mm.brk);
  const newEnd = pageUp(want);
  if (newEnd > oldEnd) {
    // Leave a guard page before the next area, as Linux does.
    if (newEnd + PAGE > k.userTop || !mm.vmas.isFree(oldEnd, newEnd + PAGE)) return mm.brk;
    mm.vmas.insert({ start: oldEnd, end: newEnd, prot: PROT_READ | PROT_WRITE, shared: false, huge: false });
  } else if (newEnd < oldEnd) {
    unmap(k, mm, newEnd, oldEnd);
  }
  mm.brk = want;
  return mm.brk;
}
