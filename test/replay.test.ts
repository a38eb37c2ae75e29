// Replay of a real valgrind trace through Kernels of several designs, against figures computed
// here independently from the trace: access counts, page crossings, resident pages, page
// faults (zero page on a first read, copy-on-write on a later write), page-table pages.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DESIGNS, type DesignName } from "../src/kernel/designs.js";
import { readLackey } from "../src/tools/lackey.js";
import { replay, type ReplayReport } from "../src/tools/replay.js";
import { runCli } from "./cli.js";

const TRACE = new URL("./traces/gzip-20k.lackey.gz", import.meta.url).pathname;
const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const RAM = 64 << 20;

/** Per page: first access a write? written at all? Plus translations and crossings. */
interface Truth {
  translations: number;
  crossings: number;
  pages: Map<number, { firstWrite: boolean; written: boolean }>;
}

async function truth(): Promise<Truth> {
  const pages = new Map<number, { firstWrite: boolean; written: boolean }>();
  let translations = 0, crossings = 0;
  await readLackey(TRACE, (b) => {
    for (let i = 0; i < b.count; i++) {
      const first = b.addr[2 * i + 1]! * 2 ** 20 + Math.floor(b.addr[2 * i]! / 4096);
      const last = b.addr[2 * i + 1]! * 2 ** 20 + Math.floor((b.addr[2 * i]! + Math.max(b.size[i]!, 1) - 1) / 4096);
      const write = b.kind[i] === 2 || b.kind[i] === 3;
      if (last !== first) crossings++;
      for (let p = first; p <= last; p++) {
        translations++;
        const s = pages.get(p);
        if (!s) pages.set(p, { firstWrite: write, written: write });
        else s.written ||= write;
      }
    }
  });
  return { translations, crossings, pages };
}

/** Page-table pages a design needs for these pages: its root, then one table per distinct
 * prefix above each non-folded level. */
function tablesFor(design: DesignName, touched: Iterable<number>): number {
  const pages = [...touched];
  const levels = DESIGNS[design].levels;
  let n = 1;
  for (let i = 1; i < levels.length; i++) {
    if (levels[i]!.bits === 0) continue;
    const shift = levels[i]!.shift + levels[i]!.bits - 12;
    n += new Set(pages.map((p) => Math.floor(p / 2 ** shift))).size;
  }
  return n;
}

describe("replay of valgrind lackey on gzip", () => {
  const designs: DesignName[] = ["x86_64-4level", "x86_64-5level", "x86_64-5level-folded", "x86_64-3level"];
  let t: Truth;
  let report: ReplayReport;
  beforeAll(async () => {
    t = await truth();
    report = await replay(TRACE, { designs, ramBytes: RAM });
  });

  it("reads the trace once for every design and counts every access", () => {
    expect(report.results.map((r) => r.design)).toEqual(designs);
    expect(report.noiseLines).toBe(25);
    for (const r of report.results) {
      expect([r.accesses, r.instructionFetches, r.loads, r.stores, r.modifies]).toEqual([3_478_227, 2_597_123, 562_157, 308_467, 10_480]);
      expect(r.pageCrossings).toBe(154);
      expect(r.translations).toBe(t.translations);
      expect(r.outOfRange).toBe(0);
    }
  });

  it("faults each page in once, and once more where a first read mapped the zero page", () => {
    const cow = [...t.pages.values()].filter((s) => !s.firstWrite && s.written).length;
    for (const r of report.results) {
      expect(r.residentPages).toBe(t.pages.size);
      expect(r.pageFaults).toBe(t.pages.size + cow);
    }
  });

  it("builds exactly the page tables each design needs for the pages touched", () => {
    for (const r of report.results) expect(r.tablePages, r.design).toBe(tablesFor(r.design, t.pages.keys()));
  });

  it("counts TLB lookups, walks and caches consistently", () => {
    for (const r of report.results) {
      // Every translation is looked up once, and once more after each fault it took.
      expect(r.tlbHits + r.tlbMisses).toBe(r.translations + r.pageFaults);
      expect(r.walks).toBe(r.tlbMisses);
      expect(r.tlbHitRate).toBeGreaterThan(0.99);
      expect(r.itlbHitRate).toBeGreaterThan(0.9);
      expect(r.dtlbHitRate).toBeGreaterThan(0.9);
      expect(r.pwc.length).toBeGreaterThan(0);
      expect(r.simulatedAccessesPerSecond).toBeGreaterThan(r.accessesPerSecond);
    }
  });

  it("walks every level of every miss without TLB or paging-structure caches", async () => {
    const none = (await replay(TRACE, { designs: ["x86_64-4level"], tlb: false, pwc: false, ramBytes: RAM })).results[0]!;
    const r = report.results[0]!;
    expect(none.tlbHits).toBe(0);
    expect(none.walks).toBe(none.translations + none.pageFaults);
    expect(none.pageFaults).toBe(r.pageFaults);
    expect(none.tablePages).toBe(r.tablePages);
    // A walk that does not fault reads all 4 levels; a faulting one stops at a missing entry.
    expect(none.walkMemRefs).toBeLessThanOrEqual(4 * none.walks);
    expect(none.walkMemRefs).toBeGreaterThan(4 * (none.walks - 2 * none.pageFaults));
  });
});

it("counts what a 32-bit design cannot hold of a 64-bit program's trace", async () => {
  const r = (await replay(TRACE, { designs: ["i386-2level"], ramBytes: RAM })).results[0]!;
  let above = 0, beyond32 = 0;
  await readLackey(TRACE, (b) => {
    for (let i = 0; i < b.count; i++) {
      const lo = b.addr[2 * i]!, hi = b.addr[2 * i + 1]!, s = Math.max(b.size[i]!, 1);
      const pages = Math.floor((lo % 4096 + s - 1) / 4096) + 1;
      for (let p = 0; p < pages; p++) {
        const page = hi * 2 ** 32 + lo - (lo % 4096) + p * 4096;
        if (page >= Number(DESIGNS["i386-2level"].userTop)) above++;
        if (page >= 2 ** 32) beyond32++;
      }
    }
  });
  expect(above).toBeGreaterThan(0);
  expect(r.outOfRange).toBe(above);
  // Addresses beyond 32 bits are never looked up; the others once, and again after a fault.
  expect(r.tlbHits + r.tlbMisses).toBe(r.translations - beyond32 + r.pageFaults);
});

it("refuses bad options, naming them", async () => {
  await expect(replay(TRACE, { designs: ["x86_64-6level" as DesignName] })).rejects.toThrow(/x86_64-6level/);
  await expect(replay(TRACE, { designs: [] })).rejects.toThrow(TypeError);
  await expect(replay(TRACE, { ramBytes: 12 })).rejects.toThrow(/ramBytes/);
  await expect(replay(TRACE, { colour: true } as never)).rejects.toThrow(/colour/);
});

it("the CLI prints a table and writes the JSON report", () => {
  const json = join(mkdtempSync(join(tmpdir(), "replay-")), "r.json");
  const out = execFileSync(process.execPath, [CLI, "replay", "--designs", "x86_64-4level,i386-pae", "--ram-mib", "64", "--json", json, TRACE]).toString();
  expect(out).toMatch(/x86_64-4level.*i386-pae/);
  expect(out).toMatch(/3,478,227/);
  const r = JSON.parse(readFileSync(json, "utf8"));
  expect(r.trace).toBe(TRACE);
  for (const key of ["design", "accesses", "instructionFetches", "loads", "stores", "modifies", "pageFaults", "walks", "walkMemRefs", "tablePages", "tlbHits", "tlbMisses", "accessesPerSecond", "simulatedAccessesPerSecond"]) {
    expect(r.results[0]).toHaveProperty(key);
  }
  const vax = runCli(["replay", "--designs", "vax", TRACE]);
  expect(vax.status).toBe(1);
  expect(vax.stdout).toBe("");
  expect(vax.stderr).toMatch(/^error: option '-d, --designs <list>' argument 'vax' is invalid\. unknown design "vax" \(designs: i386-2level, .*, all\)\n/);
});

it("says which design ran out of guest RAM, and how much it had", async () => {
  // 4096 distinct pages (16 MiB) written, on 8 MiB of RAM.
  const lines = Array.from({ length: 4096 }, (_, i) => ` S ${(0x10000000 + i * 4096).toString(16)},8`).join("\n");
  const { Readable } = await import("node:stream");
  await expect(replay(Readable.from([Buffer.from(lines)]), { designs: ["x86_64-4level"], ramBytes: 8 << 20 })).rejects.toThrow(
    /x86_64-4level ran out of guest RAM \(8 MiB\) at 0x10[0-9a-f]+/,
  );
});

it("the CLI reads a plain trace from stdin", () => {
  const text = "==1== hello\nI  00400000,4\n S 00600ff8,16\n L 7ffffff000,8\n";
  const json = join(mkdtempSync(join(tmpdir(), "replay-")), "r.json");
  execFileSync(process.execPath, [CLI, "replay", "--ram-mib", "16", "--json", json, "-"], { input: text });
  const r = JSON.parse(readFileSync(json, "utf8"));
  expect(r.trace).toBe("-");
  expect(r.noiseLines).toBe(1);
  expect(r.results[0]).toMatchObject({ accesses: 3, instructionFetches: 1, stores: 1, loads: 1, translations: 4, pageCrossings: 1, residentPages: 4, pageFaults: 4 });
});
