// fork and exit timed apart, per design, for the `large` (1 GiB resident) and `lmbench`
// workloads of `wasm-mmu compare`, with the WebAssembly and the TypeScript kernel cores
// (issue 5's targets: large fork+exit on x86_64-4level under 1 ms and at least 1.5x faster
// than TypeScript; lmbench under 20 µs). Medians of CPU time (process.cpuUsage, steadier than
// wall time on a shared machine) after warm-up: V8 tiers WebAssembly and hot JavaScript up
// from baseline compilers during the first iterations.
// Run: `npx tsx bench/fork-exit.bench.ts [--quick] [--designs a,b]`.

import { Bench } from "tinybench";
import { Kernel, type Process } from "../src/index.js";
import { DESIGNS, parseList, type Design, type Impl } from "../src/tools/compare/options.js";
import { describeMachine, machineInfo } from "../src/tools/compare/machine-info.js";
import { cpuNow } from "../src/tools/compare/runner.js";
import { WORKLOAD_SPECS } from "../src/tools/compare/workloads.js";

export interface ForkExitRow {
  design: Design;
  workload: "large" | "lmbench";
  impl: Impl;
  forkUs: number;
  exitUs: number;
}

const p50 = (t: { result: { state: string; latency?: { p50: number } } }) =>
  t.result.state === "completed" ? t.result.latency!.p50 * 1000 : NaN;

export async function forkExitSuite(designs: readonly Design[], quick: boolean): Promise<ForkExitRow[]> {
  const rows: ForkExitRow[] = [];
  for (const workload of ["lmbench", "large"] as const) {
    for (const design of designs) {
      for (const impl of ["wasm", "ts"] as const) {
        const spec = WORKLOAD_SPECS[workload];
        const kernel = await Kernel.create({ design, ramBytes: spec.ramBytes(quick), impl });
        const w = spec.prepare(kernel, quick);
        const opts = { now: cpuNow, time: quick ? 50 : 500, iterations: quick ? 5 : 30, warmupIterations: quick ? 2 : 20, warmupTime: quick ? 0 : 100 };
        let child: Process | null = null;
        const bench = new Bench(opts);
        bench.add("fork", () => void (child = w.parent.fork()), { afterEach: () => child!.exit() });
        bench.add("exit", () => child!.exit(), { beforeEach: () => void (child = w.parent.fork()) });
        await bench.run();
        rows.push({ design, workload, impl, forkUs: p50(bench.tasks[0]!), exitUs: p50(bench.tasks[1]!) });
      }
    }
  }
  return rows;
}

/** Prints the WebAssembly rows with the TypeScript core's time and the speed-up beside them. */
export function printForkExitRows(rows: ForkExitRow[]): void {
  console.table(
    rows.map((r) => {
      const ts = rows.find((x) => x.design === r.design && x.workload === r.workload && x.impl === "ts")!;
      return r.impl === "ts" ? null : {
        workload: r.workload, design: r.design,
        "fork µs": +r.forkUs.toFixed(1), "exit µs": +r.exitUs.toFixed(1), "fork+exit µs": +(r.forkUs + r.exitUs).toFixed(1),
        "TS fork+exit µs": +(ts.forkUs + ts.exitUs).toFixed(1), "wasm speed-up": +((ts.forkUs + ts.exitUs) / (r.forkUs + r.exitUs)).toFixed(2),
      };
    }).filter((x) => x !== null),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes("--quick");
  const at = process.argv.indexOf("--designs");
  const designs = at > 0 ? parseList("--designs", process.argv[at + 1] ?? "", DESIGNS) : [...DESIGNS];
  const rows = await forkExitSuite(designs, quick);
  console.log(`fork and exit, median µs of CPU time (${describeMachine(machineInfo(), new Date())})${quick ? ", --quick" : ""}`);
  printForkExitRows(rows);
}
