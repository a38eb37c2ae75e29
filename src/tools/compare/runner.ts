// Runs one design x workload x implementation: builds the workload in a fresh Kernel, times
// fork+exit with tinybench (median of many iterations after a warm-up, so V8 and the
// WebAssembly tiers have settled), and takes the exact counts of one iteration from the
// kernel and of a post-fork access pass from the machine.
import { Bench } from "tinybench";
import { Kernel, type Process } from "../../kernel/index.js";
import type { Design, Impl, Workload } from "./options.js";
import type { Counts, Result } from "./report.js";
import { WORKLOAD_SPECS } from "./workloads.js";

export type Clock = "wall" | "cpu";

export interface RunOptions {
  quick: boolean;
  clock: Clock;
  /** Walk counts already measured on identical tables (skips the access passes). */
  walks?: Pick<Counts, "walkMemRefs" | "walkMemRefsPwc">;
}

/** Milliseconds of this process's CPU time (user + system): steadier than wall time on a shared machine. */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Timing budget: quick runs are for CI and tests, not for figures. */
function benchOptions(quick: boolean, clock: Clock) {
  return {
    iterations: quick ? 3 : 30,
    time: quick ? 0 : 600,
    warmupIterations: quick ? 1 : 10,
    warmupTime: quick ? 0 : 100,
    retainSamples: true,
    ...(clock === "cpu" ? { now: cpuNow } : {}),
  };
}

/** Iterations per sample: enough for about a millisecond (the fastest of three timed runs). */
export function batchSize(iteration: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    iteration();
    best = Math.min(best, performance.now() - t0);
  }
  return Math.max(1, Math.min(1000, Math.round(1 / Math.max(best, 1e-3))));
}

/**
 * Memory references made by page walks when the child, just forked, reads one byte of every
 * resident page (each page's first access misses the TLB: the CR3 switch flushed it).
 */
function walkPass(kernel: Kernel, parent: Process, resident: ReadonlyArray<[bigint, number]>): number {
  const child = parent.fork();
  kernel.machine.resetStats();
  for (const [start, bytes] of resident) {
    for (let off = 0; off < bytes; off += 4096) child.read(start + BigInt(off), 1);
  }
  const refs = kernel.machine.stats().walkMemRefs;
  child.exit();
  return refs;
}

/** Runs one row of the comparison. */
export async function runOne(design: Design, workload: Workload, impl: Impl, options: RunOptions): Promise<Result> {
  const spec = WORKLOAD_SPECS[workload];
  const ramBytes = spec.ramBytes(options.quick);
  const kernel = await Kernel.create({ design, ramBytes, impl });
  const w = spec.prepare(kernel, options.quick);

  // Short iterations run in batches of k per sample, so that a sample stays far above the
  // clock's resolution (process.cpuUsage counts whole microseconds); figures are per iteration.
  const k = batchSize(() => w.iteration());
  const bench = new Bench(benchOptions(options.quick, options.clock));
  bench.add(`${workload} ${design} ${impl}`, () => {
    for (let i = 0; i < k; i++) w.iteration();
  });
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state === "errored") throw r.error;
  if (r.state !== "completed") throw new Error(`benchmark ${workload} ${design} ${impl} did not complete (${r.state})`);
  const perIteration = (ms: number) => Math.round((ms * 1e6) / k);
  const samples = [...(r.latency.samples ?? [])].map(perIteration);

  // Exact counts of one (warm) iteration.
  kernel.resetStats();
  w.iteration();
  const s = kernel.stats();
  let walks = options.walks;
  if (!walks) {
    const walkMemRefsPwc = walkPass(kernel, w.parent, w.resident);
    // The same pass on a machine without paging-structure caches: every walk reads every level.
    const bare = await Kernel.create({ design, ramBytes, impl, pwc: false });
    const wb = spec.prepare(bare, options.quick);
    walks = { walkMemRefs: walkPass(bare, wb.parent, wb.resident), walkMemRefsPwc };
  }

  const counts: Counts = {
    tablePagesAllocated: s.tablePagesAllocated,
    tablePagesFreed: s.tablePagesFreed,
    entriesVisited: s.entriesVisited,
    entriesCopied: s.entriesCopied,
    levelsVisited: s.levelsVisited,
    tlbFlushes: s.tlbFlushes,
    walkMemRefs: walks.walkMemRefs,
    walkMemRefsPwc: walks.walkMemRefsPwc,
  };
  return { design, workload, impl, forkExitNs: { median: perIteration(r.latency.p50), samples, batch: k }, counts };
}
