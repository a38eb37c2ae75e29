// Kernel property test: random spawn/mmap/munmap/mprotect/brk/write/read/touch/fork/exit
// sequences against a model of each process's memory (private pages copied at fork, shared
// pages one object), on a fresh kernel per run. The mappings straddle table boundaries at every
// level the design has (a page table, a page directory, a PDPT or PML4 entry, a PML5 entry),
// include large pages (MAP_HUGETLB, split by munmap/mprotect, copied on write), the heap (brk)
// and areas the kernel places itself. Every read returns what the model holds, every refusal is
// the errno the model predicts, ENOMEM only comes when RAM really is short (then nothing
// changes), and when all processes have exited every frame and table page is back.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DESIGN_NAMES, Kernel, KernelError, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE,
  type DesignName, type Process,
} from "../src/index.js";

const PAGE = 4096n;
const RAM = 12 << 20; // a few large pages fill it
const HEAP_PAGES = 8; // spawn's heap; brk moves the break within HEAP_PAGES + BRK_PAGES
const BRK_PAGES = 24;
const PROTS = [0, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE];

interface Page {
  prot: number;
  shared: boolean;
  /** null: never written (reads as zeros). Shared pages share this object. */
  data: { bytes: Uint8Array | null };
}
interface ModelProc {
  p: Process;
  /** Page number (address / 4096) -> page. */
  pages: Map<bigint, Page>;
  brk: bigint;
}
/** Where commands point: a window of pages, the heap, or an area the kernel placed. */
interface Region {
  base: bigint;
  pages: number;
  kind: "window" | "huge" | "heap" | "placed";
}

type Cmd =
  | { op: "spawn" }
  | { op: "mmap"; who: number; region: number; start: number; n: number; prot: number; shared: boolean; huge: boolean; fixed: boolean }
  | { op: "munmap"; who: number; region: number; start: number; n: number }
  | { op: "mprotect"; who: number; region: number; start: number; n: number; prot: number }
  | { op: "brk"; who: number; pages: number; offset: number }
  | { op: "write"; who: number; region: number; page: number; offset: number; bytes: number[] }
  | { op: "read"; who: number; region: number; page: number; offset: number; length: number }
  | { op: "touch"; who: number; region: number; start: number; n: number; write: boolean }
  | { op: "fork"; who: number }
  | { op: "exit"; who: number };

const who = fc.nat(3);
/** -1: the large-page window; else taken modulo the regions there are. */
const region = fc.oneof(fc.constant(-1), fc.nat(15));
/** A page index in a region: small ones, or anywhere (taken modulo the region's size; large-page edges favoured). */
const pageIn = fc.oneof(fc.nat(7), fc.nat(1 << 12));
const n = fc.integer({ min: 1, max: 4 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constant({ op: "spawn" as const }), weight: 1 },
  {
    arbitrary: fc.record({ who, region, start: pageIn, n, prot: fc.constantFrom(...PROTS), shared: fc.boolean(), huge: fc.boolean(), fixed: fc.boolean() })
      .map((c) => ({ op: "mmap" as const, ...c })),
    weight: 4,
  },
  { arbitrary: fc.record({ who, region, start: pageIn, n }).map((c) => ({ op: "munmap" as const, ...c })), weight: 2 },
  { arbitrary: fc.record({ who, region, start: pageIn, n, prot: fc.constantFrom(...PROTS) }).map((c) => ({ op: "mprotect" as const, ...c })), weight: 2 },
  { arbitrary: fc.record({ who, pages: fc.nat(HEAP_PAGES + BRK_PAGES), offset: fc.constantFrom(0, 0, 1, 100, 4095) }).map((c) => ({ op: "brk" as const, ...c })), weight: 2 },
  {
    arbitrary: fc.record({ who, region, page: pageIn, offset: fc.nat(4080), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 16 }) })
      .map((c) => ({ op: "write" as const, ...c })),
    weight: 8,
  },
  { arbitrary: fc.record({ who, region, page: pageIn, offset: fc.nat(4080), length: fc.integer({ min: 1, max: 16 }) }).map((c) => ({ op: "read" as const, ...c })), weight: 6 },
  { arbitrary: fc.record({ who, region, start: pageIn, n, write: fc.boolean() }).map((c) => ({ op: "touch" as const, ...c })), weight: 2 },
  { arbitrary: who.map((w) => ({ op: "fork" as const, who: w })), weight: 3 },
  { arbitrary: who.map((w) => ({ op: "exit" as const, who: w })), weight: 1 },
);

/** The errno a call failed with, or "ok"; anything but a KernelError fails the test. */
function attempt<T>(f: () => T): { errno: string; value?: T } {
  try {
    return { errno: "ok", value: f() };
  } catch (e) {
    if (e instanceof KernelError) return { errno: e.code };
    throw e;
  }
}

/** Windows of 8 pages centred on a table boundary of each level the design has, below the stack. */
function windows(k: Kernel, stackBottom: bigint): bigint[] {
  const H = k.hugePageSize;
  const candidates = [0x10000000n + 5n * H, 1n << 31n, 1n << 39n, 1n << 48n];
  return candidates.filter((b) => b + 4n * PAGE < k.userTop && (b + (1n << 26n) < stackBottom || b > stackBottom)).map((b) => b - 4n * PAGE);
}

/** What a run did, for the coverage floors. */
interface Seen {
  enomem: number;
  huge: number;
  placed: number;
  brkMoved: number;
  splits: number;
}

/** Windows per design: a page table's edge and the edge of each level above it that user space reaches. */
const WINDOWS: Record<DesignName, number> = {
  "i386-2level": 2, "i386-pae": 2, "i386-pae-unshared": 2, "x86_64-3level": 2, "x86_64-4level": 3, "x86_64-5level": 4, "x86_64-5level-folded": 3,
};

async function run(design: DesignName, pcid: boolean, cmds: Cmd[]): Promise<Seen> {
  const k = await Kernel.create({ design, ramBytes: RAM, pcid });
  const boot = k.stats();
  const H = k.hugePageSize;
  const hugePages = Number(H / PAGE);
  const procs: ModelProc[] = [];
  let regions: Region[] = [];
  const seen: Seen = { enomem: 0, huge: 0, placed: 0, brkMoved: 0, splits: 0 };
  const layout = { heap: HEAP_PAGES * 4096 };

  const spawn = () => {
    const p = k.spawn(layout);
    const brk = p.brk();
    const pages = new Map<bigint, Page>();
    for (let i = 1; i <= HEAP_PAGES; i++) pages.set(brk / PAGE - BigInt(i), { prot: PROT_READ | PROT_WRITE, shared: false, data: { bytes: null } });
    if (!regions.length) {
      const maps = p.maps();
      const stackBottom = maps[maps.length - 1]!.start;
      expect(windows(k, stackBottom).length, "table levels crossed").toBe(WINDOWS[design]);
      regions = [
        ...windows(k, stackBottom).map((base): Region => ({ base, pages: 8, kind: "window" })),
        { base: 0x20000000n, pages: 2 * hugePages, kind: "huge" }, // two large pages' worth, aligned
        { base: brk - BigInt(HEAP_PAGES) * PAGE, pages: HEAP_PAGES + BRK_PAGES, kind: "heap" },
      ];
    }
    procs.push({ p, pages, brk });
  };
  /** Free aligned runs of frames for a large page (a frame with no reference is free between calls). */
  const freeRuns = () => {
    let runs = 0;
    for (let f = 0; f + hugePages <= k.totalFrames; f += hugePages) {
      let free = true;
      for (let j = 0; j < hugePages && free; j++) free = k.frameRefs(BigInt(f + j) << 12n) === 0;
      if (free) runs++;
    }
    return runs;
  };
  /** Checks an outcome against the model's prediction; ENOMEM is allowed where RAM is short. */
  const expectOutcome = (got: string, want: string, what: string, free: number): boolean => {
    if (got === "ENOMEM" && want === "ok") {
      expect(free < 64 || freeRuns() < 2, `${what}: ENOMEM with ${free} frames and ${freeRuns()} large runs free`).toBe(true);
      seen.enomem++;
      return false;
    }
    expect(got, what).toBe(want);
    return got === "ok";
  };
  const pick = (w: number) => (procs.length ? procs[w % procs.length]! : undefined);
  const at = (r: number, page: number): [Region, number] => {
    const reg = r < 0 ? regions.find((x) => x.kind === "huge")! : regions[r % regions.length]!;
    const edges = [0, 1, hugePages - 1, hugePages, hugePages + 1, 2 * hugePages - 1, 2, 3];
    return [reg, reg.kind === "huge" && page < 8 ? edges[page]! : page % reg.pages];
  };
  const pagesOf = (m: ModelProc, first: bigint, count: number) => Array.from({ length: count }, (_, i) => m.pages.get(first + BigInt(i)));
  const zeroPage = (prot: number, shared: boolean): Page => ({ prot, shared, data: { bytes: null } });
  /** Does [start, end) cut through a large page of m's? */
  const cutsLarge = (m: ModelProc, start: bigint, end: bigint) =>
    [start, end].some((at) => at % H !== 0n && (m.p.pageEntry(at - (at % H))?.level ?? 1) > 1);

  spawn();
  for (const c of cmds) {
    if (c.op === "spawn") {
      if (procs.length < 5) spawn();
      continue;
    }
    const m = pick(c.who);
    if (!m) continue;
    const free = k.stats().freeFrames;
    const label = JSON.stringify(c);
    switch (c.op) {
      case "mmap": {
        const [reg, s] = at(c.region, c.start);
        if (reg.kind === "heap") break; // the break owns the heap
        // Fixed in the large-page window: large pages mostly; elsewhere only where the kernel places them.
        const huge = c.fixed ? reg.kind === "huge" && (c.huge || c.n > 1) : c.huge;
        const flags = (c.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | (c.fixed ? MAP_FIXED : 0) | (huge ? MAP_HUGETLB : 0);
        let addr: bigint | undefined;
        let length: bigint;
        if (huge) {
          const block = c.fixed ? BigInt(Math.floor(s / hugePages)) : 0n;
          addr = c.fixed ? reg.base + block * H : undefined;
          length = c.fixed ? BigInt(Math.min(c.n, 2 - Number(block))) * H : H;
        } else {
          addr = c.fixed ? reg.base + BigInt(s) * PAGE : undefined;
          length = BigInt(c.fixed ? Math.min(c.n, reg.pages - s) : c.n) * PAGE;
        }
        const before = m.p.maps();
        const cut = addr !== undefined && cutsLarge(m, addr, addr + length);
        const r = attempt(() => m.p.mmap({ ...(addr === undefined ? {} : { addr }), length, prot: c.prot, flags }));
        if (!expectOutcome(r.errno, "ok", label, free)) break;
        const got = r.value!;
        if (addr !== undefined) {
          expect(got, label).toBe(addr);
        } else {
          // Placed by the kernel: aligned, in user space, over nothing that was mapped.
          expect(got % (huge ? H : PAGE), `${label}: alignment`).toBe(0n);
          expect(got + length <= k.userTop, `${label}: inside user space`).toBe(true);
          for (const a of before) expect(got >= a.end || got + length <= a.start, `${label}: over ${a.start.toString(16)}`).toBe(true);
          regions.push({ base: got, pages: Number(length / PAGE), kind: "placed" });
        }
        if (huge) seen.huge++;
        if (cut) seen.splits++;
        if (addr === undefined) seen.placed++;
        for (let i = 0n; i < length / PAGE; i++) m.pages.set(got / PAGE + i, zeroPage(c.prot, c.shared));
        break;
      }
      case "munmap": {
        const [reg, s] = at(c.region, c.start);
        if (reg.kind === "heap") break;
        const count = Math.min(c.n, reg.pages - s);
        const first = reg.base / PAGE + BigInt(s);
        const cut = cutsLarge(m, first * PAGE, (first + BigInt(count)) * PAGE);
        if (!expectOutcome(attempt(() => m.p.munmap(first * PAGE, count * 4096)).errno, "ok", label, free)) break;
        if (cut) seen.splits++;
        for (let i = 0n; i < BigInt(count); i++) m.pages.delete(first + i);
        break;
      }
      case "mprotect": {
        const [reg, s] = at(c.region, c.start);
        const count = Math.min(c.n, reg.pages - s);
        const first = reg.base / PAGE + BigInt(s);
        const ps = pagesOf(m, first, count);
        const want = ps.every((x) => x) ? "ok" : "ENOMEM"; // a hole: ENOMEM, nothing changed
        const cut = cutsLarge(m, first * PAGE, (first + BigInt(count)) * PAGE);
        if (expectOutcome(attempt(() => m.p.mprotect(first * PAGE, count * 4096, c.prot)).errno, want, label, free)) {
          if (cut) seen.splits++;
          for (const x of ps) x!.prot = c.prot;
        }
        break;
      }
      case "brk": {
        const brkStart = regions.find((r) => r.kind === "heap")!.base;
        const want = brkStart + BigInt(c.pages) * PAGE + BigInt(c.offset);
        const oldEnd = (m.brk + PAGE - 1n) / PAGE;
        const newEnd = (want + PAGE - 1n) / PAGE;
        // Growing needs the pages and a guard page after them free; shrinking unmaps.
        let fits = true;
        for (let pg = oldEnd; pg < newEnd + 1n && newEnd > oldEnd; pg++) if (m.pages.has(pg)) fits = false;
        expect(m.p.brk(want), label).toBe(fits ? want : m.brk);
        if (!fits) break;
        for (let pg = oldEnd; pg < newEnd; pg++) m.pages.set(pg, zeroPage(PROT_READ | PROT_WRITE, false));
        for (let pg = newEnd; pg < oldEnd; pg++) m.pages.delete(pg);
        if (newEnd !== oldEnd) seen.brkMoved++;
        m.brk = want;
        break;
      }
      case "write": {
        const [reg, s] = at(c.region, c.page);
        const va = reg.base + BigInt(s) * PAGE;
        const pg = m.pages.get(va / PAGE);
        const b = Uint8Array.from(c.bytes.slice(0, 4096 - c.offset));
        const want = pg !== undefined && (pg.prot & PROT_WRITE) !== 0 ? "ok" : "EFAULT";
        if (expectOutcome(attempt(() => m.p.write(va + BigInt(c.offset), b)).errno, want, label, free)) {
          pg!.data.bytes ??= new Uint8Array(4096);
          pg!.data.bytes.set(b, c.offset);
        }
        break;
      }
      case "read": {
        const [reg, s] = at(c.region, c.page);
        const va = reg.base + BigInt(s) * PAGE;
        const pg = m.pages.get(va / PAGE);
        const len = Math.min(c.length, 4096 - c.offset);
        const r = attempt(() => m.p.read(va + BigInt(c.offset), len));
        if (expectOutcome(r.errno, pg && pg.prot ? "ok" : "EFAULT", label, free)) {
          expect(r.value, label).toEqual(pg!.data.bytes?.slice(c.offset, c.offset + len) ?? new Uint8Array(len));
        }
        break;
      }
      case "touch": {
        const [reg, s] = at(c.region, c.start);
        const count = Math.min(c.n, reg.pages - s);
        const first = reg.base / PAGE + BigInt(s);
        const ok = pagesOf(m, first, count).every((x) => x && (c.write ? x.prot & PROT_WRITE : x.prot));
        expectOutcome(attempt(() => m.p.touch(first * PAGE, count * 4096, c.write)).errno, ok ? "ok" : "EFAULT", label, free);
        break;
      }
      case "fork": {
        if (procs.length >= 5) break;
        const r = attempt(() => m.p.fork());
        if (!expectOutcome(r.errno, "ok", label, free)) break;
        const pages = new Map<bigint, Page>();
        for (const [i, pg] of m.pages) pages.set(i, { ...pg, data: pg.shared ? pg.data : { bytes: pg.data.bytes?.slice() ?? null } });
        procs.push({ p: r.value!, pages, brk: m.brk });
        break;
      }
      case "exit":
        m.p.exit();
        procs.splice(procs.indexOf(m), 1);
        expect(attempt(() => m.p.read(0n, 1)).errno).toBe("ESRCH");
        break;
    }
  }
  // Everything the model says is still there: written pages whole, and 64 bytes of every
  // never-written page up to 32 of them per process (large areas have thousands).
  for (const m of procs) {
    const readable = [...m.pages].filter(([, pg]) => pg.prot);
    const zero = readable.filter(([, pg]) => !pg.data.bytes);
    const stride = Math.max(1, Math.ceil(zero.length / 32));
    for (const [i, pg] of [...readable.filter(([, pg]) => pg.data.bytes), ...zero.filter((_, j) => j % stride === 0)]) {
      const r = pg.data.bytes ? attempt(() => m.p.read(i * PAGE, 4096)) : attempt(() => m.p.read(i * PAGE + BigInt(Number(i % 63n) * 64), 64));
      if (!expectOutcome(r.errno, "ok", `final read of page 0x${i.toString(16)}`, k.stats().freeFrames)) continue; // it may need a table page
      expect(Buffer.compare(Buffer.from(r.value!), Buffer.from(pg.data.bytes ?? new Uint8Array(64))), `page 0x${i.toString(16)}`).toBe(0);
    }
  }
  for (const m of procs) m.p.exit();
  const s = k.stats();
  expect(s.freeFrames).toBe(boot.freeFrames);
  expect(s.tablePages).toBe(boot.tablePages);
  return seen;
}

// Every sequence starts from a process with written private and shared pages in a window, and
// two large pages written in the large-page window.
const PREFIX: Cmd[] = [
  { op: "mmap", who: 0, region: -1, start: 0, n: 2, prot: PROT_READ | PROT_WRITE, shared: false, huge: true, fixed: true },
  { op: "write", who: 0, region: -1, page: 0, offset: 0, bytes: [7] },
  { op: "write", who: 0, region: -1, page: 4, offset: 0, bytes: [8] },
  { op: "mmap", who: 0, region: 0, start: 0, n: 4, prot: PROT_READ | PROT_WRITE, shared: false, huge: false, fixed: true },
  { op: "mmap", who: 0, region: 0, start: 4, n: 2, prot: PROT_READ | PROT_WRITE, shared: true, huge: false, fixed: true },
  ...[0, 1, 2, 3, 4, 5].map((page): Cmd => ({ op: "write", who: 0, region: 0, page, offset: page * 8, bytes: [page + 1] })),
];

const CASES: Array<[DesignName, boolean]> = [...DESIGN_NAMES.map((d): [DesignName, boolean] => [d, false]), ["x86_64-4level", true]];

describe.each(CASES)("%s (pcid %s)", (design: DesignName, pcid: boolean) => {
  it("random system-call sequences match the memory model and leak nothing", async () => {
    const total: Seen & { runs: number } = { runs: 0, enomem: 0, huge: 0, placed: 0, brkMoved: 0, splits: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 20, maxLength: 40 }), async (cmds) => {
        const r = await run(design, pcid, [...PREFIX, ...cmds]);
        total.runs++;
        for (const key of ["enomem", "huge", "placed", "brkMoved", "splits"] as const) total[key] += r[key];
      }),
      // A fixed seed per case, so that the coverage floors below hold on every run; set
      // PROPERTY_SEED to explore other sequences.
      { numRuns: 50, seed: Number(process.env.PROPERTY_SEED ?? 0) + CASES.findIndex(([d, pc]) => d === design && pc === pcid) },
    );
    // What the runs did (the sequences are random, the floors are far below what they do).
    expect(total.huge, "large-page mappings").toBeGreaterThan(total.runs * 1.5);
    expect(total.placed, "areas the kernel placed").toBeGreaterThan(total.runs / 2);
    expect(total.brkMoved, "break moves").toBeGreaterThan(total.runs / 2);
    expect(total.splits, "large pages split by munmap, mprotect or MAP_FIXED").toBeGreaterThan(total.runs / 4);
    expect(total.enomem, "operations that ran out of memory").toBeGreaterThan(0);
  });
});
