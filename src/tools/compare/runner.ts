// One design x workload x implementation in one round: the workload built in a fresh Kernel,
// fork+exit timed with tinybench (samples after a warm-up, so V8 and the WebAssembly tiers
// have settled), and the exact counts of one iteration from the kernel and of a post-fork
// access pass from the machine. A round runs in a process of its own (round.ts).
import { Bench } from "tinybench";
import { Kernel, type Process } from "../../kernel/index.js";
import type { Design, Impl, Workload } from "./options.js";
import type { Counts } from "./report.js";
import { WORKLOAD_SPECS, type Prepared } from "./workloads.js";

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

/** Timing budget of one row in one round: quick runs are for CI and tests, not for figures. */
function benchOptions(quick: boolean, clock: Clock) {
  return {
    iterations: quick ? 3 : 10,
    time: quick ? 0 : 150,
    warmupIterations: quick ? 1 : 10,
    warmupTime: quick ? 0 : 100,
    retainSamples: true,
    ...(clock === "cpu" ? { now: cpuNow } : {}),
  };
}

/** Iterations per sample: enough for about a millisecond, judged after a short warm-up. */
export function batchSize(iteration: () => void): number {
  const warm = performance.now();
  for (let i = 0; i < 50 && performance.now() - warm < 20; i++) iteration();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
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

/** One design x workload x implementation, built and ready to time. */
export interface Row {
  design: Design;
  workload: Workload;
  impl: Impl;
  kernel: Kernel;
  work: Prepared;
  /** Iterations per sample. */
  batch: number;
  /** ns per iteration. */
  samples: number[];
}

/** Builds the workload in a fresh kernel and warms it up. */
export async function prepareRow(design: Design, workload: Workload, impl: Impl, quick: boolean): Promise<Row> {
  const spec = WORKLOAD_SPECS[workload];
  const kernel = await Kernel.create({ design, ramBytes: spec.ramBytes(quick), impl });
  const work = spec.prepare(kernel, quick);
  // Short iterations run in batches so that a sample stays far above the clock's resolution
  // (process.cpuUsage counts whole microseconds); figures are per iteration.
  return { design, workload, impl, kernel, work, batch: batchSize(() => work.iteration()), samples: [] };
}

/** Times a row: its samples for this round. */
export async function sampleRow(row: Row, options: Pick<RunOptions, "quick" | "clock">): Promise<void> {
  const bench = new Bench(benchOptions(options.quick, options.clock));
  const { work, batch } = row;
  bench.add(`${row.workload} ${row.design} ${row.impl}`, () => {
    for (let i = 0; i < batch; i++) work.iteration();
  });
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state === "errored") throw r.error;
  if (r.state !== "completed") throw new Error(`benchmark ${row.workload} ${row.design} ${row.impl} did not complete (${r.state})`);
  for (const ms of r.latency.samples ?? []) row.samples.push(Math.round((ms * 1e6) / batch));
}

/** The row's exact counts: one iteration, and the walk passes. */
export async function countRow(row: Row, options: RunOptions): Promise<Counts> {
  const { design, workload, impl, kernel, work } = row;
  kernel.resetStats();
  work.iteration();
  const s = kernel.stats();
  let walks = options.walks;
  if (!walks) {
    const walkMemRefsPwc = walkPass(kernel, work.parent, work.resident);
    // The same pass on a machine without paging-structure caches: every walk reads every level.
    const spec = WORKLOAD_SPECS[workload];
    const bare = await Kernel.create({ design, ramBytes: spec.ramBytes(options.quick), impl, pwc: false });
    const wb = spec.prepare(bare, options.quick);
    walks = { walkMemRefs: walkPass(bare, wb.parent, wb.resident), walkMemRefsPwc };
  }
  return {
    tablePagesAllocated: s.tablePagesAllocated,
    tablePagesFreed: s.tablePagesFreed,
    entriesVisited: s.entriesVisited,
    entriesCopied: s.entriesCopied,
    levelsVisited: s.levelsVisited,
    tlbFlushes: s.tlbFlushes,
    walkMemRefs: walks.walkMemRefs,
    walkMemRefsPwc: walks.walkMemRefsPwc,
  };
}
