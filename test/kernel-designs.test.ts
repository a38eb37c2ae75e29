// Kernel: what distinguishes the designs of the seeds — address-space limits, the 5-level mmap
// hint rule, how the kernel half reaches each process, vmalloc propagation, PAE kernel PMDs.
import { describe, expect, it } from "vitest";
import {
  Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, type DesignName,
} from "../src/index.js";
import { errno } from "./kernel-errno.js";

const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const PRIV = MAP_PRIVATE | MAP_ANONYMOUS;
const boot = (design: DesignName) => Kernel.create({ design, ramBytes: 32 << 20 });
const entryAt = (k: Kernel, table: bigint, index: number, size = 8) => {
  const b = k.machine.readPhysical(table + BigInt(index * size), size);
  return size === 8 ? new DataView(b.buffer).getBigUint64(0, true) : BigInt(new DataView(b.buffer).getUint32(0, true));
};

describe("address-space limits", () => {
  const cases: Array<[DesignName, bigint]> = [
    ["x86_64-4level", 1n << 47n],
    ["x86_64-5level", (1n << 56n) - 4096n],
    ["x86_64-5level-folded", (1n << 47n) - 4096n],
    ["x86_64-3level", 0x7fc0000000n],
    ["i386-2level", 0xc0000000n],
    ["i386-pae", 0xc0000000n],
    ["i386-pae-unshared", 0xc0000000n],
  ];
  it.each(cases)("%s: user space ends at 0x%s", async (design, top) => {
    const k = await boot(design);
    expect(k.userTop).toBe(top);
    const p = k.spawn();
    const last = p.mmap({ addr: top - 4096n, length: 4096, prot: RW, flags: FIXED });
    p.write(last + 4095n, new Uint8Array([1]));
    expect(p.read(last + 4095n, 1)).toEqual(new Uint8Array([1]));
    expect(errno(() => p.mmap({ addr: top, length: 4096, prot: RW, flags: FIXED }))).toBe("ENOMEM");
    expect(errno(() => p.mmap({ addr: top - 4096n, length: 8192, prot: RW, flags: FIXED }))).toBe("ENOMEM");
    expect(errno(() => p.mmap({ length: top, prot: RW, flags: PRIV }))).toBe("ENOMEM");
    expect(p.handleFault(top, { write: true })).toBe(false);
  });

  it("x86_64-3level: mmap beyond 512 GiB fails with ENOMEM, within it works", async () => {
    const k = await boot("x86_64-3level");
    const p = k.spawn();
    expect(errno(() => p.mmap({ addr: 512n << 30n, length: 4096, prot: RW, flags: FIXED }))).toBe("ENOMEM");
    const a = p.mmap({ addr: 500n << 30n, length: 4096, prot: RW, flags: FIXED });
    p.write(a, new Uint8Array([7]));
    expect(p.read(a, 1)[0]).toBe(7);
  });
});

describe("5-level mmap hint rule (seed 004)", () => {
  const W47 = 1n << 47n;

  it("allocates below 47 bits by default, above with a high hint, and falls back to the full space", async () => {
    const k = await boot("x86_64-5level");
    const p = k.spawn();
    const low = p.mmap({ length: 1 << 20, prot: RW, flags: PRIV });
    expect(low < W47).toBe(true);
    const hint = 1n << 52n;
    const high = p.mmap({ addr: hint, length: 1 << 20, prot: RW, flags: PRIV });
    expect(high).toBe(hint);
    // Occupied hint above 47 bits: search the full address space, not the 47-bit window.
    const again = p.mmap({ addr: hint, length: 1 << 20, prot: RW, flags: PRIV });
    expect(again > W47).toBe(true);
    expect(again).not.toBe(hint);
    // The high hint affected only those calls.
    expect(p.mmap({ length: 1 << 20, prot: RW, flags: PRIV }) < W47).toBe(true);
    // MAP_FIXED above 47 bits is allowed with 5-level paging.
    const fixed = p.mmap({ addr: 1n << 55n, length: 4096, prot: RW, flags: FIXED });
    p.write(fixed, new Uint8Array([9]));
    expect(p.read(fixed, 1)[0]).toBe(9);
    expect(k.machine.mode).toBe("5-level");
  });

  it("x86_64-5level-folded: 4-level hardware ignores the high hint; MAP_FIXED above 47 bits fails", async () => {
    const k = await boot("x86_64-5level-folded");
    expect(k.machine.mode).toBe("4-level");
    const p = k.spawn();
    const a = p.mmap({ addr: 1n << 52n, length: 1 << 20, prot: RW, flags: PRIV });
    expect(a < W47).toBe(true);
    expect(errno(() => p.mmap({ addr: 1n << 52n, length: 4096, prot: RW, flags: FIXED }))).toBe("ENOMEM");
  });

  it("the folded p4d costs a level pass but no table: same tables as 4-level, more levels visited", async () => {
    const run = async (design: DesignName) => {
      const k = await boot(design);
      const p = k.spawn();
      const a = p.mmap({ addr: 1n << 40n, length: 1 << 22, prot: RW, flags: FIXED });
      p.touch(a, 1 << 22, true);
      k.resetStats();
      p.fork().exit();
      return k.stats();
    };
    const four = await run("x86_64-4level");
    const folded = await run("x86_64-5level-folded");
    const five = await run("x86_64-5level");
    expect(folded.tablePagesAllocated).toBe(four.tablePagesAllocated);
    expect(folded.levelsVisited).toBeGreaterThan(four.levelsVisited);
    expect(five.tablePagesAllocated).toBeGreaterThan(four.tablePagesAllocated);
  });
});

describe("kernel half", () => {
  it("x86_64-4level: pml4_alloc copies entries 256..511 from init_level4_pgt; the tables below are shared", async () => {
    const k = await boot("x86_64-4level");
    const p = k.spawn();
    const q = k.spawn();
    let present = 0;
    for (let i = 0; i < 512; i++) {
      const ref = entryAt(k, k.referenceRoot, i);
      const mine = entryAt(k, p.pgd, i);
      if (i >= 256) {
        expect(mine).toBe(ref);
        expect(entryAt(k, q.pgd, i)).toBe(ref);
        if (ref) present++;
      } else {
        expect(ref).toBe(0n);
      }
    }
    expect(present).toBeGreaterThanOrEqual(2); // direct map and kernel text
    // The direct map at PAGE_OFFSET (0xffff810000000000) in 2 MiB pages, supervisor only.
    const dm = p.pageEntry(0xffff810000000000n + 0x200000n)!;
    expect(dm.level).toBe(2);
    expect(dm.pa).toBe(0x200000n);
    expect(dm.entry & 4n).toBe(0n);
    expect(p.pageEntry(0xffffffff80000000n)!.pa).toBe(0n);
  });

  it("x86_64-3level: one PML4 per CPU; slot 0 is rewritten with the running process's pgd", async () => {
    const k = await boot("x86_64-3level");
    const p = k.spawn();
    const q = k.spawn();
    const pml4 = k.referenceRoot;
    p.read(0x400000n, 1);
    expect(entryAt(k, pml4, 0) & ~0xfffn).toBe(p.pgd);
    expect(k.machine.registers().cr3).toBe(pml4);
    q.read(0x400000n, 1);
    expect(entryAt(k, pml4, 0) & ~0xfffn).toBe(q.pgd);
    expect(k.machine.registers().cr3).toBe(pml4);
    // Direct map at 0x10000000000 (slot 2); kernel text and vmalloc in slots 511 and 510.
    expect(entryAt(k, pml4, 2)).not.toBe(0n);
    expect(entryAt(k, pml4, 511)).not.toBe(0n);
    const v = k.vmalloc(4096);
    expect(v >> 39n & 511n).toBe(510n);
    expect(Array.from(p.read(v, 4, { supervisor: true }))).toEqual([0, 0, 0, 0]);
    expect(k.stats().vmallocFaults).toBe(0);
  });

  it("i386-2level: kernel PDEs 768..1023 cloned from swapper_pg_dir, 4 MiB direct-map pages", async () => {
    const k = await boot("i386-2level");
    const p = k.spawn();
    for (let i = 768; i < 1024; i++) expect(entryAt(k, p.pgd, i, 4)).toBe(entryAt(k, k.referenceRoot, i, 4));
    const dm = p.pageEntry(0xc0400000n)!;
    expect(dm.level).toBe(4);
    expect(dm.pa).toBe(0x400000n);
    expect(dm.entry & 0x80n).toBe(0x80n);
    expect(k.machine.mode).toBe("32-bit");
  });
});

describe("PAE kernel PMD (seed 003)", () => {
  it("shared: every pgd's 4th entry points to the one kernel PMD", async () => {
    const k = await boot("i386-pae");
    const p = k.spawn();
    const q = k.spawn();
    const ref = entryAt(k, k.referenceRoot, 3);
    expect(entryAt(k, p.pgd, 3)).toBe(ref);
    expect(entryAt(k, q.pgd, 3)).toBe(ref);
    expect(p.stats().tablePages).toBe(4); // pgd + 3 user PMDs
    expect(k.vmallocSyncAll()).toBe(0);
  });

  it("unshared: each pgd has its own kernel PMD, a copy of the reference", async () => {
    const k = await boot("i386-pae-unshared");
    const p = k.spawn();
    const q = k.spawn();
    const ref = entryAt(k, k.referenceRoot, 3) & ~0xfffn;
    const mine = entryAt(k, p.pgd, 3) & ~0xfffn;
    expect(mine).not.toBe(ref);
    expect(entryAt(k, q.pgd, 3) & ~0xfffn).not.toBe(mine);
    expect(k.machine.readPhysical(mine, 4096)).toEqual(k.machine.readPhysical(ref, 4096));
    expect(p.stats().tablePages).toBe(5); // pgd + 3 user PMDs + its kernel PMD
  });
});

describe("vmalloc reaches processes lazily or eagerly", () => {
  it.each<[DesignName, "fault" | "sync" | "shared"]>([
    ["x86_64-4level", "fault"],
    ["x86_64-5level", "fault"],
    ["x86_64-5level-folded", "fault"],
    ["i386-2level", "fault"],
    ["x86_64-3level", "shared"],
    ["i386-pae", "shared"],
    ["i386-pae-unshared", "sync"],
  ])("%s: %s", async (design, how) => {
    const k = await boot(design);
    const early = k.spawn();
    k.resetStats();
    const v = k.vmalloc(3 * 4096);
    expect(v >= k.vmallocStart && v < k.vmallocEnd).toBe(true);
    const syncs = k.stats().vmallocSyncs;
    expect(syncs).toBe(how === "sync" ? 1 : 0);
    if (how === "fault") expect(early.pageEntry(v)).toBeNull();
    else expect(early.pageEntry(v)).not.toBeNull();
    // A system call touching the memory from the early process.
    expect(early.read(v + 4096n, 2, { supervisor: true })).toEqual(new Uint8Array(2));
    early.write(v + 4096n, new Uint8Array([5, 6]), { supervisor: true });
    expect(k.stats().vmallocFaults).toBe(how === "fault" ? 1 : 0);
    expect(early.stats().vmallocFaults).toBe(how === "fault" ? 1 : 0);
    // User mode never reaches it.
    expect(() => early.read(v, 1)).toThrow(/EFAULT/);
    // A process created after vmalloc has it from pgd_alloc.
    const late = k.spawn();
    expect(late.read(v + 4096n, 2, { supervisor: true })).toEqual(new Uint8Array([5, 6]));
    expect(k.stats().vmallocFaults).toBe(how === "fault" ? 1 : 0);
    // vfree returns the frames.
    const free = k.stats().freeFrames;
    k.vfree(v);
    expect(k.stats().freeFrames).toBe(free + 3);
    expect(() => late.read(v, 1, { supervisor: true })).toThrow(/EFAULT/);
  });

  it("ioremap maps a physical range uncached; vfree unmaps it without freeing RAM", async () => {
    const k = await boot("x86_64-4level");
    const p = k.spawn();
    k.machine.writePhysical(0x1234n, new Uint8Array([0xab]));
    const v = k.ioremap(0x1234n, 16);
    expect(v & 0xfffn).toBe(0x234n);
    expect(p.read(v, 1, { supervisor: true })[0]).toBe(0xab);
    const e = p.pageEntry(v)!;
    expect(e.entry & 0x18n).toBe(0x18n); // PCD | PWT
    const free = k.stats().freeFrames;
    k.vfree(v);
    expect(k.stats().freeFrames).toBe(free);
  });

  it("vmallocSyncAll propagates eagerly on i386-2level through the pgd list", async () => {
    const k = await boot("i386-2level");
    const p = k.spawn();
    const q = k.spawn();
    const v = k.vmalloc(4096);
    expect(p.pageEntry(v)).toBeNull();
    expect(k.vmallocSyncAll()).toBe(2);
    expect(p.pageEntry(v)).not.toBeNull();
    expect(q.pageEntry(v)).not.toBeNull();
    expect(k.stats().vmallocSyncs).toBe(2);
  });
});

describe("set_memory on the direct map (change_page_attr)", () => {
  it.each<[DesignName, number]>([
    ["x86_64-4level", 0],
    ["x86_64-5level", 0],
    ["x86_64-5level-folded", 0],
    ["x86_64-3level", 0],
    ["i386-pae", 0],
    ["i386-pae-unshared", 1],
    ["i386-2level", 1],
  ])("%s: a read-only page reaches every process (%i pgd-list copies each)", async (design, copies) => {
    const k = await boot(design);
    const p = k.spawn();
    const q = k.spawn();
    const va = k.design.pageOffset + 0x100000n; // the kernel image, in the direct map
    p.write(va, new Uint8Array([1]), { supervisor: true }); // cached writable (and global) in the TLB
    k.resetStats();
    k.setMemory(va, 4096, { write: false, execute: false });
    expect(k.stats().vmallocSyncs).toBe(2 * copies);
    for (const proc of [p, q, k.spawn()]) {
      expect(() => proc.write(va, new Uint8Array([2]), { supervisor: true })).toThrow(/EFAULT/);
      expect(proc.read(va, 1, { supervisor: true })[0]).toBe(1);
      proc.write(va + 4096n, new Uint8Array([3]), { supervisor: true }); // the rest of the large page
      expect(proc.pageEntry(va)!.level).toBe(1); // split
    }
    k.setMemory(va, 4096, { write: true, execute: false });
    p.write(va, new Uint8Array([4]), { supervisor: true });
    expect(q.read(va, 1, { supervisor: true })[0]).toBe(4);
    expect(() => k.setMemory(0x1000n, 4096, { write: false, execute: false })).toThrow(/direct map/);
  });
});
