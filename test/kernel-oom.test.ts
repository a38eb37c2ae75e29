// Kernel: out of memory at every allocation point of fork, mmap + touch, and the fault handler,
// fallback paths included (test/alloc-points.ts). Each failure is ENOMEM with RAM (every table and
// page), every frame count and the free-frame and table-page counts exactly as before; in the end
// every frame comes back.
import { describe, expect, it } from "vitest";
import {
  DESIGN_NAMES, Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName, type Process,
} from "../src/index.js";
import { atEveryAllocation, expectEnomemAtEveryPoint } from "./alloc-points.js";

const RW = PROT_READ | PROT_WRITE;
const RAM = 8 << 20;
const RAM_LARGE = 12 << 20; // room for a few aligned runs of free frames

/** A process with private, shared and COW-shared pages, current on the CPU. */
function busy(k: Kernel): Process {
  const p = k.spawn();
  const a = p.mmap({ length: 40 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  p.touch(a, 20 * 4096, true);
  p.touch(a + 20n * 4096n, 10 * 4096, false);
  const s = p.mmap({ length: 3 * 4096, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS });
  p.write(s, new Uint8Array([1]));
  p.touch(p.brk() - 4096n, 4096, true);
  p.read(a, 1);
  return p;
}


/** Writes one byte to each large page mapped in a new process until one gets a small page: no aligned run of free frames is left. */
function takeEveryFreeRun(k: Kernel): Process {
  const q = k.spawn();
  for (let i = 0; ; i++) {
    const m = q.mmap({ length: Number(k.hugePageSize), prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
    q.write(m, new Uint8Array([1]));
    if (q.pageEntry(m)!.level === 1) return q;
    if (i > 100) throw new Error("free runs never ran out");
  }
}

describe.each(DESIGN_NAMES)("%s", (design: DesignName) => {
  const boot = () => Kernel.create({ design, ramBytes: RAM });

  it("fork fails cleanly at every allocation point", async () => {
    const k = await boot();
    const start = k.stats().freeFrames;
    const p = busy(k);
    const r = await atEveryAllocation("fork", { k, p }, (s) => s.p.fork());
    expectEnomemAtEveryPoint(r);
    expect(r.points).toBeGreaterThan(2);
    const child = r.result;
    expect(child.read(child.maps()[0]!.start, 1)).toEqual(new Uint8Array(1));
    child.exit();
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });

  it("mmap + touch fails cleanly at every allocation point", async () => {
    const k = await boot();
    const start = k.stats().freeFrames;
    const p = busy(k);
    const far = (k.userTop / 4n) & ~((1n << 30n) - 1n);
    const touched = await atEveryAllocation("mmap + touch", { k, p }, (s) => {
      const a = s.p.mmap({ addr: far, length: 64 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
      try {
        s.p.touch(a, 12 * 4096, true);
      } catch (e) {
        s.p.munmap(a, 64 * 4096); // undo the mmap so that the state compares equal
        throw e;
      }
      return a;
    });
    expectEnomemAtEveryPoint(touched);
    expect(touched.points).toBeGreaterThan(12);
    const shared = await atEveryAllocation("shared mmap", { k, p }, (s) =>
      s.p.mmap({ length: 5 * 4096, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS }),
    );
    expectEnomemAtEveryPoint(shared);
    expect(shared.points).toBeGreaterThanOrEqual(5);
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });

  it("the fault handler fails cleanly at every allocation point (demand-zero and copy-on-write)", async () => {
    const k = await boot();
    const start = k.stats().freeFrames;
    const p = busy(k);
    const far = (k.userTop / 4n) & ~((1n << 30n) - 1n);
    const a = p.mmap({ addr: far, length: 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
    const zero = await atEveryAllocation("demand-zero fault", { k, p }, (s) => s.p.handleFault(a, { write: true }));
    expect(zero.result).toBe(true);
    expectEnomemAtEveryPoint(zero);
    expect(zero.points).toBeGreaterThan(1); // the page and at least one table
    const c = p.fork();
    c.read(a, 1); // running on the CPU (a context switch is a change of its own)
    const cow = await atEveryAllocation("copy-on-write fault", { k, c }, (s) => s.c.handleFault(a, { write: true }));
    expect(cow.result).toBe(true);
    expectEnomemAtEveryPoint(cow);
    expect(cow.points).toBe(1); // the copy (the tables are the child's own since fork)
    c.exit();
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });

  describe("large pages", () => {
    /** A busy process with one large page written, and a child sharing it copy-on-write, running. */
    const forked = async () => {
      const k = await Kernel.create({ design, ramBytes: RAM_LARGE });
      const start = k.stats().freeFrames;
      const p = busy(k);
      const a = p.mmap({ length: Number(k.hugePageSize), prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
      p.write(a, new Uint8Array([1]));
      const c = p.fork();
      c.read(a, 1);
      return { k, start, p, c, a };
    };
    const writeFault = (s: Awaited<ReturnType<typeof forked>>) => s.c.handleFault(s.a, { write: true });

    it("fork fails cleanly at every allocation point", async () => {
      const k = await Kernel.create({ design, ramBytes: RAM_LARGE });
      const p = busy(k);
      const a = p.mmap({ length: Number(k.hugePageSize), prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
      p.write(a, new Uint8Array([1]));
      expect(p.pageEntry(a)!.level).toBeGreaterThan(1);
      const r = await atEveryAllocation("fork with a large page", { k, p }, (s) => s.p.fork());
      expectEnomemAtEveryPoint(r);
      const [mine, childs] = [p.pageEntry(a)!, r.result.pageEntry(a)!];
      expect([childs.level, childs.pa]).toEqual([mine.level, mine.pa]); // the large page is shared, not copied
    });

    it("a large copy-on-write fault with a free run: a failed run falls back to splitting the page", async () => {
      const r = await atEveryAllocation("large copy-on-write", forked, writeFault);
      // One allocation (the run); failing it makes the handler split the page and copy one small page.
      expect(r.points).toBe(1);
      expect(r.fallbacks).toEqual([1]);
      expect(r.enomem).toEqual([]);
      const { k, start, p, c, a } = r.stage;
      expect(c.pageEntry(a)!.level).toBeGreaterThan(1); // the clean run copied it to a run of its own
      expect(c.read(a, 1)).toEqual(Uint8Array.of(1));
      // munmap of one page inside the parent's large page splits it: one table.
      const cut = await atEveryAllocation("munmap inside a large page", { k, p }, (s) => s.p.munmap(a + 4096n, 4096));
      expectEnomemAtEveryPoint(cut);
      expect(cut.points).toBe(1);
      const prot = await atEveryAllocation("mprotect inside a large page", { k, c }, (s) => s.c.mprotect(a + 8192n, 4096, PROT_READ));
      expectEnomemAtEveryPoint(prot);
      expect(prot.points).toBe(1);
      c.exit();
      p.exit();
      expect(k.stats().freeFrames).toBe(start);
    });

    it("MAP_FIXED over part of a large page splits it first, all or nothing, and leaks nothing", async () => {
      for (const shared of [false, true]) {
        const k = await Kernel.create({ design, ramBytes: RAM_LARGE });
        const start = k.stats().freeFrames;
        const p = busy(k);
        const H = k.hugePageSize;
        const a = p.mmap({ length: Number(H), prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
        p.write(a + 8192n, Uint8Array.of(5));
        expect(p.pageEntry(a)!.level).toBeGreaterThan(1);
        const flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED;
        const r = await atEveryAllocation(`MAP_FIXED ${shared ? "shared" : "private"} inside a large page`, { k, p }, (s) =>
          s.p.mmap({ addr: a + 4096n, length: 4096, prot: RW, flags }),
        );
        expectEnomemAtEveryPoint(r);
        // The split's table; shared: also the page and (an upper bound of) its tables.
        if (shared) expect(r.points).toBeGreaterThanOrEqual(2);
        else expect(r.points).toBe(1);
        expect(p.pageEntry(a + 8192n)!.level).toBe(1);
        expect(p.read(a + 8192n, 1)).toEqual(Uint8Array.of(5));
        expect(p.read(a + 4096n, 1)).toEqual(Uint8Array.of(0));
        p.exit();
        expect(k.stats().freeFrames, "every frame back (the large page was leaked)").toBe(start);
      }
    });

    it("a large copy-on-write fault with no free run splits the page, and runs out of memory cleanly", async () => {
      const noRun = async () => {
        const s = await forked();
        return { ...s, q: takeEveryFreeRun(s.k) };
      };
      const r = await atEveryAllocation("large copy-on-write with no free run", noRun, writeFault);
      // The run (none is free), then the split's table and the copied page: ENOMEM when either fails.
      expect(r.fallbacks).toEqual([1]);
      expect(r.enomem).toEqual([2, 3]);
      expect(r.points).toBe(3);
      const { k, start, p, c, a, q } = r.stage;
      expect(c.pageEntry(a)!.level).toBe(1);
      expect(c.read(a, 1)).toEqual(Uint8Array.of(1));
      expect(p.pageEntry(a)!.level).toBeGreaterThan(1); // the parent keeps its large page
      // The child's page is split already: mprotect inside it allocates nothing.
      const prot = await atEveryAllocation("mprotect inside a split page", { k, c }, (s) => s.c.mprotect(a + 8192n, 4096, PROT_READ));
      expect(prot.points).toBe(0);
      q.exit();
      c.exit();
      p.exit();
      expect(k.stats().freeFrames).toBe(start);
    });
  });
});
