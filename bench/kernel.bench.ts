// Kernel fork + exit cost (issue 4): a process with 1 GiB resident in 4 KiB pages, and an
// lmbench-shaped small process (text, data, heap and stack partly faulted in), per design.
// Build fixtures outside the measured function; the first runs warm V8's WebAssembly tiers.
// Figures are medians of fork+exit pairs, with the exact counts of one pair beside them.
// Run: `npx tsx bench/kernel.bench.ts [design...]`.

import { Bench } from "tinybench";
import { DESIGN_NAMES, Kernel, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type DesignName, type Process } from "../src/index.js";

export interface ForkRow {
  design: DesignName;
  workload: "1 GiB resident" | "lmbench small";
  forkExitUs: number;
  /** CPU time per pair (process.cpuUsage), less disturbed than wall time on a shared machine. */
  forkExitCpuUs: number;
  tablePages: number;
  entriesCopied: number;
  entriesVisited: number;
  levelsVisited: number;
}

const GiB = 1 << 30;

/** A process with `bytes` of anonymous memory written (resident, private, 4 KiB pages). */
function resident(k: Kernel, bytes: number): Process {
  const p = k.spawn();
  const a = p.mmap({ length: bytes, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS });
  p.touch(a, bytes, true);
  return p;
}

/** lmbench's fork test forks a small process: a little text, data, heap and stack in use. */
function small(k: Kernel): Process {
  const p = k.spawn({ text: 256 << 10, data: 64 << 10, heap: 128 << 10, stack: 128 << 10 });
  const maps = p.maps();
  const text = maps[0]!;
  const data = maps[1]!; // data and heap (brk) are one area
  const stack = maps[maps.length - 1]!;
  p.touch(text.start, 160 << 10, false);
  p.touch(data.start, 64 << 10, true);
  p.touch(p.brk() - (64n << 10n), 64 << 10, true);
  p.touch(stack.end - (32n << 10n), 32 << 10, true);
  return p;
}

const median = (task: { result: { state: string; latency?: { p50: number } } }) =>
  task.result.state === "completed" ? task.result.latency!.p50 : NaN;

export async function forkSuite(designs: readonly DesignName[] = DESIGN_NAMES, time = 1000): Promise<ForkRow[]> {
  const rows: ForkRow[] = [];
  for (const design of designs) {
    // i386 designs cannot hold 1 GiB resident plus a kernel in their 3 GiB of user space
    // comfortably alongside a direct map; they still fork 1 GiB (lowmem 896 MiB + highmem).
    const k = await Kernel.create({ design, ramBytes: GiB + (256 << 20) });
    for (const [workload, make] of [["1 GiB resident", () => resident(k, GiB)], ["lmbench small", () => small(k)]] as const) {
      const p = make();
      k.resetStats();
      p.fork().exit();
      const s = p.stats();
      const bench = new Bench({ time, warmupTime: 200 });
      bench.add(`${design} ${workload}`, () => p.fork().exit());
      await bench.run();
      const n = workload === "lmbench small" ? 2000 : 40;
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) p.fork().exit();
      const cpu = process.cpuUsage(c0);
      rows.push({
        design, workload, forkExitUs: median(bench.tasks[0]!) * 1000, forkExitCpuUs: (cpu.user + cpu.system) / n,
        tablePages: s.tablePagesAllocated,
        entriesCopied: s.entriesCopied, entriesVisited: s.entriesVisited, levelsVisited: s.levelsVisited,
      });
      p.exit();
    }
    k.machine.destroy();
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pick = process.argv.slice(2) as DesignName[];
  const rows = await forkSuite(pick.length ? pick : DESIGN_NAMES);
  console.log(`fork+exit, median µs (${new Date().toISOString().slice(0, 10)}, node ${process.version}, warm)`);
  console.table(rows.map((r) => ({ ...r, forkExitUs: +r.forkExitUs.toFixed(1), forkExitCpuUs: +r.forkExitCpuUs.toFixed(1) })));
}
