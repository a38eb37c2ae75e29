// One timing round of `wasm-mmu compare`, in a process of its own: every row of one workload
// built in a fresh Kernel and timed, one after the other, in the order given; the first round
// also counts. A fresh process per round puts each round on fresh host memory (the linear
// memory of every Kernel placed anew, fresh JIT state), so what one placement costs or saves
// shows as spread between rounds instead of passing for a difference between designs.
// Run as `node round.js JOB` (JSON); it prints its RoundRow[] as JSON on stdout.
import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Design, Impl, Workload } from "./options.js";
import type { Counts } from "./report.js";
import { countRow, prepareRow, sampleRow, type Clock } from "./runner.js";

export interface RoundJob {
  workload: Workload;
  rows: Array<{ design: Design; impl: Impl }>;
  quick: boolean;
  clock: Clock;
  /** Also count each row (the counts are exact: one round is enough). */
  count: boolean;
}

export interface RoundRow {
  design: Design;
  impl: Impl;
  batch: number;
  /** ns per iteration. */
  samples: number[];
  counts?: Counts;
}

/** A full collection, where the process allows it (the child runs with --expose-gc). */
const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

/** Runs a round in this process. */
export async function runRoundHere(job: RoundJob): Promise<RoundRow[]> {
  const out: RoundRow[] = [];
  for (const { design, impl } of job.rows) {
    // The previous row's kernel (a gigabyte of linear memory for large and huge) is garbage:
    // collect it now rather than while this row is timed, and before its memory is allocated.
    collect();
    const row = await prepareRow(design, job.workload, impl, job.quick);
    collect();
    await sampleRow(row, job);
    let counts: Counts | undefined;
    if (job.count) {
      // The TypeScript core builds byte-identical tables (test/ts-core.test.ts), so its walks
      // are the same: the access passes run once per design.
      const same = out.find((r) => r.design === design && r.counts);
      counts = await countRow(row, { quick: job.quick, clock: job.clock, walks: same?.counts });
    }
    out.push({ design, impl, batch: row.batch, samples: row.samples, counts });
  }
  return out;
}

/** This module's file, as the child process runs it (round.ts under tsx, round.js when built). */
const SCRIPT = fileURLToPath(import.meta.url);

/** Runs a round in a fresh Node process (the same Node and loader flags as this one). */
export function runRoundProcess(job: RoundJob): Promise<RoundRow[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, "--expose-gc", SCRIPT, JSON.stringify(job)], { maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`compare round (${job.workload}) failed: ${stderr.trim() || err.message}`));
      else resolve(JSON.parse(stdout) as RoundRow[]);
    });
  });
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const job = JSON.parse(process.argv[2] ?? "null") as RoundJob;
  process.stdout.write(JSON.stringify(await runRoundHere(job)));
}
