// Translation cost per path and paging mode (issue 3): a TLB hit through translate() (the
// BigInt facade), through the batch API, through the inline JavaScript path, and a TLB miss
// (every translation walks) with and without paging-structure caches.
//
// Each task translates a block of 4096 addresses, so per-task timer resolution does not
// matter; figures are medians per translation. Warm-up runs first (V8 tiers WebAssembly up
// from its baseline compiler). Run: `npx tsx bench/translate.bench.ts`.

import { Bench } from "tinybench";
import { Machine, type MachineOptions, ACCESS_USER } from "../src/index.js";
import { MODES, P, A, D, RW, US, PageTables, type Mode } from "../test/paging.js";

const BLOCK = 4096;
const PAGES = 512; // touched pages: 2 MiB of a process, spread over a few page tables

export interface TranslateRow {
  mode: Mode;
  path: string;
  nsPerTranslation: number;
  memRefsPerWalk: number | null;
}

/** A machine in `mode` with PAGES user pages mapped in clusters across the address space. */
async function setup(mode: Mode, options: Partial<MachineOptions>) {
  const m = await Machine.create({ ramBytes: 64 << 20, ...options });
  const pt = new PageTables(m, mode, 0x10_0000n);
  const top = mode === "5-level" ? 0x00ff_f000_0000_0000n : mode === "4-level" ? 0x7fff_f000_0000n : 0xb000_0000n;
  const vas: bigint[] = [];
  for (let i = 0; i < PAGES; i++) {
    // Four clusters of 128 pages: text-, heap-, mmap- and stack-like regions (offset so that
    // the working set does not collide in a direct-mapped TLB's sets).
    const region = BigInt(i >> 7);
    const va = (top / 4n) * region + 0x40_0000n + BigInt(i) * 0x1000n;
    pt.map(va, 0x100_0000n + BigInt(i) * 0x1000n, P | RW | US | A | D);
    vas.push(va);
  }
  const gp = m.setRegisters(pt.registers({ nxe: true, pge: true, wp: true }));
  if (gp) throw new Error(gp.reason);
  // Addresses in a shuffled order that stays within the mapped pages.
  const b = m.batch();
  for (let i = 0; i < BLOCK; i++) b.va[i] = vas[(i * 37) % PAGES]! + BigInt((i * 8) % 4096);
  return { m, b };
}

const ms = (task: { result: { state: string; latency?: { p50: number } } }) =>
  task.result.state === "completed" ? task.result.latency!.p50 : NaN;

export async function translateSuite(time = 300): Promise<TranslateRow[]> {
  const rows: TranslateRow[] = [];
  for (const mode of MODES) {
    const bench = new Bench({ time, warmupTime: 100 });
    // Hits: a TLB large enough for the working set (direct-mapped, 4096 entries).
    const hit = await setup(mode, { tlb: { structures: [{ name: "tlb", entries: 4096, ways: 1, pageSize: "4K", side: "unified" }] } });
    hit.b.run(BLOCK, 0, { user: true });
    const vas = Array.from(hit.b.va.subarray(0, 1024));
    const lo = Uint32Array.from(hit.b.vaWords.filter((_, i) => i % 2 === 0));
    const hi = Uint32Array.from(hit.b.vaWords.filter((_, i) => i % 2 === 1));
    const inline = hit.m.inlineTlb();
    let sink = 0;
    bench.add("hit: translate()", () => {
      for (const va of vas) if (hit.m.translate(va, { user: true }).fault) sink++;
    });
    bench.add("hit: batch", () => {
      if (hit.b.run(BLOCK, 0, { user: true }) !== BLOCK) sink++;
    });
    bench.add("hit: inline JS", () => {
      for (let i = 0; i < BLOCK; i++) sink += inline.translate(lo[i]!, hi[i]!, ACCESS_USER);
    });
    // Misses: no TLB, so every translation walks.
    const pwc = await setup(mode, { tlb: false });
    const bare = await setup(mode, { tlb: false, pwc: false });
    bench.add("miss: walk with PWC", () => void pwc.b.run(BLOCK, 0, { user: true }));
    bench.add("miss: walk without PWC", () => void bare.b.run(BLOCK, 0, { user: true }));
    await bench.run();
    const per = [vas.length, BLOCK, BLOCK, BLOCK, BLOCK];
    const refs = (m: Machine) => {
      const s = m.stats();
      return s.walks ? s.walkMemRefs / s.walks : null;
    };
    const memRefs = [null, null, null, refs(pwc.m), refs(bare.m)];
    bench.tasks.forEach((task, i) => {
      rows.push({ mode, path: task.name, nsPerTranslation: (ms(task) * 1e6) / per[i]!, memRefsPerWalk: memRefs[i]! });
    });
    if (sink < 0) console.log(sink);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await translateSuite();
  console.log(`translation cost, median ns per translation (${new Date().toISOString().slice(0, 10)}, node ${process.version})`);
  console.table(rows.map((r) => ({ ...r, nsPerTranslation: +r.nsPerTranslation.toFixed(2), memRefsPerWalk: r.memRefsPerWalk?.toFixed(2) ?? "" })));
}
