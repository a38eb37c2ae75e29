// Misuse of the Kernel and Process API (and of the Machine API that came with the TLB): wrong
// types, out-of-range values, exited processes, calls in the wrong order. Each throws a typed
// error naming the bad value (TypeError / RangeError for API misuse, KernelError with Linux's
// code where a system call would fail), changes nothing, and leaves everything usable.
import { expectErr, rejected, thrown, type ErrorClass } from "./expect-error.js";
import { describe, expect, it } from "vitest";
import {
  Kernel, KernelError, Machine, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type Process,
} from "../src/index.js";

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** What a call must throw: the class, Linux's code for a KernelError, and text the message must hold. */
type Expect = [ErrorClass, string | undefined, RegExp[]];

function expectError(f: () => unknown, [type, code, patterns]: Expect): void {
  expectErr(thrown(f), type, code, patterns);
}

async function expectRejection(p: Promise<unknown>, [type, code, patterns]: Expect): Promise<void> {
  expectErr(await rejected(p), type, code, patterns);
}

describe("Kernel.create rejects bad options, naming them", () => {
  it.each([
    [{ ramBytes: 8 << 20 }, [TypeError, undefined, [/design/]]],
    [{ design: "x86", ramBytes: 8 << 20 }, [RangeError, undefined, [/design/, /"x86"/]]],
    [{ design: 64, ramBytes: 8 << 20 }, [TypeError, undefined, [/design/]]],
    [{ design: "x86_64-4level", ramBytes: 1 << 20 }, [RangeError, undefined, [/ramBytes/, /1048576/]]],
    [{ design: "x86_64-4level", ramBytes: "8M" }, [TypeError, undefined, [/ramBytes/, /8M/]]],
    [{ design: "x86_64-4level", ramBytes: 8 << 20, impl: "js" }, [RangeError, undefined, [/impl/, /"js"/]]],
    [{ design: "x86_64-4level", ramBytes: 8 << 20, cpus: 2 }, [RangeError, undefined, [/cpus/]]],
    [null, [TypeError, undefined, [/options/, /null/]]],
  ] as Array<[unknown, Expect]>)("%o", async (options, e) => {
    await expectRejection(Kernel.create(options as never), e);
  });
});

describe.each(["x86_64-4level", "i386-pae", "i386-2level"] as const)("%s: bad calls throw, change nothing, and everything stays usable", (design) => {
  async function setup() {
    const k = await Kernel.create({ design, ramBytes: 8 << 20 });
    const p = k.spawn();
    const a = p.mmap({ length: 8 * 4096, prot: RW, flags: ANON });
    p.write(a, Uint8Array.of(1, 2, 3, 4));
    const dead = p.fork();
    dead.exit();
    return { k, p, a, dead };
  }
  type Env = Awaited<ReturnType<typeof setup>>;
  const cases: Array<[string, (e: Env) => unknown, Expect]> = [
    ["spawn with a negative size", ({ k }) => k.spawn({ text: -1 }), [RangeError, undefined, [/layout\.text/, /-1/]]],
    ["spawn with a string size", ({ k }) => k.spawn({ heap: "4096" as never }), [TypeError, undefined, [/layout\.heap/, /4096/]]],
    ["spawn with an unknown key", ({ k }) => k.spawn({ bss: 1 } as never), [RangeError, undefined, [/bss/]]],
    ["mmap without length", ({ p }) => p.mmap({ prot: RW, flags: ANON } as never), [TypeError, undefined, [/length/]]],
    ["mmap of length 0", ({ p }) => p.mmap({ length: 0, prot: RW, flags: ANON }), [KernelError, "EINVAL", [/length/]]],
    ["mmap of negative length", ({ p }) => p.mmap({ length: -4096, prot: RW, flags: ANON }), [RangeError, undefined, [/length/, /-4096/]]],
    ["mmap with unknown prot bits", ({ p }) => p.mmap({ length: 4096, prot: 99, flags: ANON }), [KernelError, "EINVAL", [/prot/, /0x63/]]],
    ["mmap with neither shared nor private", ({ p }) => p.mmap({ length: 4096, prot: RW, flags: MAP_ANONYMOUS }), [KernelError, "EINVAL", [/MAP_SHARED/]]],
    ["mmap with a number address", ({ p }) => p.mmap({ addr: 4096 as never, length: 4096, prot: RW, flags: ANON }), [TypeError, undefined, [/addr/, /4096/]]],
    ["mmap MAP_FIXED unaligned", ({ p }) => p.mmap({ addr: 0x10001n, length: 4096, prot: RW, flags: ANON | 0x10 }), [KernelError, "EINVAL", [/0x10001/]]],
    ["mmap larger than the address space", ({ p }) => p.mmap({ length: 1n << 60n, prot: RW, flags: ANON }), [KernelError, "ENOMEM", [/0x1000000000000000/]]],
    ["munmap unaligned", ({ p, a }) => p.munmap(a + 1n, 4096), [KernelError, "EINVAL", [/not page aligned/]]],
    ["munmap with a number", ({ p }) => p.munmap(4096 as never, 4096), [TypeError, undefined, [/addr/, /4096/]]],
    ["mprotect with unknown bits", ({ p, a }) => p.mprotect(a, 4096, 64), [KernelError, "EINVAL", [/prot/, /0x40/]]],
    ["mprotect of a hole", ({ p }) => p.mprotect(0x1000n, 4096, PROT_READ), [KernelError, "ENOMEM", [/0x1000/]]],
    ["brk with a string", ({ p }) => p.brk("1" as never), [TypeError, undefined, [/addr/]]],
    ["read with a number address", ({ p }) => p.read(4096 as never, 4), [TypeError, undefined, [/va/, /4096/]]],
    ["read of negative length", ({ p, a }) => p.read(a, -1), [RangeError, undefined, [/length/, /-1/]]],
    ["write of an array", ({ p, a }) => p.write(a, [1, 2] as never), [TypeError, undefined, [/bytes/]]],
    ["write with a bad option", ({ p, a }) => p.write(a, Uint8Array.of(9), { supervisor: 1 } as never), [TypeError, undefined, [/supervisor/, /\b1\b/]]],
    ["touch with a string length", ({ p, a }) => p.touch(a, "1" as never, true), [TypeError, undefined, [/length/, /"1"/]]],
    ["touch with a number for write", ({ p, a }) => p.touch(a, 4096, 1 as never), [TypeError, undefined, [/write/, /\b1\b/]]],
    ["touch of a hole", ({ p }) => p.touch(0x1000n, 4096, true), [KernelError, "EFAULT", [/0x1000/]]],
    ["handleFault with a number address", ({ p }) => p.handleFault(4096 as never), [TypeError, undefined, [/va/, /4096/]]],
    ["handleFault with a bad access", ({ p, a }) => p.handleFault(a, { write: "y" } as never), [TypeError, undefined, [/access\.write/, /"y"/]]],
    ["pageEntry with a number", ({ p }) => p.pageEntry(1 as never), [TypeError, undefined, [/va/]]],
    ["injectAllocFailure(0)", ({ k }) => k.injectAllocFailure(0), [RangeError, undefined, [/\bn\b/, /\b0\b/]]],
    ["injectAllocFailure with a string", ({ k }) => k.injectAllocFailure("1" as never), [TypeError, undefined, [/\bn\b/, /"1"/]]],
    ["vmalloc(0)", ({ k }) => k.vmalloc(0), [RangeError, undefined, [/length/, /\b0\b/]]],
    ["ioremap with a number", ({ k }) => k.ioremap(0 as never, 4096), [TypeError, undefined, [/pa/]]],
    ["ioremap beyond the physical address space", ({ k }) => k.ioremap(1n << 60n, 4096), [RangeError, undefined, [/pa/, /0x1000000000000000/]]],
    ["vfree of no area", ({ k }) => k.vfree(0x1234n), [KernelError, "EINVAL", [/0x1234/]]],
    ["frameRefs past RAM", ({ k }) => k.frameRefs(1n << 40n), [RangeError, undefined, [/pa/, /0x10000000000/]]],
    ["an exited process reads", ({ dead, a }) => dead.read(a, 1), [KernelError, "ESRCH", [/process \d+ has exited/]]],
    ["an exited process writes", ({ dead, a }) => dead.write(a, Uint8Array.of(1)), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process forks", ({ dead }) => dead.fork(), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process exits", ({ dead }) => dead.exit(), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process maps", ({ dead }) => dead.mmap({ length: 4096, prot: RW, flags: ANON }), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process lists its areas", ({ dead }) => dead.maps(), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process faults", ({ dead, a }) => dead.handleFault(a), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process touches", ({ dead, a }) => dead.touch(a, 1, false), [KernelError, "ESRCH", [/exited/]]],
    ["an exited process looks up an entry", ({ dead, a }) => dead.pageEntry(a), [KernelError, "ESRCH", [/exited/]]],
    ["the machine: invlpg with a number", ({ k }) => k.machine.invlpg(1 as never), [TypeError, undefined, [/va/]]],
    ["the machine: invpcid type -1", ({ k }) => k.machine.invpcid(-1, 0), [RangeError, undefined, [/type/, /-1/]]],
    ["the machine: translateBatch of an array", ({ k }) => k.machine.translateBatch([1n] as never), [TypeError, undefined, [/vas/]]],
    ["the machine: translateBatch into a short out", ({ k }) => k.machine.translateBatch(new BigUint64Array(4), {}, new BigUint64Array(1)), [RangeError, undefined, [/out/, /4/]]],
  ];

  it.each(cases)("%s", async (_name, call, e) => {
    const env = await setup();
    const { k, p, a } = env;
    const before = { ram: Buffer.from(k.machine.ram), stats: k.stats(), pids: k.processes().map((x: Process) => x.pid), maps: JSON.stringify(p.maps(), big) };
    expectError(() => call(env), e);
    expect(Buffer.compare(Buffer.from(k.machine.ram), before.ram), "RAM unchanged").toBe(0);
    expect(k.stats()).toEqual(before.stats);
    expect(k.processes().map((x: Process) => x.pid)).toEqual(before.pids);
    expect(JSON.stringify(p.maps(), big)).toBe(before.maps);
    // Still usable: read, copy-on-write after fork, exit, every frame back.
    expect(p.read(a, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    const c = p.fork();
    c.write(a + 1n, Uint8Array.of(7));
    expect(c.read(a, 4)).toEqual(Uint8Array.of(1, 7, 3, 4));
    expect(p.read(a, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    c.exit();
    p.exit();
    expect(k.processes()).toEqual([]);
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? `0x${v.toString(16)}` : v;
}

describe("Machine options that came with the TLB", () => {
  it.each([
    [{ ramBytes: 1 << 20, tlb: 5 }, [TypeError, undefined, [/tlb/, /\b5\b/]]],
    [{ ramBytes: 1 << 20, pwc: "yes" }, [TypeError, undefined, [/pwc/, /"yes"/]]],
  ] as Array<[unknown, Expect]>)("%o", async (options, e) => {
    await expectRejection(Machine.create(options as never), e);
  });

  it("invpcid values a CPU refuses are #GP values and change nothing", async () => {
    const m = await Machine.create({ ramBytes: 1 << 20 });
    expect(m.invpcid(4, 0)).toMatchObject({ fault: "gp" });
    expect(m.invpcid(0, 0x1000)).toMatchObject({ fault: "gp" });
    expect(m.invpcid(1, 1)).toMatchObject({ fault: "gp" }); // PCID != 0 with CR4.PCIDE = 0
    expect(m.translate(0x1234n)).toMatchObject({ pa: 0x1234n });
  });
});
