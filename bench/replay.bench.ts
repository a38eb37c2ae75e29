// Trace replay throughput (issue 6) on the committed valgrind trace (test/traces): the two
// lackey parsers on the inflated text, and whole replays of the gzipped file on the 4-level
// design with the default (Skylake) TLBs and paging-structure caches, end to end and the
// simulation alone as replay() measures them (wall time), and per second of CPU time (the
// simulation's: a replay from memory less its parse). Medians; the first run of each warms V8 up.
// Run: `npx tsx bench/replay.bench.ts [TRACE]`.

import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { Bench } from "tinybench";
import { LackeyParser } from "../src/tools/lackey.js";
import { TraceEntryParser } from "../src/tools/replay-parse.js";
import { replay } from "../src/tools/replay.js";
import type { DesignName } from "../src/kernel/designs.js";

const TRACE = new URL("../test/traces/gzip-20k.lackey.gz", import.meta.url).pathname;

export interface ReplayRow {
  what: string;
  /** Millions of trace accesses per second of wall time (median). */
  mAccessesPerSecond: number;
  /** Millions of trace accesses per second of this process's CPU time (median): what an idle
   * core would give, as nearly as a shared machine can tell. */
  mAccessesPerCpuSecond: number | null;
}

/** CPU seconds (all threads of this process) that fn takes. */
async function cpuSeconds(fn: () => unknown): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function replaySuite(trace = TRACE, runs = 5): Promise<ReplayRow[]> {
  const text = gunzipSync(readFileSync(trace));
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < text.length; o += 1 << 20) chunks.push(text.subarray(o, o + (1 << 20)));
  let accesses = 0;
  const parsers: Array<[string, () => Promise<void> | void]> = [
    ["parse: WebAssembly, to batch entries", async () => {
      const p = await TraceEntryParser.create(4096, [6, 2, 3, 3]);
      for (const c of chunks) p.push(c, () => {});
      accesses = p.end(() => {}).accesses;
    }],
    ["parse: JavaScript, to access records", () => {
      const p = new LackeyParser(() => {});
      for (const c of chunks) p.push(c);
      p.end();
    }],
  ];
  const bench = new Bench({ iterations: runs, warmupIterations: 1, time: 0 });
  for (const [name, fn] of parsers) bench.add(name, fn);
  await bench.run();
  const rows: ReplayRow[] = [];
  for (const [i, t] of bench.tasks.entries()) {
    const cpu: number[] = [];
    for (let k = 0; k < runs; k++) cpu.push(await cpuSeconds(parsers[i]![1]));
    rows.push({
      what: t.name,
      mAccessesPerSecond: t.result.state === "completed" ? accesses / (t.result.latency.p50 * 1e3) : NaN,
      mAccessesPerCpuSecond: accesses / median(cpu) / 1e6,
    });
  }
  // The simulation's CPU time: a replay of the inflated text from memory (one thread: no zlib
  // beside it) less the CPU time of parsing that text.
  const parseCpu = accesses / (rows[0]!.mAccessesPerCpuSecond! * 1e6);
  const simCpu: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const c = await cpuSeconds(() => replay(Readable.from(chunks), { designs: ["x86_64-4level"], ramBytes: 256 << 20 }));
    if (i > 0) simCpu.push(accesses / (c - parseCpu));
  }
  for (const designs of [["x86_64-4level"], ["x86_64-4level", "x86_64-5level", "i386-pae"]] as DesignName[][]) {
    const e2e: number[] = [], cpu: number[] = [], sim: number[][] = designs.map(() => []);
    for (let i = 0; i <= runs; i++) {
      let r: Awaited<ReturnType<typeof replay>> | undefined;
      const c = await cpuSeconds(async () => (r = await replay(trace, { designs, ramBytes: 256 << 20 })));
      if (i === 0) continue; // warm-up
      e2e.push(r!.results[0]!.accessesPerSecond);
      cpu.push(r!.results[0]!.accesses / c);
      r!.results.forEach((x, k) => sim[k]!.push(x.simulatedAccessesPerSecond));
    }
    rows.push({ what: `replay end to end, gzipped file, ${designs.join(" + ")}`, mAccessesPerSecond: median(e2e) / 1e6, mAccessesPerCpuSecond: median(cpu) / 1e6 });
    designs.forEach((d, k) => rows.push({
      what: `replay simulation alone, ${d}${designs.length > 1 ? " (of " + designs.length + ")" : ""}`,
      mAccessesPerSecond: median(sim[k]!) / 1e6,
      mAccessesPerCpuSecond: designs.length === 1 ? median(simCpu) / 1e6 : null,
    }));
  }
  return rows;
}

export function printReplayRows(rows: ReplayRow[]): void {
  console.log("trace replay, median millions of trace accesses per second (of wall time; of this process's CPU time)");
  console.table(rows.map((r) => ({
    what: r.what,
    "M/s wall": +r.mAccessesPerSecond.toFixed(2),
    "M/s CPU": r.mAccessesPerCpuSecond === null ? "" : +r.mAccessesPerCpuSecond.toFixed(2),
  })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { machineLine } = await import("./walk.bench.js");
  console.log(await machineLine());
  printReplayRows(await replaySuite(process.argv[2]));
  console.log(await machineLine());
}
