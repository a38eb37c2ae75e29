// Kernel: large pages (MAP_HUGETLB) — 2 MiB PMD leaves (4 MiB PDEs on i386-2level), shared
// across fork and copied on write, split into small pages when munmap or mprotect cuts one,
// falling back to small pages when no aligned run of free frames is left. Both cores.
import { describe, expect, it } from "vitest";
import {
  DESIGN_NAMES, Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName,
} from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const HUGE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

describe.each(["wasm", "ts"] as const)("%s core", (impl) => {
  describe.each(DESIGN_NAMES)("%s", (design: DesignName) => {
    const boot = () => Kernel.create({ design, ramBytes: 48 << 20, impl });

    it("maps, shares across fork, copies on write, and frees large pages", async () => {
      const k = await boot();
      const start = k.stats();
      const H = k.hugePageSize;
      expect(H).toBe(design === "i386-2level" ? 4n << 20n : 2n << 20n);
      const p = k.spawn();
      const a = p.mmap({ length: Number(2n * H), prot: RW, flags: HUGE });
      expect(a % H).toBe(0n);
      p.write(a + 5n, new Uint8Array([7]));
      const e = p.pageEntry(a + 4096n)!;
      expect(e.level).toBeGreaterThan(1);
      expect(e.entry & 0x80n).toBe(0x80n);
      expect(e.pa % H).toBe(0n);
      const c = p.fork();
      expect(c.pageEntry(a)!.pa).toBe(e.pa);
      expect(k.frameRefs(e.pa + 4096n)).toBe(2);
      const copied = k.stats().framesCopied;
      c.write(a + 6n, new Uint8Array([8]));
      expect(k.stats().framesCopied - copied).toBe(Number(H >> 12n));
      expect(p.read(a + 5n, 2)).toEqual(new Uint8Array([7, 0]));
      expect(c.read(a + 5n, 2)).toEqual(new Uint8Array([7, 8]));
      // The parent is the only user now: its write reuses the page.
      p.write(a + 6n, new Uint8Array([9]));
      expect(k.stats().framesCopied - copied).toBe(Number(H >> 12n));
      expect(p.pageEntry(a)!.pa).toBe(e.pa);
      c.exit();
      p.exit();
      expect(k.stats().freeFrames).toBe(start.freeFrames);
      expect(k.stats().tablePages).toBe(start.tablePages);
    });

    it("munmap and mprotect of part of a large page split it; contents survive", async () => {
      const k = await boot();
      const start = k.stats();
      const H = k.hugePageSize;
      const p = k.spawn();
      const a = p.mmap({ length: Number(H), prot: RW, flags: HUGE });
      p.touch(a, Number(H), true);
      p.write(a + 8192n, new Uint8Array([1, 2, 3]));
      p.write(a + H - 1n, new Uint8Array([4]));
      const free = k.stats().freeFrames;
      p.munmap(a + 4096n, 4096);
      expect(p.pageEntry(a)!.level).toBe(1);
      expect(k.stats().freeFrames).toBe(free - 1 + 1); // one table taken, one page freed
      expect(() => p.read(a + 4096n, 1)).toThrow(/EFAULT/);
      expect(p.read(a + 8192n, 3)).toEqual(new Uint8Array([1, 2, 3]));
      p.mprotect(a + H - 4096n, 4096, PROT_READ);
      expect(() => p.write(a + H - 1n, new Uint8Array([5]))).toThrow(/EFAULT/);
      expect(p.read(a + H - 1n, 1)).toEqual(new Uint8Array([4]));
      p.write(a + 8192n, new Uint8Array([6]));
      expect(p.read(a + 8192n, 1)).toEqual(new Uint8Array([6]));
      p.exit();
      expect(k.stats().freeFrames).toBe(start.freeFrames);
    });

    it("shared large pages stay shared; a missing run falls back to small pages", async () => {
      const k = await boot();
      const start = k.stats();
      const H = k.hugePageSize;
      const p = k.spawn();
      const s = p.mmap({ length: Number(H), prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB });
      const c = p.fork();
      c.write(s + 100n, new Uint8Array([3]));
      expect(p.read(s + 100n, 1)[0]).toBe(3);
      expect(p.pageEntry(s)!.level).toBeGreaterThan(1);
      // No aligned run: the fault maps a small page instead. With the tables above the block in
      // place (a small page next to it), the run is the fault's first allocation.
      const far = (k.userTop / 4n) & ~((1n << 30n) - 1n);
      const d = p.mmap({ addr: far, length: Number(H), prot: RW, flags: HUGE | MAP_FIXED });
      const next = p.mmap({ addr: far + H, length: 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
      p.write(next, new Uint8Array([1]));
      k.injectAllocFailure(1);
      p.write(d + 4096n, new Uint8Array([2]));
      k.injectAllocFailure(null);
      expect(p.pageEntry(d + 4096n)!.level).toBe(1);
      expect(p.read(d + 4096n, 1)[0]).toBe(2);
      expect(p.pageEntry(d)).toBeNull(); // only the faulting page
      c.exit();
      p.exit();
      expect(k.stats().freeFrames).toBe(start.freeFrames);
    });
  });
});

describe.each(DESIGN_NAMES)("%s: the two cores agree on large pages", (design: DesignName) => {
  it("identical RAM, frame counts and statistics after the same large-page work", async () => {
    const run = async (impl: "wasm" | "ts") => {
      const k = await Kernel.create({ design, ramBytes: 32 << 20, impl });
      const H = k.hugePageSize;
      const p = k.spawn();
      const a = p.mmap({ length: Number(3n * H), prot: RW, flags: HUGE });
      p.touch(a, Number(2n * H), true);
      p.touch(a + 2n * H, 4096, false);
      p.write(a + 12345n, new Uint8Array([1, 2, 3]));
      const c = p.fork();
      c.write(a + 1n, new Uint8Array([4]));
      p.munmap(a + H + 8192n, 4096);
      p.mprotect(a, 4096, PROT_READ);
      c.touch(a + H, Number(H), true);
      const s = p.mmap({ length: Number(H), prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB });
      p.write(s, new Uint8Array([5]));
      const g = c.fork();
      g.exit();
      const refs = Array.from({ length: k.totalFrames }, (_, i) => k.frameRefs(BigInt(i) << 12n));
      return { ram: Buffer.from(k.machine.ram), refs, stats: k.stats(), p: p.stats(), c: c.stats() };
    };
    const w = await run("wasm");
    const t = await run("ts");
    expect(t.ram.equals(w.ram)).toBe(true);
    expect(t.refs).toEqual(w.refs);
    expect(t.stats).toEqual(w.stats);
    expect(t.p).toEqual(w.p);
    expect(t.c).toEqual(w.c);
  });
});
