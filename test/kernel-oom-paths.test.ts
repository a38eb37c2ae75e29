// Out of memory at every allocation point of the paths test/kernel-oom.test.ts does not cover:
// process creation (its pgd), kernel mappings (vmalloc, ioremap: table allocation only),
// MAP_POPULATE, brk, fork, and a write() spanning copy-on-write pages; in every design, with
// both cores. Each failure is ENOMEM and leaves RAM, the frame counts, the free-frame and
// table-page counts exactly as before (write(): what the processes read is as before); at the
// end every frame is free again.
import { describe, expect, it } from "vitest";
import {
  DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_POPULATE, MAP_PRIVATE, PROT_READ, PROT_WRITE,
  type DesignName,
} from "../src/index.js";
import { atEveryAllocation, expectEnomemAtEveryPoint } from "./alloc-points.js";

const RW = PROT_READ | PROT_WRITE;

/**
 * The allocations each operation makes here (both cores alike): the pgd (PAE: and its PMDs;
 * unshared: the kernel PMD too), five pages and their tables, ioremap's page table (none in
 * i386-2level, whose kernel tables all exist from boot), fork's new tables.
 */
const POINTS: Record<DesignName, { spawn: number; vmalloc: number; ioremap: number; fork: number }> = {
  "i386-2level": { spawn: 1, vmalloc: 6, ioremap: 0, fork: 3 },
  "i386-pae": { spawn: 4, vmalloc: 6, ioremap: 1, fork: 6 },
  "i386-pae-unshared": { spawn: 5, vmalloc: 6, ioremap: 1, fork: 7 },
  "x86_64-3level": { spawn: 1, vmalloc: 8, ioremap: 1, fork: 5 },
  "x86_64-4level": { spawn: 1, vmalloc: 8, ioremap: 1, fork: 7 },
  "x86_64-5level": { spawn: 1, vmalloc: 9, ioremap: 1, fork: 8 },
  "x86_64-5level-folded": { spawn: 1, vmalloc: 8, ioremap: 1, fork: 7 },
};

describe.each(DESIGN_NAMES.flatMap((d) => [[d, "wasm"], [d, "ts"]] as Array<[DesignName, "wasm" | "ts"]>))("%s (%s core)", (design, impl) => {
  it("spawn, vmalloc, ioremap, MAP_POPULATE, brk, write() and fork fail cleanly at every allocation point", async () => {
    const k = await Kernel.create({ design, ramBytes: 8 << 20, impl });
    const boot = k.stats();

    const points = POINTS[design];
    const spawned = await atEveryAllocation("spawn", { k }, () => k.spawn());
    expectEnomemAtEveryPoint(spawned);
    expect(spawned.points).toBe(points.spawn);
    const p = spawned.result;

    const vm = await atEveryAllocation("vmalloc", { k }, () => k.vmalloc(5 * 4096));
    expectEnomemAtEveryPoint(vm);
    expect(vm.points).toBe(points.vmalloc);
    const v = vm.result;
    const ior = await atEveryAllocation("ioremap", { k }, () => k.ioremap(0x1000n, 3 << 20));
    expectEnomemAtEveryPoint(ior);
    expect(ior.points).toBe(points.ioremap);
    const io = ior.result;

    const populated = await atEveryAllocation("mmap MAP_POPULATE", { k }, () =>
      p.mmap({ length: 6 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE }),
    );
    expectEnomemAtEveryPoint(populated);
    expect(populated.points).toBeGreaterThanOrEqual(6);
    const pop = populated.result;
    expect(p.read(pop, 1)).toEqual(new Uint8Array(1));

    const brk0 = p.brk();
    const grown = await atEveryAllocation("brk + touch", { k }, () => {
      const top = p.brk(brk0 + 4n * 4096n);
      try {
        p.touch(brk0, 4 * 4096, true);
      } catch (e) {
        p.brk(brk0); // undo the break so that the state compares equal
        throw e;
      }
      return top;
    });
    expectEnomemAtEveryPoint(grown);
    expect(grown.points).toBeGreaterThanOrEqual(4);

    // A write across five pages: two already private, three copy-on-write after a fork.
    const a = p.mmap({ length: 8 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
    p.write(a, new Uint8Array(2 * 4096).fill(1));
    p.write(a + 2n * 4096n, new Uint8Array(3 * 4096).fill(2));
    const forked = await atEveryAllocation("fork", { k }, () => p.fork());
    expectEnomemAtEveryPoint(forked);
    expect(forked.points).toBe(points.fork);
    const c = forked.result;
    const data = new Uint8Array(5 * 4096).map((_, i) => i & 0xff);
    // write() faults its pages in one by one, as copy_to_user does: an ENOMEM on a later page
    // keeps the earlier (successful) copy-on-write breaks, but no byte of the write is visible.
    let writePoints = 0;
    for (let n = 1; ; n++) {
      const before = [c.read(a, 8 * 4096), p.read(a, 8 * 4096)];
      k.injectAllocFailure(n);
      try {
        c.write(a + 100n, data.subarray(0, 5 * 4096 - 200));
        k.injectAllocFailure(null);
        break;
      } catch (e) {
        k.injectAllocFailure(null);
        expect(e instanceof KernelError && e.code).toBe("ENOMEM");
        expect([c.read(a, 8 * 4096), p.read(a, 8 * 4096)], `write(), allocation ${n} failing`).toEqual(before);
        writePoints++;
      }
    }
    expect(writePoints).toBeGreaterThanOrEqual(3);
    expect(c.read(a + 100n, 10)).toEqual(data.subarray(0, 10));
    expect(p.read(a + 100n, 1)).toEqual(Uint8Array.of(1));

    c.exit();
    p.exit();
    k.vfree(v);
    k.vfree(io);
    // Every frame is free again but the kernel's own new table pages (vfree keeps tables, as Linux).
    const end = k.stats();
    expect(end.freeFrames).toBe(boot.freeFrames - (end.tablePages - boot.tablePages));
    expect(k.processes()).toEqual([]);
  });
});
