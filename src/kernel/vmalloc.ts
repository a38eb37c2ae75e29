// Kernel virtual memory (mm/vmalloc.c, arch/x86/mm/fault.c, ioremap.c): mappings in the
// reference tables (boot's direct map, vmalloc, ioremap), vfree, the lazy vmalloc_fault that
// copies a top-level entry into a process that lacks it, and vmalloc_sync_all over the pgd list.

import { checkInt, checkU } from "../errors.js";
import { KernelError } from "./constants.js";
import { SRC_NEW, SRC_PHYS } from "./core.js";
import type { Mm } from "./mm.js";
import { dropKernelRoot, kernelRoot, pml4Slot, refKernelPmd } from "./pgalloc.js";
import { PTE_SW_SPECIAL, indexOf } from "./pte.js";
import { reserved } from "./reserve.js";
import { PAGE, hex, pageUp, type KernelState, type VmArea } from "./state.js";
import { flushTlbAll, switchMm } from "./tlbflush.js";
import { PTE_A, PTE_D, PTE_G, PTE_P, PTE_PCD, PTE_PWT, PTE_RW } from "../x86.js";

/** A kernel data page: present, writable, global, not executable. */
export const kernelData = (k: KernelState) => PTE_P | PTE_RW | PTE_A | PTE_D | PTE_G | k.nx;

/** Maps [va, va + length) in the reference tables (boot map, vmalloc, ioremap). All or nothing. */
export function mapKernel(k: KernelState, va: bigint, length: bigint, phys: bigint, template: bigint, src: number, leafLevel: number): void {
  const freshSlot = k.design.perCpuPml4 && !k.slotPgd.has(pml4Slot(va));
  const root = kernelRoot(k, va);
  reserved(
    k, null,
    {
      what: `mapping ${hex(length)} bytes at ${hex(va)}`,
      count: (c) => c.countPopulate(root, va, va + length, true, src, leafLevel),
      undo: () => freshSlot && dropKernelRoot(k, va), // all or nothing: the slot's new pgd goes back too
    },
    (c) => c.populate(root, va, va + length, true, src, leafLevel, template, 0n, phys),
  );
}

/** Maps a new vmalloc or ioremap area; on ENOMEM the area goes back. */
function mapArea(k: KernelState, size: bigint, kind: VmArea["kind"], phys: bigint, template: bigint, src: number): bigint {
  const va = vmArea(k, size, kind);
  try {
    mapKernel(k, va, size, phys, template, src, 1);
  } catch (e) {
    k.vmAreas.splice(k.vmAreas.findIndex((a) => a.start === va), 1);
    throw e;
  }
  if (k.design.vmallocSync === "eager") vmallocSyncAll(k);
  return va;
}

/** vmalloc: length bytes of kernel virtual memory backed by new frames. */
export function vmalloc(k: KernelState, length: number): bigint {
  checkInt("length", length, 1, 1 << 30);
  return mapArea(k, pageUp(BigInt(length)), "vmalloc", 0n, kernelData(k), SRC_NEW);
}

/** ioremap: physical [pa, pa + length) uncached in the vmalloc area. */
export function ioremap(k: KernelState, pa: bigint, length: number): bigint {
  checkU("pa", pa);
  checkInt("length", length, 1, 1 << 30);
  // Entries hold physical addresses below 2^MAXPHYADDR (2^32 in 4-byte entries): beyond that
  // an entry would name a different frame.
  const limit = 1n << BigInt(k.design.entryBytes === 4 ? 32 : k.machine.physAddrBits);
  if (pa + BigInt(length) > limit) {
    throw new RangeError(`pa ${hex(pa)} + ${length} bytes is beyond the physical address space (${hex(limit)})`);
  }
  const base = pa & ~(PAGE - 1n);
  const size = pageUp(pa + BigInt(length)) - base;
  const va = mapArea(k, size, "ioremap", base, kernelData(k) | PTE_PWT | PTE_PCD | PTE_SW_SPECIAL, SRC_PHYS);
  return va + (pa & (PAGE - 1n));
}

/** vfree / iounmap: unmaps an area; its frames go back, its tables stay. */
export function vfree(k: KernelState, addr: bigint): void {
  checkU("addr", addr);
  const i = k.vmAreas.findIndex((a) => a.start === (addr & ~(PAGE - 1n)));
  if (i < 0) throw new KernelError("EINVAL", `no vmalloc or ioremap area at ${hex(addr)}`);
  const a = k.vmAreas[i]!;
  // floor above ceiling: no table is freed (kernel page tables are never torn down).
  k.core.zap(kernelRoot(k, a.start), a.start, a.start + a.size, ~0n, 1n, true);
  k.absorb(null);
  flushTlbAll(k, null); // kernel mappings are global: flush_tlb_all
  k.vmAreas.splice(i, 1);
}

/** First fit in the vmalloc area, with a guard page after each area. */
function vmArea(k: KernelState, size: bigint, kind: VmArea["kind"]): bigint {
  let start = k.vmallocStart;
  let i = 0;
  for (; i < k.vmAreas.length; i++) {
    const a = k.vmAreas[i]!;
    if (start + size + PAGE <= a.start) break;
    start = a.end;
  }
  if (start + size + PAGE > k.vmallocEnd) throw new KernelError("ENOMEM", `vmalloc area has no room for ${hex(size)} bytes`);
  k.vmAreas.splice(i, 0, { start, end: start + size + PAGE, size, kind });
  return start;
}

/** Where a process keeps its own copy of kernel entries for va: [its table, reference table, index]. */
export function syncSlot(k: KernelState, mm: Mm, va: bigint): [number, number, number] | undefined {
  const d = k.design;
  if (d.vmallocSync === "shared") return undefined;
  if (d.paePmds === 4) return [mm.pmds[3]!, refKernelPmd(k), indexOf(va, d.levels[2]!)];
  return [mm.root, k.refRoot, indexOf(va, d.levels[0]!)];
}

/** vmalloc_fault: copy the reference's entry into mm's tables if it lacks it. */
export function vmallocFault(k: KernelState, mm: Mm, va: bigint): boolean {
  if (va < k.vmallocStart || va >= k.vmallocEnd) return false;
  const at = syncSlot(k, mm, va);
  if (at) k.core.syncEntries(at[0], at[1], at[2], 1);
  k.absorb(mm);
  flushTlbAll(k, mm); // 2.6.11's vmalloc_fault ends with __flush_tlb_all
  switchMm(k, mm);
  if (k.machine.translate(va, { probe: true }).fault) return false;
  k.count(mm, "vmallocFaults");
  return true;
}

/**
 * vmalloc_sync_all: copies the reference's kernel entries covering the vmalloc area into every
 * pgd on the pgd list that lacks them. Returns the number of entries copied.
 */
export function vmallocSyncAll(k: KernelState): number {
  if (!k.design.pgdList) return 0;
  let copied = 0;
  for (const mm of k.pgdList) {
    const [dst, src, first] = syncSlot(k, mm, k.vmallocStart)!;
    const last = syncSlot(k, mm, k.vmallocEnd - 1n)![2];
    const n = k.core.syncEntries(dst, src, first, last - first + 1);
    k.absorb(mm);
    k.count(mm, "vmallocSyncs", n);
    copied += n;
  }
  return copied;
}
