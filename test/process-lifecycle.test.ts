// A Process and its Kernel through their life: the context switch (kernel.switchTo), the
// page-fault handler's error-code check, calls after exit (ESRCH) and after the Machine is
// destroyed (StateError). Each list below is checked against the prototypes, so a new method
// that skips the liveness check fails here.
import { describe, expect, it } from "vitest";
import {
  Kernel, KernelError, MAP_ANONYMOUS, MAP_PRIVATE, PF_US, PF_WR, PROT_READ, PROT_WRITE, Process, StateError,
  type DesignName,
} from "../src/index.js";
import { expectErr, thrown } from "./expect-error.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const ramBytes = 16 << 20;

async function booted(design: DesignName = "x86_64-4level", pcid = false) {
  const k = await Kernel.create({ design, ramBytes, pcid });
  const p = k.spawn();
  const a = p.mmap({ length: 8192, prot: RW, flags: ANON });
  p.write(a, Uint8Array.of(1, 2, 3));
  return { k, p, a };
}

/** Every public member of a class's prototype except the constructor. */
const members = (c: { prototype: object }) => Object.getOwnPropertyNames(c.prototype).filter((n) => n !== "constructor").sort();

type Ctx = Awaited<ReturnType<typeof booted>> & { q: Process };

/** One call of each Process member (getters read). */
const PROCESS_CALLS: Record<string, (c: Ctx) => unknown> = {
  pid: ({ p }) => p.pid,
  exited: ({ p }) => p.exited,
  pgd: ({ p }) => p.pgd,
  brkValue: ({ p }) => p.brkValue,
  mmap: ({ p }) => p.mmap({ length: 4096, prot: RW, flags: ANON }),
  munmap: ({ p, a }) => p.munmap(a, 4096),
  mprotect: ({ p, a }) => p.mprotect(a, 4096, PROT_READ),
  brk: ({ p }) => p.brk(),
  read: ({ p, a }) => p.read(a, 1),
  write: ({ p, a }) => p.write(a, Uint8Array.of(9)),
  touch: ({ p, a }) => p.touch(a, 4096, true),
  fork: ({ p }) => p.fork(),
  exit: ({ p }) => p.exit(),
  handleFault: ({ p, a }) => p.handleFault(a + 4096n, { write: true }),
  pageEntry: ({ p, a }) => p.pageEntry(a),
  maps: ({ p }) => p.maps(),
  stats: ({ p }) => p.stats(),
};

/** One call of each Kernel member. */
const KERNEL_CALLS: Record<string, (c: Ctx) => unknown> = {
  spawn: ({ k }) => k.spawn(),
  processes: ({ k }) => k.processes(),
  switchTo: ({ k, q }) => k.switchTo(q),
  vmallocSyncAll: ({ k }) => k.vmallocSyncAll(),
  setMemory: ({ k }) => k.setMemory(k.design.pageOffset + (4n << 20n), 4096, { write: false, execute: false }),
  vmalloc: ({ k }) => k.vmalloc(4096),
  ioremap: ({ k }) => k.ioremap(0xfee00000n, 4096),
  vfree: ({ k }) => k.vfree(k.vmallocStart),
  injectAllocFailure: ({ k }) => k.injectAllocFailure(1),
  stats: ({ k }) => k.stats(),
  resetStats: ({ k }) => k.resetStats(),
  referenceRoot: ({ k }) => k.referenceRoot,
  frameRefs: ({ k }) => k.frameRefs(0n),
};

describe("the lists cover every member", () => {
  it("of Process and Kernel", () => {
    expect(members(Process)).toEqual(Object.keys(PROCESS_CALLS).sort());
    expect(members(Kernel)).toEqual(Object.keys(KERNEL_CALLS).sort());
  });
});

describe("a Kernel whose Machine was destroyed", () => {
  it.each(Object.keys(KERNEL_CALLS))("kernel.%s throws StateError", async (name) => {
    const c = await booted();
    const ctx = { ...c, q: c.k.spawn() };
    ctx.k.machine.destroy();
    expectErr(thrown(() => KERNEL_CALLS[name]!(ctx)), StateError, undefined, [/destroyed/]);
  });

  it.each(Object.keys(PROCESS_CALLS).filter((n) => n !== "pid" && n !== "exited"))("process.%s throws StateError", async (name) => {
    const c = await booted();
    const ctx = { ...c, q: c.k.spawn() };
    ctx.k.machine.destroy();
    expectErr(thrown(() => PROCESS_CALLS[name]!(ctx)), StateError, undefined, [/destroyed/]);
  });

  it("pid and exited still answer", async () => {
    const { k, p } = await booted();
    k.machine.destroy();
    expect(p.pid).toBe(1);
    expect(p.exited).toBe(false);
  });
});

describe("an exited process", () => {
  const answering = ["pid", "exited", "stats"];
  it.each(Object.keys(PROCESS_CALLS).filter((n) => !answering.includes(n)))("process.%s throws ESRCH", async (name) => {
    const c = await booted();
    const ctx = { ...c, q: c.k.spawn() };
    ctx.p.exit();
    const before = ctx.k.stats();
    expectErr(thrown(() => PROCESS_CALLS[name]!(ctx)), KernelError, "ESRCH", [/process 1 has exited/]);
    expect(ctx.k.stats()).toEqual(before);
  });

  it("answers pid, exited and stats(): its final counts, exit's work included", async () => {
    const { k, p } = await booted();
    const live = p.stats();
    expect(live.tablePages).toBeGreaterThan(0);
    p.exit();
    const s = p.stats();
    expect(p.pid).toBe(1);
    expect(p.exited).toBe(true);
    expect(s.tablePages).toBe(0);
    expect(s.tablePagesFreed).toBe(s.tablePagesAllocated);
    expect(s.freeFrames).toBe(k.stats().freeFrames);
    expect(p.stats()).toEqual(s);
  });

  it("cannot be switched to", async () => {
    const { k, p } = await booted();
    p.exit();
    expectErr(thrown(() => k.switchTo(p)), KernelError, "ESRCH", [/exited/]);
  });
});

describe("process.handleFault with an x86 error code", () => {
  const codes = [0x40, 0x80, 0x8000, 0x41 | PF_WR].map((c) => [c.toString(16), c] as const);
  it.each(codes)("rejects 0x%s, naming the bits that are not page-fault error-code bits", async (_, code) => {
    const { k, p, a } = await booted();
    const before = k.stats();
    const bad = code & ~0x3f;
    expectErr(thrown(() => p.handleFault(a + 4096n, code)), RangeError, undefined, [
      new RegExp(`access 0x${code.toString(16)} `), new RegExp(`bits 0x${bad.toString(16)} `),
    ]);
    expect(k.stats()).toEqual(before);
    expect(p.pageEntry(a + 4096n)).toBeNull();
  });

  it("takes the P, W/R, U/S, RSVD, I/D and PK bits", async () => {
    const { p, a } = await booted();
    expect(p.handleFault(a + 4096n, PF_WR | PF_US)).toBe(true);
    expect(p.pageEntry(a + 4096n)).not.toBeNull();
    expect(p.handleFault(a, 0x3f & ~0x10)).toBe(true);
  });
});

describe("kernel.switchTo", () => {
  it.each(["x86_64-4level", "i386-pae", "i386-2level", "x86_64-5level"] as const)("on %s loads CR3 with the process's pgd", async (design) => {
    const { k, p, a } = await booted(design);
    const q = p.fork();
    q.write(a, Uint8Array.of(7)); // copy-on-write: q's page is its own frame
    k.switchTo(p);
    expect(k.machine.registers().cr3 & ~0xfffn).toBe(p.pgd);
    const pa = k.machine.translate(a, { user: true });
    expect(pa.fault).toBeUndefined();
    expect(pa.fault ? 0n : pa.pa).toBe(p.pageEntry(a)!.pa);
    k.switchTo(q);
    expect(k.machine.registers().cr3 & ~0xfffn).toBe(q.pgd);
    const qa = k.machine.translate(a, { user: true });
    expect(qa.fault ? 0n : qa.pa).toBe(q.pageEntry(a)!.pa);
    expect(q.pageEntry(a)!.pa).not.toBe(p.pageEntry(a)!.pa);
  });

  it("on x86_64-3level rewrites slot 0 of the per-CPU PML4 (CR3 stays on it)", async () => {
    const { k, p, a } = await booted("x86_64-3level");
    const q = p.fork();
    q.write(a, Uint8Array.of(7));
    k.switchTo(q);
    expect(k.machine.registers().cr3 & ~0xfffn).toBe(k.referenceRoot);
    const qa = k.machine.translate(a, { user: true });
    expect(qa.fault ? 0n : qa.pa).toBe(q.pageEntry(a)!.pa);
    k.switchTo(p);
    expect(k.machine.registers().cr3 & ~0xfffn).toBe(k.referenceRoot);
    const pa = k.machine.translate(a, { user: true });
    expect(pa.fault ? 0n : pa.pa).toBe(p.pageEntry(a)!.pa);
  });

  it("with PCIDs loads each process's PCID and keeps its TLB entries", async () => {
    const { k, p } = await booted("x86_64-4level", true);
    const q = k.spawn();
    k.switchTo(p);
    const pcidP = k.machine.registers().cr3 & 0xfffn;
    k.switchTo(q);
    const pcidQ = k.machine.registers().cr3 & 0xfffn;
    expect(pcidP).not.toBe(0n);
    expect(pcidQ).not.toBe(0n);
    expect(pcidQ).not.toBe(pcidP);
  });

  it("to the current process changes nothing; a switch is one counted flush without PCIDs", async () => {
    const { k, p } = await booted();
    const q = k.spawn();
    k.switchTo(p);
    const before = k.stats().tlbFlushes;
    k.switchTo(p);
    expect(k.stats().tlbFlushes).toBe(before);
    k.switchTo(q);
    expect(k.stats().tlbFlushes).toBe(before + 1);
  });

  it("refuses what is not a Process of this Kernel", async () => {
    const { k } = await booted();
    const other = await booted();
    expectErr(thrown(() => k.switchTo({} as Process)), TypeError, undefined, [/must be a Process/]);
    expectErr(thrown(() => k.switchTo(null as unknown as Process)), TypeError, undefined, [/must be a Process, got null/]);
    expectErr(thrown(() => k.switchTo(other.p)), RangeError, undefined, [/another Kernel/]);
  });
});
