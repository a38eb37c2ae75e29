// Kernel: fork (copy_page_range), copy-on-write, demand paging, exit, on every design.
import { describe, expect, it } from "vitest";
import {
  DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName,
} from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const anon = (p: ReturnType<Kernel["spawn"]>, length: number, shared = false) =>
  p.mmap({ length, prot: RW, flags: (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS });
const bytes = (...b: number[]) => new Uint8Array(b);

describe.each(DESIGN_NAMES)("%s", (design: DesignName) => {
  const boot = () => Kernel.create({ design, ramBytes: 32 << 20 });

  it("demand-zero pages, the zero page on reads, a private frame on the first write", async () => {
    const k = await boot();
    const p = k.spawn();
    const a = anon(p, 3 * 4096);
    expect(p.pageEntry(a)).toBeNull();
    expect(p.read(a + 100n, 4)).toEqual(bytes(0, 0, 0, 0));
    const zero = p.pageEntry(a)!;
    expect(zero.entry & 2n).toBe(0n); // read-only: the shared zero page
    const b = anon(p, 4096);
    p.read(b, 1);
    expect(p.pageEntry(b)!.pa).toBe(zero.pa);
    p.write(a + 100n, bytes(7, 8));
    const own = p.pageEntry(a)!;
    expect(own.pa).not.toBe(zero.pa);
    expect(own.entry & 2n).toBe(2n);
    expect(p.read(a + 99n, 4)).toEqual(bytes(0, 7, 8, 0));
    expect(k.stats().pageFaults).toBeGreaterThanOrEqual(3);
  });

  it("fork write-protects private pages on both sides, raises counts, marks the child's copy old", async () => {
    const k = await boot();
    const p = k.spawn();
    const a = anon(p, 8 * 4096);
    p.write(a, bytes(1, 2, 3));
    const before = p.pageEntry(a)!;
    expect(before.entry & 2n).toBe(2n);
    expect(k.frameRefs(before.pa)).toBe(1);
    const c = p.fork();
    const pe = p.pageEntry(a)!;
    const ce = c.pageEntry(a)!;
    expect(pe.pa).toBe(before.pa);
    expect(ce.pa).toBe(before.pa);
    expect(pe.entry & 2n).toBe(0n);
    expect(ce.entry & 2n).toBe(0n);
    expect(ce.entry & 0x20n).toBe(0n); // old
    expect(k.frameRefs(before.pa)).toBe(2);
    expect(c.read(a, 3)).toEqual(bytes(1, 2, 3));
    expect(p.stats().entriesCopied).toBeGreaterThan(0);
  });

  it("copy-on-write: a write copies a shared frame and reuses an unshared one", async () => {
    const k = await boot();
    const p = k.spawn();
    const a = anon(p, 4096);
    p.write(a, bytes(5));
    const c = p.fork();
    const copied0 = k.stats().framesCopied;
    c.write(a, bytes(6));
    expect(k.stats().framesCopied).toBe(copied0 + 1);
    expect(p.read(a, 1)).toEqual(bytes(5));
    expect(c.read(a, 1)).toEqual(bytes(6));
    expect(c.pageEntry(a)!.pa).not.toBe(p.pageEntry(a)!.pa);
    expect(k.frameRefs(p.pageEntry(a)!.pa)).toBe(1);
    // The parent is now the only user: its write fault reuses the page.
    p.write(a, bytes(9));
    expect(k.stats().framesCopied).toBe(copied0 + 1);
    expect(p.pageEntry(a)!.entry & 2n).toBe(2n);
  });

  it("shared mappings stay shared across fork", async () => {
    const k = await boot();
    const p = k.spawn();
    const s = anon(p, 2 * 4096, true);
    const c = p.fork();
    c.write(s + 4096n, bytes(42));
    expect(p.read(s + 4096n, 1)).toEqual(bytes(42));
    expect(c.pageEntry(s)!.pa).toBe(p.pageEntry(s)!.pa);
    expect(c.pageEntry(s)!.entry & 2n).toBe(2n);
  });

  it("exit frees every frame and table once all processes are gone", async () => {
    const k = await boot();
    const start = k.stats();
    const p = k.spawn();
    const a = anon(p, 64 * 4096);
    p.touch(a, 64 * 4096, true);
    const s = anon(p, 4 * 4096, true);
    p.write(s, bytes(1));
    const c = p.fork();
    const g = c.fork();
    g.touch(a, 16 * 4096, true);
    c.exit();
    expect(() => c.read(a, 1)).toThrow(KernelError);
    p.exit();
    expect(g.read(s, 1)).toEqual(bytes(1));
    g.exit();
    const end = k.stats();
    expect(end.freeFrames).toBe(start.freeFrames);
    expect(end.tablePages).toBe(start.tablePages);
    expect(end.tablePagesAllocated).toBe(end.tablePagesFreed);
  });

  it("munmap frees the frames and the page tables of the range", async () => {
    const k = await boot();
    const p = k.spawn();
    const base = k.stats();
    // Far from the other areas, so that no page table is shared with them.
    const far = (k.userTop / 4n) & ~((1n << 30n) - 1n);
    const a = p.mmap({ addr: far, length: 1 << 22, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
    p.touch(a, 1 << 22, true);
    expect(k.stats().freeFrames).toBeLessThan(base.freeFrames - 1024);
    p.munmap(a, 1 << 22);
    expect(k.stats().freeFrames).toBe(base.freeFrames);
    expect(k.stats().tablePages).toBe(base.tablePages);
    expect(() => p.read(a, 1)).toThrow(/EFAULT/);
  });

  it("mprotect: read-only refuses writes, PROT_NONE refuses reads, contents survive", async () => {
    const k = await boot();
    const p = k.spawn();
    const a = anon(p, 2 * 4096);
    p.write(a, bytes(3));
    p.mprotect(a, 4096, PROT_READ);
    expect(() => p.write(a, bytes(4))).toThrow(/EFAULT/);
    expect(p.handleFault(a, { write: true })).toBe(false);
    p.mprotect(a, 4096, 0);
    expect(() => p.read(a, 1)).toThrow(/EFAULT/);
    expect(p.pageEntry(a)!.entry & 1n).toBe(0n);
    p.mprotect(a, 4096, RW);
    p.write(a + 1n, bytes(5));
    expect(p.read(a, 2)).toEqual(bytes(3, 5));
    expect(p.maps().filter((m) => m.start === a)).toHaveLength(1); // merged back
  });

  it("brk grows and shrinks the heap", async () => {
    const k = await boot();
    const p = k.spawn({ heap: 0 });
    const b0 = p.brk();
    const b1 = p.brk(b0 + 10000n);
    expect(b1).toBe(b0 + 10000n);
    p.write(b0 + 9000n, bytes(1));
    expect(p.brk(b0)).toBe(b0);
    expect(() => p.read(b0 + 9000n, 1)).toThrow(/EFAULT/);
    expect(p.brk(b0 - 4096n)).toBe(b0);
  });

  it("flushes the TLB where Linux does: no stale writable or present entry survives fork, COW, mprotect, munmap", async () => {
    const k = await boot();
    const p = k.spawn();
    const a = anon(p, 2 * 4096);
    p.write(a, bytes(1));
    p.write(a, bytes(1)); // a TLB hit: the TLB holds a writable translation
    expect(k.machine.stats().tlbHits).toBeGreaterThan(0);
    const c = p.fork();
    p.write(a, bytes(2)); // must fault (copy-on-write), not write the shared frame
    expect(c.read(a, 1)).toEqual(bytes(1));
    expect(p.read(a, 1)).toEqual(bytes(2));
    c.write(a + 4096n, bytes(3)); // zero page -> own page while cached read-only
    p.read(a + 4096n, 1);
    p.write(a + 4096n, bytes(4));
    expect(c.read(a + 4096n, 1)).toEqual(bytes(3));
    p.mprotect(a, 4096, PROT_READ);
    expect(() => p.write(a, bytes(5))).toThrow(/EFAULT/);
    p.munmap(a, 2 * 4096);
    expect(() => p.read(a + 4096n, 1)).toThrow(/EFAULT/);
    expect(k.machine.stats().flushes.invlpg).toBeGreaterThan(0);
  });

  it("counts fork and exit work exactly and deterministically", async () => {
    const run = async () => {
      const k = await boot();
      const p = k.spawn();
      const a = anon(p, 1 << 21);
      p.touch(a, 1 << 21, true);
      k.resetStats();
      const c = p.fork();
      const fork = { ...p.stats() };
      c.exit();
      return { fork, exit: c.stats() };
    };
    const r1 = await run();
    const r2 = await run();
    expect(r1).toEqual(r2);
    expect(r1.fork.entriesCopied).toBeGreaterThanOrEqual(512);
    expect(r1.exit.tablePagesFreed).toBe(r1.fork.tablePagesAllocated);
  });
});

describe("PCIDs (x86_64 designs)", () => {
  it.each(["x86_64-4level", "x86_64-5level", "x86_64-5level-folded"] as const)("%s: switches keep TLB entries, flushes still reach every address space", async (design) => {
    const k = await Kernel.create({ design, ramBytes: 32 << 20, pcid: true });
    const p = k.spawn();
    const q = k.spawn();
    const a = anon(p, 4 * 4096);
    p.write(a, bytes(1));
    p.read(a, 1);
    q.read(q.maps()[0]!.start, 1);
    const hits = k.machine.stats().tlbHits;
    expect(p.read(a, 1)).toEqual(bytes(1)); // back on p: its entry survived the switch
    expect(k.machine.stats().tlbHits).toBe(hits + 1);
    const c = p.fork(); // p is running: its PCID is flushed
    q.read(q.maps()[0]!.start, 1);
    c.write(a, bytes(2));
    p.write(a, bytes(3)); // p's writable entry is gone: copy-on-write, not the shared frame
    expect(c.read(a, 1)).toEqual(bytes(2));
    q.read(q.maps()[0]!.start, 1);
    p.munmap(a, 4096); // p is not running: INVPCID for its PCID
    expect(() => p.read(a, 1)).toThrow(/EFAULT/);
    expect(k.machine.registers().cr4 & (1n << 17n)).not.toBe(0n);
    c.exit();
    const r = k.spawn(); // reuses c's PCID
    const b = anon(r, 4096);
    r.write(b, bytes(4));
    expect(r.read(b, 1)).toEqual(bytes(4));
  });

  it("rejects pcid where the design has no pgd per process or no long mode", async () => {
    await expect(Kernel.create({ design: "x86_64-3level", ramBytes: 16 << 20, pcid: true })).rejects.toThrow(RangeError);
    await expect(Kernel.create({ design: "i386-pae", ramBytes: 16 << 20, pcid: true })).rejects.toThrow(/i386-pae/);
  });
});
