// Kernel property test: random spawn/mmap/munmap/mprotect/write/read/touch/fork/exit sequences
// against a model of each process's memory (private pages copied at fork, shared pages one
// object). Every read returns what the model holds, every refusal is the errno the model
// predicts, and when all processes have exited every frame and table page is back.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DESIGN_NAMES, Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName, type Process,
} from "../src/index.js";
import { errno } from "./kernel-errno.js";

const PAGES = 8; // the window every process maps into
const WINDOW = 0x10000000n; // inside user space on every design
const PROTS = [0, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE];

interface Page {
  prot: number;
  shared: boolean;
  data: { bytes: Uint8Array };
}
interface ModelProc {
  p: Process;
  pages: Map<number, Page>;
}

type Cmd =
  | { op: "spawn" }
  | { op: "mmap"; who: number; start: number; n: number; prot: number; shared: boolean }
  | { op: "munmap"; who: number; start: number; n: number }
  | { op: "mprotect"; who: number; start: number; n: number; prot: number }
  | { op: "write"; who: number; page: number; offset: number; bytes: number[] }
  | { op: "read"; who: number; page: number; offset: number; length: number }
  | { op: "touch"; who: number; start: number; n: number; write: boolean }
  | { op: "fork"; who: number }
  | { op: "exit"; who: number };

const range = () => fc.tuple(fc.nat(PAGES - 1), fc.integer({ min: 1, max: 4 })).map(([s, n]) => ({ start: s, n: Math.min(n, PAGES - s) }));
const who = fc.nat(3);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constant({ op: "spawn" as const }), weight: 1 },
  { arbitrary: fc.record({ who, r: range(), prot: fc.constantFrom(...PROTS), shared: fc.boolean() }).map(({ who, r, prot, shared }) => ({ op: "mmap" as const, who, ...r, prot, shared })), weight: 4 },
  { arbitrary: fc.record({ who, r: range() }).map(({ who, r }) => ({ op: "munmap" as const, who, ...r })), weight: 2 },
  { arbitrary: fc.record({ who, r: range(), prot: fc.constantFrom(...PROTS) }).map(({ who, r, prot }) => ({ op: "mprotect" as const, who, ...r, prot })), weight: 2 },
  { arbitrary: fc.record({ who, page: fc.nat(PAGES - 1), offset: fc.nat(4080), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 16 }) }).map((c) => ({ op: "write" as const, ...c })), weight: 8 },
  { arbitrary: fc.record({ who, page: fc.nat(PAGES - 1), offset: fc.nat(4080), length: fc.integer({ min: 1, max: 16 }) }).map((c) => ({ op: "read" as const, ...c })), weight: 6 },
  { arbitrary: fc.record({ who, r: range(), write: fc.boolean() }).map(({ who, r, write }) => ({ op: "touch" as const, who, ...r, write })), weight: 2 },
  { arbitrary: who.map((w) => ({ op: "fork" as const, who: w })), weight: 3 },
  { arbitrary: who.map((w) => ({ op: "exit" as const, who: w })), weight: 1 },
);

// Every sequence starts from a process with written private and shared pages.
const PREFIX: Cmd[] = [
  { op: "spawn" },
  { op: "mmap", who: 0, start: 0, n: 4, prot: PROT_READ | PROT_WRITE, shared: false },
  { op: "mmap", who: 0, start: 4, n: 2, prot: PROT_READ | PROT_WRITE, shared: true },
  ...[0, 1, 2, 3, 4, 5].map((page): Cmd => ({ op: "write", who: 0, page, offset: page * 8, bytes: [page + 1] })),
];

const addr = (page: number) => WINDOW + BigInt(page) * 4096n;

function run(k: Kernel, cmds: Cmd[], initial: { free: number; tables: number }) {
  const procs: ModelProc[] = [];
  const pick = (w: number) => (procs.length ? procs[w % procs.length]! : undefined);
  const pagesOf = (m: ModelProc, start: number, n: number) => Array.from({ length: n }, (_, i) => m.pages.get(start + i));
  for (const c of cmds) {
    if (c.op === "spawn") {
      if (procs.length < 5) procs.push({ p: k.spawn(), pages: new Map() });
      continue;
    }
    const m = pick(c.who);
    if (!m) continue;
    switch (c.op) {
      case "mmap": {
        const flags = (c.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED;
        expect(m.p.mmap({ addr: addr(c.start), length: c.n * 4096, prot: c.prot, flags })).toBe(addr(c.start));
        for (let i = 0; i < c.n; i++) {
          m.pages.set(c.start + i, { prot: c.prot, shared: c.shared, data: { bytes: new Uint8Array(4096) } });
        }
        break;
      }
      case "munmap":
        m.p.munmap(addr(c.start), c.n * 4096);
        for (let i = 0; i < c.n; i++) m.pages.delete(c.start + i);
        break;
      case "mprotect": {
        const ps = pagesOf(m, c.start, c.n);
        const ok = ps.every((x) => x);
        expect(errno(() => m.p.mprotect(addr(c.start), c.n * 4096, c.prot))).toBe(ok ? "ok" : "ENOMEM");
        if (ok) for (const x of ps) x!.prot = c.prot;
        break;
      }
      case "write": {
        const pg = m.pages.get(c.page);
        const ok = pg !== undefined && (pg.prot & PROT_WRITE) !== 0;
        const b = Uint8Array.from(c.bytes.slice(0, 4096 - c.offset));
        expect(errno(() => m.p.write(addr(c.page) + BigInt(c.offset), b))).toBe(ok ? "ok" : "EFAULT");
        if (ok) pg!.data.bytes.set(b, c.offset);
        break;
      }
      case "read": {
        const pg = m.pages.get(c.page);
        const len = Math.min(c.length, 4096 - c.offset);
        if (pg && pg.prot) {
          expect(m.p.read(addr(c.page) + BigInt(c.offset), len)).toEqual(pg.data.bytes.slice(c.offset, c.offset + len));
        } else {
          expect(errno(() => m.p.read(addr(c.page) + BigInt(c.offset), len))).toBe("EFAULT");
        }
        break;
      }
      case "touch": {
        const ps = pagesOf(m, c.start, c.n);
        const ok = ps.every((x) => x && (c.write ? x.prot & PROT_WRITE : x.prot));
        expect(errno(() => m.p.touch(addr(c.start), c.n * 4096, c.write))).toBe(ok ? "ok" : "EFAULT");
        break;
      }
      case "fork": {
        if (procs.length >= 5) break;
        const child = m.p.fork();
        const pages = new Map<number, Page>();
        for (const [i, pg] of m.pages) {
          pages.set(i, { ...pg, data: pg.shared ? pg.data : { bytes: pg.data.bytes.slice() } });
        }
        procs.push({ p: child, pages });
        break;
      }
      case "exit":
        m.p.exit();
        procs.splice(procs.indexOf(m), 1);
        expect(errno(() => m.p.read(addr(0), 1))).toBe("ESRCH");
        break;
    }
  }
  // Everything the model says is still there.
  for (const m of procs) {
    for (const [i, pg] of m.pages) {
      if (pg.prot) expect(Buffer.from(m.p.read(addr(i), 4096)).equals(pg.data.bytes), `page ${i}`).toBe(true);
    }
  }
  for (const m of procs) m.p.exit();
  const s = k.stats();
  expect(s.freeFrames).toBe(initial.free);
  expect(s.tablePages).toBe(initial.tables);
}

const CASES: Array<[DesignName, boolean]> = [...DESIGN_NAMES.map((d): [DesignName, boolean] => [d, false]), ["x86_64-4level", true]];

describe.each(CASES)("%s (pcid %s)", (design: DesignName, pcid: boolean) => {
  it("random system-call sequences match the memory model and leak nothing", async () => {
    const k = await Kernel.create({ design, ramBytes: 16 << 20, pcid });
    const s = k.stats();
    const initial = { free: s.freeFrames, tables: s.tablePages };
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 20, maxLength: 40 }), (cmds) => {
        run(k, [...PREFIX, ...cmds], initial);
      }),
      { numRuns: design === "x86_64-4level" ? 200 : 80 },
    );
    expect(k.stats().framesCopied).toBeGreaterThan(0); // copy-on-write breaks did happen
  });
});
