// Kernel: out of memory at every allocation point of fork, mmap + touch, and the fault handler.
// Each failure is ENOMEM with RAM (every table and page), every frame count and the free-frame
// and table-page counts exactly as before; in the end every frame comes back.
import { describe, expect, it } from "vitest";
import {
  DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName, type Process,
} from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const RAM = 8 << 20;
const RAM_LARGE = 12 << 20; // room for a few aligned runs of free frames

/** The state an allocating operation may change; `copy` = false views RAM instead of copying it. */
function snapshot(k: Kernel, copy = true) {
  const refs = new Uint32Array(k.totalFrames);
  for (let i = 0; i < k.totalFrames; i++) refs[i] = k.frameRefs(BigInt(i) << 12n);
  const s = k.stats();
  const ram = k.machine.ram;
  return {
    ram: copy ? Buffer.from(ram.slice()) : Buffer.from(ram.buffer, ram.byteOffset, ram.byteLength),
    refs: Buffer.from(refs.buffer),
    free: s.freeFrames,
    tables: s.tablePages,
  };
}

function expectSame(a: ReturnType<typeof snapshot>, b: ReturnType<typeof snapshot>, what: string) {
  expect(a.free, `${what}: free frames`).toBe(b.free);
  expect(a.tables, `${what}: table pages`).toBe(b.tables);
  expect(a.refs.equals(b.refs), `${what}: frame counts`).toBe(true);
  expect(a.ram.equals(b.ram), `${what}: RAM`).toBe(true);
}

/** Runs op with the n-th allocation failing, n = 1, 2, ... until it succeeds; returns its result and n. */
function everyAllocationPoint<T>(k: Kernel, what: string, op: () => T): [T, number] {
  for (let n = 1; n < 10_000; n++) {
    const before = snapshot(k);
    k.injectAllocFailure(n);
    try {
      const r = op();
      k.injectAllocFailure(null);
      return [r, n];
    } catch (e) {
      k.injectAllocFailure(null);
      expect(e).toBeInstanceOf(KernelError);
      expect((e as KernelError).code).toBe("ENOMEM");
      expectSame(snapshot(k, false), before, `${what}, allocation ${n} failing`);
    }
  }
  throw new Error("never succeeded");
}

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

describe.each(DESIGN_NAMES)("%s", (design: DesignName) => {
  const boot = () => Kernel.create({ design, ramBytes: RAM });

  it("fork fails cleanly at every allocation point", async () => {
    const k = await boot();
    const start = k.stats().freeFrames;
    const p = busy(k);
    const [child, points] = everyAllocationPoint(k, "fork", () => p.fork());
    expect(points).toBeGreaterThan(2);
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
    const [, points] = everyAllocationPoint(k, "mmap + touch", () => {
      const a = p.mmap({ addr: far, length: 64 * 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
      try {
        p.touch(a, 12 * 4096, true);
      } catch (e) {
        p.munmap(a, 64 * 4096); // undo the mmap so that the state compares equal
        throw e;
      }
      return a;
    });
    expect(points).toBeGreaterThan(12);
    const [, shared] = everyAllocationPoint(k, "shared mmap", () =>
      p.mmap({ length: 5 * 4096, prot: RW, flags: MAP_SHARED | MAP_ANONYMOUS }),
    );
    expect(shared).toBeGreaterThan(5);
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });

  it("the fault handler fails cleanly at every allocation point (demand-zero and copy-on-write)", async () => {
    const k = await boot();
    const start = k.stats().freeFrames;
    const p = busy(k);
    const far = (k.userTop / 4n) & ~((1n << 30n) - 1n);
    const a = p.mmap({ addr: far, length: 4096, prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
    const [ok, points] = everyAllocationPoint(k, "demand-zero fault", () => p.handleFault(a, { write: true }));
    expect(ok).toBe(true);
    expect(points).toBeGreaterThan(1);
    const c = p.fork();
    c.read(a, 1); // running on the CPU (a context switch is a change of its own)
    const [ok2, cow] = everyAllocationPoint(k, "copy-on-write fault", () => c.handleFault(a, { write: true }));
    expect(ok2).toBe(true);
    expect(cow).toBe(2);
    c.exit();
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });

  it("large pages: fork, a large copy-on-write fault and splitting munmap/mprotect fail cleanly", async () => {
    const k = await Kernel.create({ design, ramBytes: RAM_LARGE });
    const start = k.stats().freeFrames;
    const p = busy(k);
    const H = k.hugePageSize;
    const a = p.mmap({ length: Number(H), prot: RW, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB });
    p.write(a, new Uint8Array([1]));
    expect(p.pageEntry(a)!.level).toBeGreaterThan(1);
    const [c] = everyAllocationPoint(k, "fork with a large page", () => p.fork());
    c.read(a, 1);
    const [, cow] = everyAllocationPoint(k, "large copy-on-write", () => c.handleFault(a, { write: true }));
    expect(cow).toBeGreaterThanOrEqual(1);
    const [, cut] = everyAllocationPoint(k, "munmap inside a large page", () => p.munmap(a + 4096n, 4096));
    expect(cut).toBe(2);
    // The child's copy is a large page if a free run was left, else it was split to copy one page.
    const childLarge = c.pageEntry(a)!.level > 1;
    const [, prot] = everyAllocationPoint(k, "mprotect inside a large page", () => c.mprotect(a + 8192n, 4096, PROT_READ));
    expect(prot).toBe(childLarge ? 2 : 1);
    c.exit();
    p.exit();
    expect(k.stats().freeFrames).toBe(start);
  });
});
