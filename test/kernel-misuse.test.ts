// Kernel API misuse: wrong types throw TypeError, bad values RangeError, both naming the value;
// what Linux refuses is a KernelError with its errno. None of them changes anything.
import { describe, expect, it } from "vitest";
import {
  Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, type Process,
} from "../src/index.js";
import { errno } from "./kernel-errno.js";

const RW = PROT_READ | PROT_WRITE;
const PRIV = MAP_PRIVATE | MAP_ANONYMOUS;

/** Everything observable about a process and the kernel. */
const state = (k: Kernel, p: Process) => ({ stats: k.stats(), maps: p.maps(), brk: p.brk(), ram: Buffer.from(k.machine.ram) });

describe("Kernel misuse", () => {
  it("Kernel.create names bad options", async () => {
    await expect(Kernel.create(undefined as never)).rejects.toThrow(TypeError);
    await expect(Kernel.create({ ramBytes: 8 << 20 } as never)).rejects.toThrow(/design is required/);
    await expect(Kernel.create({ design: "x86_64-6level" as never, ramBytes: 8 << 20 })).rejects.toThrow(/x86_64-6level/);
    await expect(Kernel.create({ design: 4 as never, ramBytes: 8 << 20 })).rejects.toThrow(TypeError);
    await expect(Kernel.create({ design: "i386-pae", ramBytes: 1 << 20 })).rejects.toThrow(RangeError);
    await expect(Kernel.create({ design: "i386-pae", ramBytes: 8 << 20, impl: "c" as never })).rejects.toThrow(/"c"/);
    await expect(Kernel.create({ design: "i386-pae", ramBytes: 8 << 20, colour: 1 } as never)).rejects.toThrow(/colour/);
  });

  it("system calls: TypeError and RangeError for bad arguments, errno for what Linux refuses, nothing changed", async () => {
    const k = await Kernel.create({ design: "x86_64-4level", ramBytes: 16 << 20 });
    const p = k.spawn();
    const a = p.mmap({ length: 8192, prot: RW, flags: PRIV });
    p.write(a, new Uint8Array([1]));
    const before = state(k, p);
    expect(() => p.mmap(null as never)).toThrow(TypeError);
    expect(() => p.mmap({ length: "4096" as never, prot: RW, flags: PRIV })).toThrow(/length/);
    expect(() => p.mmap({ length: -1, prot: RW, flags: PRIV })).toThrow(RangeError);
    expect(() => p.mmap({ length: 4096, prot: RW, flags: PRIV, addr: 4096 as never })).toThrow(TypeError);
    expect(() => p.mmap({ length: 4096, prot: RW, flags: PRIV, offset: 0 } as never)).toThrow(/offset/);
    expect(errno(() => p.mmap({ length: 0, prot: RW, flags: PRIV }))).toBe("EINVAL");
    expect(errno(() => p.mmap({ length: 4096, prot: 8, flags: PRIV }))).toBe("EINVAL");
    expect(errno(() => p.mmap({ length: 4096, prot: RW, flags: MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS }))).toBe("EINVAL");
    expect(errno(() => p.mmap({ length: 4096, prot: RW, flags: MAP_PRIVATE }))).toBe("EINVAL");
    expect(errno(() => p.mmap({ addr: 0x10000001n, length: 4096, prot: RW, flags: PRIV | MAP_FIXED }))).toBe("EINVAL");
    expect(errno(() => p.munmap(a + 1n, 4096))).toBe("EINVAL");
    expect(errno(() => p.munmap(a, 0))).toBe("EINVAL");
    expect(errno(() => p.mprotect(a, 3 * 4096, PROT_READ))).toBe("ENOMEM"); // a hole after the area
    expect(errno(() => p.mprotect(a + 2n, 4096, PROT_READ))).toBe("EINVAL");
    expect(() => p.read(a, -1)).toThrow(RangeError);
    expect(() => p.read(Number(a) as never, 1)).toThrow(TypeError);
    expect(() => p.read(a, 1, { kernel: true } as never)).toThrow(/kernel/);
    expect(() => p.write(a, [1] as never)).toThrow(TypeError);
    expect(() => p.touch(a, 4096, "yes" as never)).toThrow(TypeError);
    expect(errno(() => p.touch(a, 4 * 4096, true))).toBe("EFAULT");
    expect(() => p.handleFault(a, { execute: true } as never)).toThrow(/execute/);
    expect(() => p.brk(-1n)).toThrow(RangeError);
    expect(() => k.injectAllocFailure(0)).toThrow(RangeError);
    expect(() => k.injectAllocFailure("1" as never)).toThrow(TypeError);
    expect(errno(() => k.vfree(0xffffc20000000000n))).toBe("EINVAL");
    expect(() => k.vmalloc(0)).toThrow(RangeError);
    expect(() => k.spawn({ text: -4096 })).toThrow(RangeError);
    expect(() => k.spawn({ code: 1 } as never)).toThrow(/code/);
    const after = state(k, p);
    expect({ ...after, ram: null }).toEqual({ ...before, ram: null });
    expect(Buffer.compare(after.ram, before.ram), "RAM").toBe(0);
    expect(p.read(a, 1)[0]).toBe(1);
  });

  it("an exited process answers ESRCH to everything", async () => {
    const k = await Kernel.create({ design: "i386-pae", ramBytes: 16 << 20 });
    const p = k.spawn();
    const a = p.mmap({ length: 4096, prot: RW, flags: PRIV });
    p.exit();
    expect(p.exited).toBe(true);
    for (const f of [
      () => p.read(a, 1), () => p.write(a, new Uint8Array(1)), () => p.mmap({ length: 4096, prot: RW, flags: PRIV }),
      () => p.munmap(a, 4096), () => p.mprotect(a, 4096, 0), () => p.brk(), () => p.touch(a, 1, false),
      () => p.fork(), () => p.exit(), () => p.handleFault(a), () => p.maps(),
    ]) {
      expect(errno(f)).toBe("ESRCH");
    }
    expect(k.processes()).toHaveLength(0);
  });
});
