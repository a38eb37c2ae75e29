// `wasm-mmu compare`: every selected design x workload (x implementation). Each workload is
// timed in rounds, each round a fresh process that builds and times every row of the workload
// in turn (round.ts; the order rotates from round to round); a row's time is the median of its
// rounds with a 95% bootstrap interval (stats.ts). Then the table, the JSON report and the SVG
// chart when asked for.
import { writeFile } from "node:fs/promises";
import { barChart } from "./chart.js";
import { describeMachine, machineInfo } from "./machine-info.js";
import { REFERENCE_DESIGN, type CompareOptions, type Impl } from "./options.js";
import { Progress } from "./progress.js";
import { makeReport, median, ratio, referenceOf, writeReport, type Counts, type Report, type Result } from "./report.js";
import { runRoundProcess, type RoundJob, type RoundRow } from "./round.js";
import { INTERVAL_METHOD, medianInterval, ratioInterval, type Interval } from "./stats.js";
import { formatInterval, formatMicros, formatRatioCell, renderTable } from "./table.js";

/** Timing rounds per row (fresh processes) unless --rounds says otherwise. */
export const DEFAULT_ROUNDS = 8;
export const QUICK_ROUNDS = 3;

const label = (r: { design: string; workload: string; impl: Impl }) => `${r.workload} ${r.design}${r.impl === "wasm" ? "" : ` (${r.impl})`}`;

export interface CompareIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Runs one round (default: in a fresh process). */
  runRound?: (job: RoundJob) => Promise<RoundRow[]>;
}

/** The ratio of a row's time to the reference row's, rounds paired, with its interval. */
export function timeRatio(results: readonly Result[], r: Result): { ratio: number; interval: Interval | null } | null {
  const ref = referenceOf(results, r);
  if (!ref) return null;
  if (ref === r) return { ratio: 1, interval: null };
  return ratioInterval(r.forkExitNs.rounds, ref.forkExitNs.rounds);
}

export async function runCompare(o: CompareOptions, io: CompareIo): Promise<Report> {
  const date = new Date();
  const machine = machineInfo();
  const impls: Impl[] = o.baseline ? ["wasm", o.baseline] : ["wasm"];
  const rounds = o.rounds ?? (o.quick ? QUICK_ROUNDS : DEFAULT_ROUNDS);
  const runRound = io.runRound ?? runRoundProcess;
  const rowsTotal = o.designs.length * o.workloads.length * impls.length;
  const progress = new Progress(o.workloads.length * rounds, { stream: io.stderr });
  const results: Result[] = [];
  let rowsDone = 0;
  try {
    for (const workload of o.workloads) {
      const specs = o.designs.flatMap((design) => impls.map((impl) => ({ design, workload, impl })));
      const got = specs.map(() => ({ rounds: [] as number[], samples: [] as number[], batch: 0, counts: undefined as Counts | undefined }));
      for (let round = 0; round < rounds; round++) {
        progress.step(`${workload}: round ${round + 1}/${rounds} (${specs.length} rows, a fresh process)`);
        // Rotate the order, so that no row always runs first (or right after a given one).
        const order = specs.map((_, i) => specs[(i + round) % specs.length]!);
        const rows = await runRound({ workload, rows: order.map(({ design, impl }) => ({ design, impl })), quick: o.quick, clock: o.clock, count: round === 0 });
        for (const row of rows) {
          const i = specs.findIndex((s) => s.design === row.design && s.impl === row.impl);
          const g = got[i]!;
          g.rounds.push(median(row.samples));
          g.samples.push(...row.samples);
          if (round === 0) g.batch = row.batch;
          if (row.counts) g.counts = row.counts;
        }
        progress.tick();
      }
      const finished = specs.map((s, i) => {
        const g = got[i]!;
        if (!g.counts || g.rounds.length !== rounds) throw new Error(`compare: ${label(s)} came back incomplete`);
        return {
          ...s,
          forkExitNs: { median: median(g.rounds), interval: medianInterval(g.rounds), rounds: g.rounds, samples: g.samples, batch: g.batch },
          counts: g.counts,
        } satisfies Result;
      });
      results.push(...finished);
      for (const r of finished) {
        rowsDone++;
        const t = timeRatio(results, r);
        const ratioText = t ? `, ×4L ${formatRatioCell(t, r.design === REFERENCE_DESIGN)}` : "";
        progress.done(
          `compare ${rowsDone}/${rowsTotal}: ${label(r)}: fork+exit ${formatMicros(r.forkExitNs.median)} µs ${formatInterval(r.forkExitNs.interval, formatMicros)}${ratioText}`,
        );
      }
    }
  } finally {
    progress.stop();
  }

  const report = makeReport(machine, date, { quick: o.quick, clock: o.clock, rounds, intervals: INTERVAL_METHOD }, results);
  const out = io.stdout;
  out.write(`wasm-mmu compare: fork+exit per design (ratios ×4L are to ${REFERENCE_DESIGN})\n`);
  out.write(`machine: ${describeMachine(machine, date)}\n`);
  out.write(
    `times: µs of ${o.clock === "cpu" ? "CPU" : "wall-clock"} time per iteration, the median of ${rounds} rounds (each a fresh process that built every row anew;` +
      ` its figure the median of its tinybench samples after warm-up; short iterations timed in batches of about 1 ms)` +
      `${o.quick ? ", --quick (short run: not for figures)" : ""}; [low–high]: 95% interval (${INTERVAL_METHOD});` +
      ` ≈: the ratio's interval holds 1.00 (no measurable difference); counts: exact, one iteration\n`,
  );
  out.write(renderTable(results) + "\n");
  out.write(
    "walk refs: paging-structure entries read by page walks when the child reads every resident page once after fork" +
      " (without paging-structure caches; with them in the PWC column)\n",
  );
  if (o.json) {
    await writeReport(o.json, report);
    out.write(`wrote ${o.json}\n`);
  }
  if (o.svg) {
    await writeFile(o.svg, chart(report, o));
    out.write(`wrote ${o.svg}\n`);
  }
  return report;
}

/** Grouped bars: per workload, each design's cost relative to the reference design. */
export function chart(report: Report, o: Pick<CompareOptions, "designs" | "workloads">): string {
  const wasm = report.results.filter((r) => r.impl === "wasm");
  const cell = (w: string, d: string) => wasm.find((x) => x.design === d && x.workload === w);
  const panel = (title: string, value: (r: Result) => number) => ({
    title,
    values: o.workloads.map((w) =>
      o.designs.map((d) => {
        const r = cell(w, d);
        const ref = r && referenceOf(wasm, r);
        return r && ref ? ratio(value(r), value(ref)) : null;
      }),
    ),
  });
  const timePanel = {
    title: `fork+exit time, median of ${report.rounds} rounds (${report.clock === "cpu" ? "CPU" : "wall-clock"}), with 95% intervals`,
    values: o.workloads.map((w) => o.designs.map((d) => {
      const r = cell(w, d);
      return (r && timeRatio(wasm, r)?.ratio) ?? null;
    })),
    intervals: o.workloads.map((w) => o.designs.map((d) => {
      const r = cell(w, d);
      return (r && timeRatio(wasm, r)?.interval) ?? null;
    })),
  };
  return barChart({
    title: `fork+exit cost of each page-table design, relative to ${REFERENCE_DESIGN} (lower is cheaper)`,
    subtitle: `wasm-mmu ${report.version} compare${report.quick ? " --quick" : ""}: ${describeMachine(report.machine, new Date(report.date))}`,
    groups: o.workloads,
    series: o.designs,
    panels: [
      timePanel,
      panel("page-table pages allocated (and freed) per fork+exit", (r) => r.counts.tablePagesAllocated),
      panel("page-table entries visited per fork+exit", (r) => r.counts.entriesVisited),
      panel("memory references of page walks after fork (no paging-structure caches)", (r) => r.counts.walkMemRefs),
    ],
    yLabel: `relative to ${REFERENCE_DESIGN}`,
    reference: { value: 1, label: `${REFERENCE_DESIGN} = 1` },
  });
}
