// The workloads of `wasm-mmu compare`: a process shaped like the case to measure, built once,
// then forked and exited (the timed iteration). Each also names the memory it keeps resident,
// for the post-fork access pass that counts the page walks' memory references.
import type { Kernel, Process } from "../../kernel/index.js";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE } from "../../kernel/index.js";
import type { Workload } from "./options.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const RW = PROT_READ | PROT_WRITE;
const PRIVATE = MAP_PRIVATE | MAP_ANONYMOUS;

/** A workload built in a kernel: the parent process and what one timed iteration does. */
export interface Prepared {
  parent: Process;
  /** [start, bytes] ranges the parent has resident (for the access pass). */
  resident: Array<[bigint, number]>;
  /** One timed iteration: fork, (the child's work), exit. */
  iteration(): void;
}

export interface WorkloadSpec {
  name: Workload;
  /** One line for the help text and the README. */
  description: string;
  /** Guest RAM the workload needs. */
  ramBytes(quick: boolean): number;
  prepare(kernel: Kernel, quick: boolean): Prepared;
}

const forkExit = (p: Process) => () => {
  p.fork().exit();
};

/** Maps and faults in [bytes] of private anonymous memory, writing (so frames are real). */
function resident(p: Process, bytes: number, prot = RW, flags = PRIVATE, addr?: bigint): [bigint, number] {
  const a = p.mmap({ addr, length: bytes, prot: RW, flags: addr === undefined ? flags : flags | MAP_FIXED });
  p.touch(a, bytes, true);
  if (prot !== RW) p.mprotect(a, bytes, prot);
  return [a, bytes];
}

/** lat_proc fork: a small process — text, libc-like mappings, a little heap, a stack. */
const lmbench: WorkloadSpec = {
  name: "lmbench",
  description: "lat_proc fork: a small process (~4 MiB resident: text, libc, ld.so, heap, stack) forks, the child exits",
  ramBytes: () => 32 * MiB,
  prepare(kernel) {
    const p = kernel.spawn({ text: 256 * KiB, data: 64 * KiB, heap: 512 * KiB, stack: 128 * KiB });
    const maps = p.maps();
    const res: Array<[bigint, number]> = [];
    // The spawned image: text, data, heap and stack all touched (text read, the rest written).
    for (const m of maps) {
      const len = Number(m.end - m.start);
      p.touch(m.start, len, (m.prot & PROT_WRITE) !== 0);
      res.push([m.start, len]);
    }
    // libc and ld.so: text (resident, then made read-only and executable), data, bss.
    res.push(resident(p, 1792 * KiB, PROT_READ | PROT_EXEC));
    res.push(resident(p, 64 * KiB));
    res.push(resident(p, 160 * KiB, PROT_READ | PROT_EXEC));
    res.push(resident(p, 16 * KiB));
    // A shared mapping (System V shm or a shared file), and a few small anonymous arenas.
    res.push(resident(p, 256 * KiB, RW, MAP_SHARED | MAP_ANONYMOUS));
    for (let i = 0; i < 4; i++) res.push(resident(p, 132 * KiB));
    return { parent: p, resident: res, iteration: forkExit(p) };
  },
};

/** 1 GiB (quick: 32 MiB) resident in 4 KiB pages: heap, mmap arenas near the top, stack at the top. */
const large: WorkloadSpec = {
  name: "large",
  description: "1 GiB resident in 4 KiB pages: 256 MiB heap, 11 x 64 MiB mmap arenas below the stack, 64 MiB stack",
  ramBytes: (quick) => (quick ? 64 * MiB : GiB + 96 * MiB),
  prepare(kernel, quick) {
    const s = quick ? 1 / 32 : 1;
    const p = kernel.spawn({ heap: 256 * MiB * s, stack: 64 * MiB * s });
    const res: Array<[bigint, number]> = [];
    for (const m of p.maps()) {
      if (!(m.prot & PROT_WRITE)) continue;
      const len = Number(m.end - m.start);
      p.touch(m.start, len, true);
      res.push([m.start, len]);
    }
    for (let i = 0; i < 11; i++) res.push(resident(p, 64 * MiB * s));
    return { parent: p, resident: res, iteration: forkExit(p) };
  },
};

/** Many small mappings spread over the whole user address space of the design. */
const sparse: WorkloadSpec = {
  name: "sparse",
  description: "1024 (quick: 64) mappings of 16 KiB spread evenly over the design's whole user address space",
  ramBytes: () => 64 * MiB,
  prepare(kernel, quick) {
    const n = quick ? 64 : 1024;
    const p = kernel.spawn();
    const lo = 1n << 30n; // above text, data and heap
    const hi = kernel.design.userTop - (1n << 30n); // below the stack and the mmap base
    const step = ((hi - lo) / BigInt(n)) & ~0xfffn;
    const res: Array<[bigint, number]> = [];
    for (let i = 0; i < n; i++) res.push(resident(p, 16 * KiB, RW, PRIVATE, lo + BigInt(i) * step));
    return { parent: p, resident: res, iteration: forkExit(p) };
  },
};

/** 1 GiB (quick: 32 MiB) in large pages: 2 MiB, or 4 MiB on 32-bit paging without PAE. */
const huge: WorkloadSpec = {
  name: "huge",
  description: "1 GiB resident in large pages (MAP_HUGETLB: 2 MiB, 4 MiB on i386-2level) in one mapping",
  ramBytes: (quick) => (quick ? 64 * MiB : GiB + 96 * MiB),
  prepare(kernel, quick) {
    const p = kernel.spawn();
    const res = [resident(p, quick ? 32 * MiB : GiB, RW, PRIVATE | MAP_HUGETLB)];
    return { parent: p, resident: res, iteration: forkExit(p) };
  },
};

/** After fork the child writes every page: one copy-on-write break per page, then exits. */
const touch: WorkloadSpec = {
  name: "touch",
  description: "64 MiB (quick: 4 MiB) resident; after fork the child writes every page (COW breaks), then exits",
  ramBytes: (quick) => (quick ? 32 * MiB : 192 * MiB),
  prepare(kernel, quick) {
    const bytes = quick ? 4 * MiB : 64 * MiB;
    const p = kernel.spawn();
    const [a] = resident(p, bytes);
    return {
      parent: p,
      resident: [[a, bytes]],
      iteration() {
        const c = p.fork();
        c.touch(a, bytes, true);
        c.exit();
      },
    };
  },
};

export const WORKLOAD_SPECS: Record<Workload, WorkloadSpec> = { lmbench, large, sparse, huge, touch };
