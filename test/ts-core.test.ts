// The plain TypeScript KernelCore (impl: "ts") against the WebAssembly one: the same system
// calls on two kernels must give the same results and errno, and leave byte-identical RAM
// (tables and data), frame records and counts after every one of them, in every design. RAM is
// small enough that ENOMEM happens too. Anything but a KernelError (a trap, a bug) fails.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, type Process } from "../src/index.js";
import { CORE } from "../src/machine/machine.js";

const MiB = 1 << 20;
const PAGE = 4096;

type Op =
  | { kind: "mmap"; pages: number; shared: boolean; readOnly: boolean }
  | { kind: "touch"; proc: number; area: number; from: number; pages: number; write: boolean }
  | { kind: "write"; proc: number; area: number; at: number; byte: number }
  | { kind: "fork"; proc: number }
  | { kind: "exit"; proc: number }
  | { kind: "mprotect"; proc: number; area: number; from: number; pages: number; write: boolean }
  | { kind: "munmap"; proc: number; area: number; from: number; pages: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("touch" as const), proc: fc.nat(), area: fc.nat(), from: fc.nat(), pages: fc.integer({ min: 1, max: 600 }), write: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("fork" as const), proc: fc.nat() }), weight: 2 },
  fc.record({ kind: fc.constant("mmap" as const), pages: fc.integer({ min: 1, max: 700 }), shared: fc.boolean(), readOnly: fc.boolean() }),
  fc.record({ kind: fc.constant("touch" as const), proc: fc.nat(), area: fc.nat(), from: fc.nat(), pages: fc.integer({ min: 1, max: 600 }), write: fc.boolean() }),
  fc.record({ kind: fc.constant("write" as const), proc: fc.nat(), area: fc.nat(), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("fork" as const), proc: fc.nat() }),
  fc.record({ kind: fc.constant("exit" as const), proc: fc.nat() }),
  fc.record({ kind: fc.constant("mprotect" as const), proc: fc.nat(), area: fc.nat(), from: fc.nat(), pages: fc.integer({ min: 1, max: 300 }), write: fc.boolean() }),
  fc.record({ kind: fc.constant("munmap" as const), proc: fc.nat(), area: fc.nat(), from: fc.nat(), pages: fc.integer({ min: 1, max: 300 }) }),
);

interface World {
  kernel: Kernel;
  procs: Process[];
  /** Mapped areas: [start, pages, writable]; inherited by forks (same addresses). */
  areas: Array<[bigint, number, boolean]>;
}

/** Applies op to a world; returns what it did as text (a KernelError's errno and message included) so both sides can be compared. */
function apply(w: World, o: Op): string {
  const pick = <T>(xs: T[], i: number) => xs[i % xs.length];
  try {
    switch (o.kind) {
      case "mmap": {
        const p = w.procs[0];
        if (!p) return "no process";
        const prot = o.readOnly ? PROT_READ : PROT_READ | PROT_WRITE;
        const a = p.mmap({ length: o.pages * PAGE, prot, flags: (o.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS });
        w.areas.push([a, o.pages, !o.readOnly]);
        return `mmap ${a}`;
      }
      case "touch":
      case "mprotect":
      case "munmap": {
        const p = pick(w.procs, o.proc);
        const a = pick(w.areas, o.area);
        if (!p || !a) return "nothing";
        const from = o.from % a[1];
        const pages = Math.min(o.pages, a[1] - from);
        const va = a[0] + BigInt(from * PAGE);
        if (o.kind === "touch") p.touch(va, pages * PAGE, o.write && a[2]);
        else if (o.kind === "mprotect") p.mprotect(va, pages * PAGE, o.write && a[2] ? PROT_READ | PROT_WRITE : PROT_READ);
        else p.munmap(va, pages * PAGE);
        return `${o.kind} ok`;
      }
      case "write": {
        const p = pick(w.procs, o.proc);
        const a = pick(w.areas, o.area);
        if (!p || !a || !a[2]) return "nothing";
        p.write(a[0] + BigInt((o.at % (a[1] * PAGE - 1)) & ~7), Uint8Array.of(o.byte, o.byte ^ 0xff));
        return "write ok";
      }
      case "fork": {
        const p = pick(w.procs, o.proc);
        if (!p) return "nothing";
        w.procs.push(p.fork());
        return "fork ok";
      }
      case "exit": {
        if (w.procs.length < 2) return "nothing";
        const i = o.proc % w.procs.length;
        w.procs[i]!.exit();
        w.procs.splice(i, 1);
        return "exit ok";
      }
    }
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    return `${e.code}: ${e.message}`;
  }
}

/** Frame records of the machine (the Kernel's reference counts and free list). */
const frameRecords = (k: Kernel) => {
  const c = k.machine[CORE];
  return new Uint8Array(c.memory.buffer, c.blocks.extra!.offset, c.blocks.extra!.bytes);
};

const view = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length);

/** The two kernels' RAM, frame records and counts are identical. */
function expectSame(ws: World[], what: string): void {
  const [a, b] = ws.map((w) => w.kernel);
  expect(b!.stats(), `${what}: counts`).toEqual(a!.stats());
  expect(Buffer.compare(view(b!.machine.ram), view(a!.machine.ram)), `${what}: RAM`).toBe(0);
  expect(Buffer.compare(view(frameRecords(b!)), view(frameRecords(a!))), `${what}: frame records`).toBe(0);
}

describe.each(DESIGN_NAMES)("impl ts = impl wasm on %s", (design) => {
  it("leaves identical RAM, frame records and counts after every operation", async () => {
    let enomem = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        // A fresh pair of kernels per run: a failed run cannot leave its state to the next.
        const kernels = await Promise.all((["wasm", "ts"] as const).map((impl) => Kernel.create({ design, ramBytes: 8 * MiB, impl })));
        const worlds: World[] = kernels.map((kernel) => ({ kernel, procs: [kernel.spawn()], areas: [] }));
        // Every run starts with private, shared and read-only memory, partly resident.
        const setup: Op[] = [
          { kind: "mmap", pages: 300, shared: false, readOnly: false },
          { kind: "mmap", pages: 64, shared: true, readOnly: false },
          { kind: "mmap", pages: 32, shared: false, readOnly: true },
          { kind: "touch", proc: 0, area: 0, from: 10, pages: 250, write: true },
          { kind: "touch", proc: 0, area: 1, from: 0, pages: 40, write: true },
          { kind: "touch", proc: 0, area: 2, from: 0, pages: 32, write: false },
        ];
        for (const o of setup) expect(worlds.map((w) => apply(w, o))[0]).toMatch(/ok|mmap/);
        expectSame(worlds, "after the setup");
        for (const [i, o] of ops.entries()) {
          const [ra, rb] = worlds.map((w) => apply(w, o));
          expect(rb, `operation ${i} (${o.kind})`).toBe(ra);
          if (ra!.startsWith("ENOMEM")) enomem++;
          expectSame(worlds, `after operation ${i} (${o.kind})`);
        }
        for (const w of worlds) for (const p of w.procs) p.exit();
        expectSame(worlds, "after every exit");
      }),
      { numRuns: 40, seed: 0x5eed },
    );
    expect(enomem, "operations that ran out of memory").toBeGreaterThan(0);
  });
});
