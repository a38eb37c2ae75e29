// The one all-or-nothing reservation path (the seeds' out_oom rule), which every operation
// that allocates goes through: count what the operation will take (the core's count pass),
// reserve all of it, run, give back what is left, add the counters. When the frames are not
// there nothing has changed: the partial reservation is back on the free list in its old
// place, `undo` takes back what the caller did before, the count pass's counters are added and
// ENOMEM is thrown. Reservations do not nest (release() gives back every reserved frame).

import type { KernelCore } from "./core.js";
import { KernelError } from "./constants.js";
import type { Mm } from "./mm.js";
import type { AbsorbOptions, KernelState } from "./state.js";

export interface Plan extends AbsorbOptions {
  /** What the memory is for (the ENOMEM message). */
  what: string;
  /** The count pass (countPopulate, countCopy, countSplit): its tables, frames and large-page runs. */
  count?: (c: KernelCore) => void;
  /** Frames beyond the count pass's (a new pgd and its PMDs, the frame a copy-on-write takes). */
  frames?: number;
  /** Large-page runs beyond the count pass's (shared MAP_HUGETLB). */
  runs?: number;
  /** Takes back what the caller did before reserving (a table allocated for the range). */
  undo?: () => void;
}

/** Runs `op` with every frame it takes reserved first; ENOMEM (nothing changed) if they are not there. */
export function reserved<T>(k: KernelState, mm: Mm | null, plan: Plan, op: (c: KernelCore) => T): T {
  return run(k, mm, plan, op, false)!;
}

/**
 * As reserved(), but when only the large-page runs are missing it gives everything back and
 * returns undefined, so that the caller can fall back to small pages.
 */
export function reservedOrSmall<T>(k: KernelState, mm: Mm | null, plan: Plan, op: (c: KernelCore) => T): T | undefined {
  return run(k, mm, plan, op, true);
}

function run<T>(k: KernelState, mm: Mm | null, plan: Plan, op: (c: KernelCore) => T, small: boolean): T | undefined {
  const c = k.core;
  let frames = plan.frames ?? 0;
  let runs = plan.runs ?? 0;
  if (plan.count) {
    c.countBegin();
    plan.count(c);
    frames += c.needTables() + c.needFrames();
    runs += c.needHuge();
  }
  const gotFrames = c.reserve(frames);
  if (!gotFrames || !c.reserveHuge(runs, k.hugeFrames)) {
    c.release();
    if (gotFrames && small) {
      k.absorb(mm);
      return undefined;
    }
    plan.undo?.();
    k.absorb(mm);
    throw new KernelError("ENOMEM", `out of memory for ${plan.what}`);
  }
  const out = op(c);
  c.release();
  k.absorb(mm, plan);
  return out;
}
