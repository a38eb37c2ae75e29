// Page-directory allocation (arch/x86/mm/pgtable.c, include/asm/pgalloc.h): pgd_alloc and
// pgd_free per design — the kernel half copied from the reference table (x86_64), PAE's
// preallocated PMDs with the kernel PMD shared or copied, the pgd list — and the kernel's own
// table for a kernel address (pgd_offset_k; 2.4: the page behind a per-CPU PML4 slot).

import type { Mm } from "./mm.js";
import { pfnOf } from "./pte.js";
import { reserved } from "./reserve.js";
import type { KernelState } from "./state.js";
import { allocPcid } from "./tlbflush.js";
import { PTE_A, PTE_D, PTE_P, PTE_RW } from "../x86.js";

/** PAE: the page-directory-pointer table has 4 entries; entry 3 maps the kernel (3-4 GiB). */
const PAE_USER_PMDS = 3;
const PAE_KERNEL_SLOT = 3;
/** PML4 slot (bits 47:39) of an address. */
export const pml4Slot = (va: bigint) => Number((va >> 39n) & 511n);

/** Tables a new pgd comes with (pgd_alloc): the pgd, and PAE's preallocated PMDs. */
export const rootTables = (k: KernelState) => 1 + k.design.paePmds;

/** Takes n zeroed table pages, all or nothing. */
export function allocTables(k: KernelState, n: number, what: string): number[] {
  return reserved(k, null, { what, frames: n }, (c) => Array.from({ length: n }, () => c.take(true, true)));
}

/** The kernel PMD of the reference tables (PAE). */
export function refKernelPmd(k: KernelState): number {
  return pfnOf(k, k.core.readEntry(k.refRoot, PAE_KERNEL_SLOT));
}

/** The table whose entries the range loop starts from for a kernel address (pgd_offset_k). */
export function kernelRoot(k: KernelState, va: bigint): number {
  if (!k.design.perCpuPml4) return k.refRoot;
  // 2.4: the common code's pgd for a kernel address is the page behind its PML4 slot.
  const slot = pml4Slot(va);
  let pgd = k.slotPgd.get(slot);
  if (pgd === undefined) {
    pgd = allocTables(k, 1, "a kernel pgd")[0]!;
    k.slotPgd.set(slot, pgd);
    k.core.writeEntry(k.cpuPml4, slot, (BigInt(pgd) << 12n) | PTE_P | PTE_RW | PTE_A | PTE_D);
    k.count(null, "entriesWritten");
  }
  return pgd;
}

/** Takes back a kernel pgd that kernelRoot() made just now for a slot (an all-or-nothing undo). */
export function dropKernelRoot(k: KernelState, va: bigint): void {
  const slot = pml4Slot(va);
  k.core.writeEntry(k.cpuPml4, slot, 0n);
  k.core.free(k.slotPgd.get(slot)!);
  k.slotPgd.delete(slot);
}

/** pgd_alloc from the current reservation: mm's root with the kernel half as the design shares it. */
export function pgdAlloc(k: KernelState, mm: Mm): void {
  const d = k.design;
  const c = k.core;
  mm.root = c.take(true, true);
  if (d.paePmds) {
    for (let i = 0; i < PAE_USER_PMDS; i++) {
      const pmd = c.take(true, true);
      mm.pmds.push(pmd);
      c.writeEntry(mm.root, i, (BigInt(pmd) << 12n) | PTE_P);
    }
    if (d.paePmds === 4) {
      // Unshared: this pgd's own kernel PMD, initialised from the reference one.
      const kpmd = c.take(true, false);
      mm.pmds.push(kpmd);
      c.cloneEntries(kpmd, refKernelPmd(k), 0, 512);
      c.writeEntry(mm.root, PAE_KERNEL_SLOT, (BigInt(kpmd) << 12n) | PTE_P);
    } else {
      c.cloneEntries(mm.root, k.refRoot, PAE_KERNEL_SLOT, 1); // the one shared kernel PMD
    }
    k.counters.entriesWritten += d.paePmds;
  } else if (!d.perCpuPml4) {
    c.cloneEntries(mm.root, k.refRoot, d.kernelFirst, 4096 / d.entryBytes - d.kernelFirst);
  }
  mm.pcid = allocPcid(k);
  if (d.pgdList) k.pgdList.push(mm);
}

/** pgd_free: the root and the PMDs that came with it. */
export function pgdFree(k: KernelState, mm: Mm): void {
  for (const pmd of mm.pmds) k.core.free(pmd);
  k.core.free(mm.root);
  const i = k.pgdList.indexOf(mm);
  if (i >= 0) k.pgdList.splice(i, 1);
}
