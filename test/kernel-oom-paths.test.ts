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

const RW = PROT_READ | PROT_WRITE;

/** Everything an allocating operation could change. */
function state(k: Kernel) {
  const s = k.stats();
  const refs: number[] = [];
  for (let f = 0; f < k.totalFrames; f++) refs.push(k.frameRefs(BigInt(f) << 12n));
  return { ram: Buffer.from(k.machine.ram), refs, free: s.freeFrames, tablePages: s.tablePages, pids: k.processes().map((p) => p.pid) };
}

/**
 * Runs op with allocation n failing for n = 1, 2, ... until it succeeds. Every failure must be
 * ENOMEM with the state unchanged. Returns op's result and how many allocation points it has.
 */
function atEveryAllocation<T>(k: Kernel, label: string, op: () => T): { result: T; points: number } {
  for (let n = 1; ; n++) {
    const before = state(k);
    k.injectAllocFailure(n);
    let result: T;
    try {
      result = op();
    } catch (e) {
      k.injectAllocFailure(null);
      if (!(e instanceof KernelError) || e.code !== "ENOMEM") throw e;
      const after = state(k);
      expect(after.free, `${label}: free frames, allocation ${n} failing`).toBe(before.free);
      expect(after.tablePages, `${label}: table pages, allocation ${n} failing`).toBe(before.tablePages);
      expect(after.pids, `${label}: processes, allocation ${n} failing`).toEqual(before.pids);
      expect(after.refs, `${label}: frame counts, allocation ${n} failing`).toEqual(before.refs);
      expect(Buffer.compare(after.ram, before.ram), `${label}: RAM, allocation ${n} failing`).toBe(0);
      continue;
    }
    k.injectAllocFailure(null);
    return { result, points: n - 1 };
  }
}

describe.each(DESIGN_NAMES.flatMap((d) => [[d, "wasm"], [d, "ts"]] as Array<[DesignName, "wasm" | "ts"]>))("%s (%s core)", (design, impl) => {
  it("spawn, vmalloc, ioremap, MAP_POPULATE, brk, write() and fork fail cleanly at every allocation point", async () => {
    const k = await Kernel.create({ design, ramBytes: 8 << 20, impl });
    const boot = k.stats();

    const { result: p, points: spawnPoints } = atEveryAllocation(k, "spawn", () => k.spawn());
    expect(spawnPoints).toBeGreaterThanOrEqual(1);

    const { result: v, points: vmallocPoints } = atEveryAllocation(k, "vmalloc", () => k.vmalloc(5 * 4096));
    expect(vmallocPoints).toBeGreaterThanOrEqual(5); // five pages at least, and maybe tables
    const { result: io } = atEveryAllocation(k, "ioremap", () => k.ioremap(0x1000n, 3 << 20));

    const { result: pop, points: popPoints } = atEveryAllocation(k, "mmap MAP_POPULATE", () =>
      p.mmap({ length: 6 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE }),
    );
    expect(popPoints).toBeGreaterThanOrEqual(6);
    expect(p.read(pop, 1)).toEqual(new Uint8Array(1));

    const brk0 = p.brk();
    const { points: brkPoints } = atEveryAllocation(k, "brk + touch", () => {
      const top = p.brk(brk0 + 4n * 4096n);
      try {
        p.touch(brk0, 4 * 4096, true);
      } catch (e) {
        p.brk(brk0); // undo the break so that the state compares equal
        throw e;
      }
      return top;
    });
    expect(brkPoints).toBeGreaterThanOrEqual(4);

    // A write across five pages: two already private, three copy-on-write after a fork.
    const a = p.mmap({ length: 8 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
    p.write(a, new Uint8Array(2 * 4096).fill(1));
    p.write(a + 2n * 4096n, new Uint8Array(3 * 4096).fill(2));
    const { result: c } = atEveryAllocation(k, "fork", () => p.fork());
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
