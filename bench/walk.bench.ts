// A full page walk per paging mode (issue 2): no TLB and no paging-structure caches, so every
// translation reads every level from RAM. Address spaces are process-like (text, heap, mmap'd
// libraries, stack; 6,720 resident 4 KiB pages) and a large one (1 GiB resident in 4 KiB
// pages, 262,144 leaves over 512 page tables, as in PERFORMANCE.md).
//
// Each task translates a block of 4,096 shuffled user-read addresses, far above the timer's
// resolution; the figure is the task's median divided by 4,096. Tinybench warms every task
// up first (V8 tiers WebAssembly up from its baseline compiler). Paths measured:
//   batch        Machine.batch().run(): addresses in linear memory, one call per 4,096
//                (the walk plus the batch loop; no JS<->wasm crossing per address)
//   core u32     machine[CORE].exports.translate2(lo, hi, access): one call per address,
//                numbers only (adds ~one boundary crossing per walk)
//   core BigInt  machine[CORE].exports.translate(va, access): one call per address with an
//                i64 (BigInt) argument
//   translate()  the public facade, which also builds a result object
// Memory references per walk are counted by the walker (stats().walkMemRefs / walks) on one
// block after the run, not estimated. Beside tinybench's wall-clock median, each path's CPU
// time per walk is measured (median of 7 rounds), steadier on a shared machine.
// Run: `npm run bench` (all suites) or `npx tsx bench/walk.bench.ts`.

import { Bench } from "tinybench";
import { ACCESS_USER, Machine } from "../src/index.js";
import { CORE } from "../src/machine/machine.js";
import { A, D, MODES, P, PageTables, RW, US, type Mode } from "../test/paging.js";

const BLOCK = 4096;
const FACADE_BLOCK = 1024;

export interface WalkRow {
  mode: Mode;
  layout: string;
  path: string;
  /** Median wall-clock ns per translation (each a full walk). */
  nsPerWalk: number;
  /** Median CPU ns per translation. */
  cpuNsPerWalk: number;
  /** Paging-structure entries read per walk, as counted by the walker. */
  memRefsPerWalk: number;
  residentPages: number;
  tablePages: number;
}

interface Region {
  start: bigint;
  pages: number;
}

/** Process-like layouts: Linux i386 (3G/1G split) and x86-64 (PIE, mmap base, stack top). */
function layout(mode: Mode, kind: "process" | "1 GiB"): Region[] {
  const wide = mode === "4-level" || mode === "5-level";
  if (kind === "1 GiB") return [{ start: wide ? 0x7f00_0000_0000n : 0x1000_0000n, pages: 262_144 }];
  return wide
    ? [
        { start: 0x5555_5555_4000n, pages: 512 }, //   text + data of a PIE binary
        { start: 0x5555_5600_0000n, pages: 4096 }, // heap (brk)
        { start: 0x7f3a_1200_0000n, pages: 2048 }, // shared libraries and anonymous mmaps
        { start: 0x7ffd_fffc_0000n, pages: 64 }, //   stack below the top of user space
      ]
    : [
        { start: 0x0804_8000n, pages: 512 },
        { start: 0x0a00_0000n, pages: 4096 },
        { start: 0xb700_0000n, pages: 2048 },
        { start: 0xbffc_0000n, pages: 64 },
      ];
}

/** xorshift32: a fixed pseudo-random sequence, so every run walks the same addresses. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

async function setup(mode: Mode, kind: "process" | "1 GiB") {
  const regions = layout(mode, kind);
  const resident = regions.reduce((n, r) => n + r.pages, 0);
  const m = await Machine.create({ ramBytes: 64 << 20, tlb: false, pwc: false });
  const tableBase = 0x10_0000n;
  const pt = new PageTables(m, mode, tableBase, 0x200_0000n);
  const vas: bigint[] = [];
  let i = 0;
  for (const r of regions) {
    for (let p = 0; p < r.pages; p++, i++) {
      const va = r.start + BigInt(p) * 0x1000n;
      // Data frames are reused (the walk never touches them); A and D set as after first use.
      pt.map(va, 0x200_0000n + BigInt(i % 4096) * 0x1000n, P | RW | US | A | D, 1, P | RW | US | A);
      vas.push(va);
    }
  }
  const gp = m.setRegisters(pt.registers({ nxe: true, wp: true }));
  if (gp) throw new Error(gp.reason);
  const tablePages = Number((pt.alloc() - tableBase) / 0x1000n);
  const next = rng(0x9e3779b9);
  const block = new BigUint64Array(BLOCK);
  for (let k = 0; k < BLOCK; k++) block[k] = vas[next() % vas.length]! + BigInt((next() % 512) * 8);
  return { m, block, resident, tablePages };
}

/**
 * Median CPU time (process.cpuUsage: user + system, µs resolution) per translation over 7
 * rounds of 50 task runs: steadier than wall time when other processes share the cores.
 */
function cpuMedian(fn: () => void, per: number): number {
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < 50; i++) fn();
    const t = process.cpuUsage(t0);
    rounds.push(((t.user + t.system) * 1000) / (50 * per));
  }
  return rounds.sort((a, b) => a - b)[3]!;
}

const p50 = (task: { result: { state: string; latency?: { p50: number } } }) =>
  task.result.state === "completed" ? task.result.latency!.p50 : NaN;

export async function walkSuite(time = 400): Promise<WalkRow[]> {
  const rows: WalkRow[] = [];
  for (const kind of ["process", "1 GiB"] as const) {
    for (const mode of MODES) {
      const { m, block, resident, tablePages } = await setup(mode, kind);
      const core = m[CORE].exports;
      const b = m.batch();
      b.va.set(block);
      const lo = new Uint32Array(BLOCK), hi = new Uint32Array(BLOCK);
      block.forEach((va, k) => { lo[k] = Number(va & 0xffff_ffffn); hi[k] = Number(va >> 32n); });
      const signed = Array.from(block, (va) => BigInt.asIntN(64, va)); // how i64 crosses
      const facade = Array.from(block.subarray(0, FACADE_BLOCK));
      let bad = 0;
      const tasks: Array<[string, () => void, number]> = [
        ["batch", () => { if (b.run(BLOCK, 0, { user: true }) !== BLOCK) bad++; }, BLOCK],
        ["core u32", () => { for (let k = 0; k < BLOCK; k++) bad += core.translate2(lo[k]!, hi[k]!, ACCESS_USER); }, BLOCK],
        ["core BigInt", () => { for (let k = 0; k < BLOCK; k++) bad += core.translate(signed[k]!, ACCESS_USER); }, BLOCK],
        ["translate()", () => { for (const va of facade) if (m.translate(va, { user: true }).fault) bad++; }, FACADE_BLOCK],
      ];
      const bench = new Bench({ time, warmupTime: 150 });
      for (const [name, fn] of tasks) bench.add(name, fn);
      await bench.run();
      if (bad) throw new Error(`${mode}: ${bad} translations faulted`);
      // Counted on one block: every translation must be one full walk.
      m.resetStats();
      b.va.set(block);
      b.run(BLOCK, 0, { user: true });
      const s = m.stats();
      if (s.walks !== BLOCK || s.pageFaults !== 0) throw new Error(`${mode}: ${s.walks} walks for ${BLOCK} translations`);
      bench.tasks.forEach((task, k) => {
        const [, fn, per] = tasks[k]!;
        rows.push({
          mode, layout: kind, path: task.name, nsPerWalk: (p50(task) * 1e6) / per,
          cpuNsPerWalk: cpuMedian(fn, per), memRefsPerWalk: s.walkMemRefs / s.walks, residentPages: resident, tablePages,
        });
      });
    }
  }
  return rows;
}

/** The machine and date a figure was measured on. */
export async function machineLine(): Promise<string> {
  const os = await import("node:os");
  const cpus = os.cpus();
  return `${new Date().toISOString()} · ${cpus[0]?.model ?? "unknown CPU"} × ${cpus.length} · ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB · ${os.platform()} ${os.arch()} · node ${process.version} · load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`;
}

export function printWalkRows(rows: WalkRow[]): void {
  console.log("full page walk (no TLB, no paging-structure caches), median ns per walk");
  console.table(rows.map((r) => ({
    mode: r.mode, layout: r.layout, path: r.path, "ns/walk": +r.nsPerWalk.toFixed(2), "cpu ns/walk": +r.cpuNsPerWalk.toFixed(2),
    "memrefs/walk": r.memRefsPerWalk, "resident pages": r.residentPages, "table pages": r.tablePages,
  })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await machineLine());
  printWalkRows(await walkSuite());
}
