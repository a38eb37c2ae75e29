// TLB management (arch/x86/mm/tlb.c, include/asm/mmu_context.h): switch_mm and the CR3 load,
// the 2.4 design's per-CPU PML4 slot, flush_tlb_range with Linux's single-page ceiling,
// flush_tlb_all, and the PCIDs of address spaces.

import type { GeneralProtection } from "../machine/machine.js";
import { KernelError } from "./constants.js";
import type { Mm } from "./mm.js";
import { PAGE, hex, type KernelState } from "./state.js";
import { CR3_NOFLUSH, PTE_A, PTE_D, PTE_P, PTE_RW, PTE_US } from "../x86.js";

/** INVPCID types (SDM Vol. 2 INVPCID). */
const INVPCID_ADDRESS = 0; //     one address in one PCID
const INVPCID_CONTEXT = 1; //     one PCID's non-global entries
const INVPCID_ALL_GLOBAL = 2; //  everything, global entries included

/**
 * Ranges of up to this many pages are flushed page by page (INVLPG); longer ones flush the
 * whole address space (tlb_single_page_flush_ceiling).
 */
export const FLUSH_CEILING_PAGES = 32n;

/** Loads CR3 with the kernel's control registers. */
export function loadCr3(k: KernelState, cr3: bigint): void {
  const r: GeneralProtection | null = k.machine.setRegisters({ ...k.regs, cr3 });
  if (r) throw new Error(`wasm-mmu: kernel could not load CR3 ${hex(cr3)}: ${r.reason}`);
}

/** The CR3 of an address space (null: init_mm's reference tables), without the no-flush bit. */
const cr3Of = (k: KernelState, mm: Mm | null) => (BigInt(mm ? mm.root : k.refRoot) << 12n) | BigInt(mm ? mm.pcid : 0);

/** Context switch to mm (switch_mm): a CR3 write, which flushes the non-global TLB entries. */
export function switchMm(k: KernelState, mm: Mm | null): void {
  if (k.current === mm) return;
  k.current = mm;
  if (k.design.perCpuPml4) {
    // 2.4: rewrite slot 0 of this CPU's PML4 with the next pgd, then reload CR3.
    k.core.writeEntry(k.cpuPml4, 0, mm ? (BigInt(mm.root) << 12n) | PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D : 0n);
    k.count(mm, "entriesWritten");
    loadCr3(k, BigInt(k.cpuPml4) << 12n);
  } else if (k.pcid) {
    // With PCIDs the next address space's entries are still valid: no flush (CR3 bit 63).
    loadCr3(k, cr3Of(k, mm) | CR3_NOFLUSH);
    return;
  } else {
    loadCr3(k, cr3Of(k, mm));
  }
  k.count(mm, "tlbFlushes");
}

/**
 * flush_tlb_range / flush_tlb_page / flush_tlb_mm after the kernel changed mm's tables
 * ([start, end), or all of mm when empty): counted always; done on the CPU only if mm is loaded
 * there (without PCIDs a CR3 switch has already flushed every other address space). A range of
 * more than FLUSH_CEILING_PAGES is one flush of mm's non-global entries (INVPCID single-context,
 * what a CR3 reload does) rather than an INVLPG per page.
 */
export function flushTlbRange(k: KernelState, mm: Mm, start = 0n, end = 0n): void {
  k.count(mm, "tlbFlushes");
  const perPage = end > start && (end - start) / PAGE <= FLUSH_CEILING_PAGES;
  const m = k.machine;
  if (k.current !== mm) {
    // Only a PCID keeps entries of an address space that is not loaded.
    if (!k.pcid) return;
    if (perPage) for (let va = start; va < end; va += PAGE) m.invpcid(INVPCID_ADDRESS, mm.pcid, va);
    else m.invpcid(INVPCID_CONTEXT, mm.pcid);
    return;
  }
  if (perPage) for (let va = start; va < end; va += PAGE) m.invlpg(va);
  else m.invpcid(INVPCID_CONTEXT, mm.pcid); // local_flush_tlb: this address space's non-global entries
}

/** flush_tlb_all: every TLB and paging-structure-cache entry, global ones included. */
export function flushTlbAll(k: KernelState, mm: Mm | null): void {
  k.count(mm, "tlbFlushes");
  k.machine.invpcid(INVPCID_ALL_GLOBAL, 0);
}

/** ENOMEM, before anything is allocated, if every PCID is in use. */
export function checkPcid(k: KernelState): void {
  if (k.pcid && !k.freePcids.length && k.nextPcid > 4095) {
    throw new KernelError("ENOMEM", "no PCID left (4095 address spaces)");
  }
}

/** A PCID for a new address space (1..4095; 0 is init_mm's); checkPcid said one is left. */
export function allocPcid(k: KernelState): number {
  if (!k.pcid) return 0;
  return k.freePcids.pop() ?? k.nextPcid++;
}

/** Gives back an exited address space's PCID after dropping every entry tagged with it. */
export function freePcid(k: KernelState, mm: Mm): void {
  if (!k.pcid) return;
  k.machine.invpcid(INVPCID_CONTEXT, mm.pcid);
  k.freePcids.push(mm.pcid);
}
