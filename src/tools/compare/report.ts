// The machine-readable report of `wasm-mmu compare --json FILE`: raw figures only (every
// sample, every count); ratios are derived from them by whoever reads the file.
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { MachineInfo } from "./machine-info.js";
import { REFERENCE_DESIGN, type Design, type Impl, type Workload } from "./options.js";

/** Exact counts of one fork+exit, from kernel.stats() and machine.stats(). */
export interface Counts {
  tablePagesAllocated: number;
  tablePagesFreed: number;
  entriesVisited: number;
  entriesCopied: number;
  levelsVisited: number;
  tlbFlushes: number;
  /** Paging-structure entries read by the walks of a post-fork access pass over the resident pages. */
  walkMemRefs: number;
  /** The same pass with paging-structure caches, where the Machine has them (null otherwise). */
  walkMemRefsPwc: number | null;
}

export interface Result {
  design: Design;
  workload: Workload;
  impl: Impl;
  /**
   * ns per iteration. `rounds`: one figure per round (a fresh process: the median of its
   * samples); `median`: the median of the rounds; `interval`: its 95% interval (stats.ts; null
   * with one round); `samples`: every sample of every round, a sample timing `batch`
   * iterations together (the batch of the first round).
   */
  forkExitNs: { median: number; interval: [number, number] | null; rounds: number[]; samples: number[]; batch: number };
  counts: Counts;
}

export interface Report {
  version: string;
  date: string;
  machine: MachineInfo;
  quick: boolean;
  /** "wall": elapsed time; "cpu": this process's user + system CPU time. */
  clock: "wall" | "cpu";
  /** Timing rounds per row, each in a fresh process, and how the intervals are computed. */
  rounds: number;
  intervals: string;
  reference: Design;
  results: Result[];
}

/** The package's version, read from its package.json (two levels above src/ and dist/). */
export function packageVersion(): string {
  const text = readFileSync(new URL("../../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

export function makeReport(
  machine: MachineInfo, date: Date, run: { quick: boolean; clock: "wall" | "cpu"; rounds: number; intervals: string }, results: Result[],
): Report {
  return {
    version: packageVersion(), date: date.toISOString(), machine, quick: run.quick, clock: run.clock,
    rounds: run.rounds, intervals: run.intervals, reference: REFERENCE_DESIGN, results,
  };
}

export async function writeReport(file: string, report: Report): Promise<void> {
  await writeFile(file, JSON.stringify(report, null, 2) + "\n");
}

/** The result of the reference design for the same workload and implementation, if it ran. */
export function referenceOf(results: readonly Result[], r: Result): Result | undefined {
  return results.find((x) => x.design === REFERENCE_DESIGN && x.workload === r.workload && x.impl === r.impl);
}

/** a / b, or null when either is missing or b is zero. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return a / b;
}

/** Median of a list of numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
