// The README's "The software: `Kernel`" section, claim by claim: its example prints what the
// README shows, and each stated limit and rule holds.
import { describe, expect, it } from "vitest";
import { Kernel, KernelError, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type DesignName } from "../src/index.js";
import { FLUSH_CEILING_PAGES } from "../src/kernel/tlbflush.js";
import { expectErr, rejected, thrown } from "./expect-error.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

it("the example gives the output the README shows", async () => {
  const k = await Kernel.create({ design: "x86_64-4level", ramBytes: 256 << 20 });
  const p = k.spawn();
  const a = p.mmap({ length: 1 << 20, prot: RW, flags: ANON });
  p.write(a, new TextEncoder().encode("hello"));
  const c = p.fork();
  c.write(a, new TextEncoder().encode("HELLO"));
  expect(new TextDecoder().decode(p.read(a, 5))).toBe("hello");
  expect(new TextDecoder().decode(c.read(a, 5))).toBe("HELLO");
  k.switchTo(p);
  const t = k.machine.translate(a, { user: true });
  expect(t.fault ? t : t.pa).toBe(2125824n);
  expect(p.pageEntry(a)!.pa).toBe(2125824n);
  c.exit();
  p.exit();
  expect(k.stats()).toEqual({
    tablePagesAllocated: 8, tablePagesFreed: 8, entriesVisited: 815, entriesRead: 1330,
    entriesWritten: 777, entriesCopied: 513, levelsVisited: 51, framesCopied: 1,
    tlbFlushes: 10, pageFaults: 2, vmallocFaults: 0, vmallocSyncs: 0,
    freeFrames: 65018, totalFrames: 65536, tablePages: 5,
  });
});

describe("flushes", () => {
  it.each([[32, "INVLPG per page"], [33, "one INVPCID single-context"]] as const)("munmap of %i pages: %s", async (pages, _how) => {
    expect(FLUSH_CEILING_PAGES).toBe(32n);
    const k = await Kernel.create({ design: "x86_64-4level", ramBytes: 16 << 20 });
    const p = k.spawn();
    const a = p.mmap({ length: 64 * 4096, prot: RW, flags: ANON });
    p.touch(a, 64 * 4096, true);
    k.switchTo(p);
    k.machine.resetStats();
    p.munmap(a, pages * 4096);
    const f = k.machine.stats().flushes;
    expect([f.invlpg, f.invpcid]).toEqual(pages <= 32 ? [pages, 0] : [0, 1]);
  });
});

describe("creation", () => {
  it("8 MiB is the least RAM", async () => {
    await Kernel.create({ design: "i386-2level", ramBytes: 8 << 20 });
    expectErr(await rejected(Kernel.create({ design: "i386-2level", ramBytes: (8 << 20) - 4096 })), RangeError, undefined, [/ramBytes/]);
  });

  it.each(["x86_64-4level", "x86_64-5level", "x86_64-5level-folded"] as const)("pcid on %s", async (design) => {
    const k = await Kernel.create({ design, ramBytes: 16 << 20, pcid: true });
    expect(k.machine.registers().cr4 & (1n << 17n)).not.toBe(0n);
  });

  it.each(["x86_64-3level", "i386-pae", "i386-pae-unshared", "i386-2level"] as const)("no pcid on %s", async (design) => {
    expectErr(await rejected(Kernel.create({ design, ramBytes: 16 << 20, pcid: true })), RangeError, undefined, [/pcid/, new RegExp(design)]);
  });

  it("x86_64-3level gives 511 GiB per process", async () => {
    const k = await Kernel.create({ design: "x86_64-3level", ramBytes: 16 << 20 });
    expect(k.userTop).toBe(511n << 30n);
    const p = k.spawn();
    expectErr(thrown(() => p.mmap({ addr: 511n << 30n, length: 4096, prot: RW, flags: ANON | 0x10 })), KernelError, "ENOMEM", []);
  });

  it.each([["x86_64-4level", 2097152n], ["i386-pae", 2097152n], ["i386-2level", 4194304n]] as const)("hugePageSize on %s is the bigint %s", async (design: DesignName, size) => {
    const k = await Kernel.create({ design, ramBytes: 16 << 20 });
    expect(k.hugePageSize).toBe(size);
  });
});

describe("system-call rules", () => {
  const boot = async () => {
    const k = await Kernel.create({ design: "x86_64-4level", ramBytes: 16 << 20 });
    return { k, p: k.spawn() };
  };

  it("munmap: addr page-aligned, length above 0 (EINVAL); holes are fine", async () => {
    const { p } = await boot();
    const a = p.mmap({ length: 4 * 4096, prot: RW, flags: ANON });
    expectErr(thrown(() => p.munmap(a + 1n, 4096)), KernelError, "EINVAL", [/aligned/]);
    expectErr(thrown(() => p.munmap(a, 0)), KernelError, "EINVAL", [/length is 0/]);
    p.munmap(a + 4096n, 4096);
    p.munmap(a, 4 * 4096);
    expect(p.maps().some((m) => m.start < a + 4n * 4096n && m.end > a)).toBe(false);
  });

  it("mprotect: aligned addr, known prot bits (EINVAL); length 0 does nothing; a hole is ENOMEM", async () => {
    const { p } = await boot();
    const a = p.mmap({ length: 4 * 4096, prot: RW, flags: ANON });
    expectErr(thrown(() => p.mprotect(a + 1n, 4096, PROT_READ)), KernelError, "EINVAL", [/aligned/]);
    expectErr(thrown(() => p.mprotect(a, 4096, 8)), KernelError, "EINVAL", [/prot 0x8/]);
    const before = p.maps();
    p.mprotect(a, 0, PROT_READ);
    expect(p.maps()).toEqual(before);
    p.munmap(a + 4096n, 4096);
    expectErr(thrown(() => p.mprotect(a, 4 * 4096, PROT_READ)), KernelError, "ENOMEM", [/not entirely mapped/]);
  });

  it("brk: the old break when it cannot move; shrinking unmaps", async () => {
    const { p } = await boot();
    const start = p.brk();
    const heapStart = start - (128n << 10n); // the default 128 KiB heap (merged with data in maps())
    expect(p.brk(heapStart - 4096n)).toBe(start);
    const next = p.mmap({ addr: start + 8n * 4096n, length: 4096, prot: RW, flags: ANON | 0x10 });
    expect(p.brk(next - 4096n + 1n)).toBe(start); // would end within a page of the next area
    expect(p.brk(next - 4096n)).toBe(next - 4096n);
    expect(p.brk(heapStart + 4096n)).toBe(heapStart + 4096n);
    expect(p.maps().find((m) => m.start < heapStart && m.end > heapStart)!.end).toBe(heapStart + 4096n);
  });

  it("handleFault answers false where Linux sends SIGSEGV", async () => {
    const { k, p } = await boot();
    const a = p.mmap({ length: 4096, prot: PROT_READ, flags: ANON });
    expect(p.handleFault(0x1000n)).toBe(false); //                     no area
    expect(p.handleFault(a, { write: true })).toBe(false); //          rights refuse it
    expect(p.handleFault(k.vmallocStart, { user: true })).toBe(false); // a kernel address from user mode
    expect(p.handleFault(a)).toBe(true);
  });
});
