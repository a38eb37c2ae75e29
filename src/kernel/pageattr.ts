// Changing the rights of the direct map (arch/x86/mm/pageattr.c: set_memory_ro/rw/nx/x,
// change_page_attr): split the large pages the range cuts through, protect, copy the change
// into the pgds that hold their own copies, flush_tlb_all.

import { checkBool, checkInt, checkOptions, checkU } from "../errors.js";
import { KernelError } from "./constants.js";
import { cutBlocks, splitBlocks } from "./huge.js";
import { kernelRoot } from "./pgalloc.js";
import { PAGE, hex, pageUp, type KernelState } from "./state.js";
import { flushTlbAll } from "./tlbflush.js";
import { syncSlot } from "./vmalloc.js";
import { PTE_RW } from "../x86.js";

export interface PageRights {
  write: boolean;
  execute: boolean;
}

/**
 * New rights for the kernel pages of [va, va + length) in the reference tables. Where processes
 * hold their own copies of the changed entries (i386's pgds, the unshared PAE kernel PMDs) the
 * change is copied into every pgd on the pgd list (set_pmd_pte), counted in vmallocSyncs;
 * elsewhere the tables below are shared.
 */
export function setMemory(k: KernelState, va: bigint, length: number, rights: PageRights): void {
  const start = checkU("va", va) & ~(PAGE - 1n);
  checkInt("length", length, 1, 1 << 30);
  const r = checkOptions<PageRights>("rights", rights, ["write", "execute"]);
  const write = checkBool("rights.write", r.write);
  const execute = checkBool("rights.execute", r.execute);
  const d = k.design;
  const end = pageUp(va + BigInt(length));
  if (start < d.pageOffset || end > d.pageOffset + k.lowmem) {
    throw new KernelError("EINVAL", `${hex(start)}..${hex(end)} is not in the direct map`);
  }
  const root = kernelRoot(k, start);
  const level = k.levelOfShift(d.directMapPage);
  const big = 1n << BigInt(d.directMapPage);
  splitBlocks(k, null, root, cutBlocks(k, root, start, end, big, level), big, level);
  k.core.protect(root, start, end, PTE_RW | k.nx, (write ? PTE_RW : 0n) | (execute ? 0n : k.nx));
  k.absorb(null);
  for (const mm of d.pgdList ? k.pgdList : []) {
    const [dst, src, first] = syncSlot(k, mm, start)!;
    const n = syncSlot(k, mm, end - 1n)![2] - first + 1;
    k.core.cloneEntries(dst, src, first, n);
    k.absorb(mm);
    k.count(mm, "vmallocSyncs", n);
  }
  flushTlbAll(k, null);
}
