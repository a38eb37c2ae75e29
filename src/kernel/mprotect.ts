// mprotect (mm/mprotect.c): new rights for every area of a range, split at its ends, applied to
// the tables by the core's protect loop, then one flush.

import { KernelError, PROT_EXEC, PROT_NONE, PROT_WRITE } from "./constants.js";
import { splitEdges } from "./huge.js";
import { checkProt, userRange } from "./mmap.js";
import type { Mm } from "./mm.js";
import { PTE_SW_PROTNONE } from "./pte.js";
import { hex, type KernelState } from "./state.js";
import { flushTlbRange } from "./tlbflush.js";
import type { Vma } from "./vma.js";
import { PTE_P, PTE_RW } from "../x86.js";

/** mprotect's masks [clear, set]: private writable pages stay read-only until a write fault (PAGE_COPY). */
function protMasks(k: KernelState, v: Vma): [bigint, bigint] {
  const nx = v.prot & PROT_EXEC ? 0n : k.nx;
  const clear = PTE_P | PTE_RW | PTE_SW_PROTNONE | k.nx;
  if (v.prot === PROT_NONE) return [clear, PTE_SW_PROTNONE | nx];
  return [clear, PTE_P | (v.shared && v.prot & PROT_WRITE ? PTE_RW : 0n) | nx];
}

export function mprotect(k: KernelState, mm: Mm, addr: bigint, length: number | bigint, prot: number): void {
  const [start, end] = userRange(k, addr, length);
  checkProt(prot);
  if (start === end) return;
  if (end > k.userTop || !mm.vmas.covers(start, end)) {
    throw new KernelError("ENOMEM", `${hex(start)}..${hex(end)} is not entirely mapped`);
  }
  splitEdges(k, mm, start, end);
  mm.vmas.splitAt(start);
  mm.vmas.splitAt(end);
  for (const v of mm.vmas.overlapping(start, end)) {
    v.prot = prot;
    const [clear, set] = protMasks(k, v);
    k.core.protect(mm.root, v.start, v.end, clear, set);
  }
  mm.vmas.mergeAll();
  k.absorb(mm);
  flushTlbRange(k, mm, start, end);
}
