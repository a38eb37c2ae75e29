// Process creation and teardown (kernel/fork.c dup_mm, mm/memory.c copy_page_range, mm/mmap.c
// exit_mmap): fork copies the parent's tables area by area, write-protecting private writable
// pages in both; exit zaps every area and frees its tables, then the pgd.

import { Mm } from "./mm.js";
import { pgdAlloc, pgdFree, rootTables } from "./pgalloc.js";
import { reserved, type Plan } from "./reserve.js";
import type { KernelState } from "./state.js";
import { checkPcid, flushTlbRange, freePcid, switchMm } from "./tlbflush.js";

/**
 * A new address space: its pgd (pgd_alloc) and whatever `fill` puts in its tables, under one
 * reservation (the pgd's tables plus the plan's count pass). Counters go to the parent, table
 * pages to the child.
 */
export function mmAlloc(k: KernelState, parent: Mm | null, plan: Pick<Plan, "what" | "count">, fill = (_child: Mm) => {}): Mm {
  checkPcid(k);
  const child = new Mm();
  reserved(k, parent ?? child, { ...plan, frames: rootTables(k), tablesTo: child }, () => {
    child.pid = k.nextPid++;
    pgdAlloc(k, child);
    fill(child);
  });
  k.mms.add(child);
  return child;
}

/** fork: a child address space that shares every frame copy-on-write (copy_page_range per area). */
export function fork(k: KernelState, mm: Mm): Mm {
  const c = k.core;
  const areas = mm.vmas.list;
  const child = mmAlloc(
    k, mm,
    { what: `forking process ${mm.pid}`, count: () => areas.forEach((v) => c.countCopy(mm.root, v.start, v.end)) },
    (child) => areas.forEach((v) => c.copy(mm.root, child.root, v.start, v.end, !v.shared, v.shared)),
  );
  flushTlbRange(k, mm); // flush_tlb_mm: the parent's writable entries became read-only
  child.vmas = mm.vmas.clone();
  child.brkStart = mm.brkStart;
  child.brk = mm.brk;
  child.mmapBase = mm.mmapBase;
  return child;
}

/** exit_mmap and pgd_free: every frame and table of mm goes back. */
export function exit(k: KernelState, mm: Mm): void {
  if (k.current === mm) switchMm(k, null);
  // unmap_vmas + free_pgtables, area by area in address order. A table shared with the next
  // area stays until that area's pass (its ceiling); entries are not cleared since every table
  // below the root goes.
  const areas = mm.vmas.list;
  for (let i = 0; i < areas.length; i++) {
    const v = areas[i]!;
    k.core.zap(mm.root, v.start, v.end, 0n, i + 1 < areas.length ? areas[i + 1]!.start : 0n, false);
  }
  pgdFree(k, mm);
  k.absorb(mm);
  k.count(mm, "tlbFlushes"); // tlb_finish_mmu (the CPU already switched away above)
  freePcid(k, mm); // the PCID is reused: nothing of this address space may stay behind under it
  mm.exited = true;
  mm.vmas.list.length = 0;
  k.mms.delete(mm);
}
