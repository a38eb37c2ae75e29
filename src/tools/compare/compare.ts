// `wasm-mmu compare`: every selected design x workload (x implementation), in one process, one
// kernel at a time; then the table, and the JSON report and SVG chart when asked for.
import { writeFile } from "node:fs/promises";
import { barChart } from "./chart.js";
import { describeMachine, machineInfo } from "./machine-info.js";
import { REFERENCE_DESIGN, type CompareOptions, type Impl } from "./options.js";
import { Progress } from "./progress.js";
import { makeReport, ratio, referenceOf, writeReport, type Report, type Result } from "./report.js";
import { finishRow, prepareRow, sampleRow, type Row } from "./runner.js";
import { renderTable } from "./table.js";
import { WORKLOAD_SPECS } from "./workloads.js";

/** Timing rounds per row (interleaved with the other rows of its workload). */
const ROUNDS = 5;
/** Guest RAM of the kernels alive at once. */
const RAM_BUDGET = 1280 * 1024 * 1024;

const label = (r: { design: string; workload: string; impl: Impl }) => `${r.workload} ${r.design}${r.impl === "wasm" ? "" : ` (${r.impl})`}`;

export interface CompareIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export async function runCompare(o: CompareOptions, io: CompareIo): Promise<Report> {
  const date = new Date();
  const machine = machineInfo();
  const impls: Impl[] = o.baseline ? ["wasm", o.baseline] : ["wasm"];
  const progress = new Progress(o.designs.length * o.workloads.length * impls.length, { stream: io.stderr });
  const results: Result[] = [];
  const rounds = o.quick ? 1 : ROUNDS;
  try {
    for (const workload of o.workloads) {
      const specs = o.designs.flatMap((design) => impls.map((impl) => ({ design, workload, impl })));
      // As many rows at once as fit in RAM_BUDGET, timed in interleaved rounds.
      const per = Math.max(1, Math.floor(RAM_BUDGET / WORKLOAD_SPECS[workload].ramBytes(o.quick)));
      for (let first = 0; first < specs.length; first += per) {
        const chunk = specs.slice(first, first + per);
        const rows: Row[] = [];
        for (const s of chunk) {
          progress.step(`building ${label(s)}`);
          rows.push(await prepareRow(s.design, s.workload, s.impl, o.quick));
        }
        for (let round = 1; round <= rounds; round++) {
          for (const row of rows) {
            progress.step(`timing ${label(row)}${rounds > 1 ? `, round ${round}/${rounds}` : ""}`);
            await sampleRow(row, { quick: o.quick, clock: o.clock, rounds });
          }
        }
        for (const row of rows) {
          progress.step(`counting ${label(row)}`);
          // The TypeScript core builds byte-identical tables (test/ts-core.test.ts), so its walks
          // are the same: the access passes run once, for the WebAssembly row.
          const same = results.find((r) => r.design === row.design && r.workload === row.workload);
          results.push(await finishRow(row, { quick: o.quick, clock: o.clock, walks: same?.counts }));
          progress.tick();
        }
      }
    }
  } finally {
    progress.stop();
  }

  const report = makeReport(machine, date, { quick: o.quick, clock: o.clock }, results);
  const out = io.stdout;
  out.write(`wasm-mmu compare: fork+exit per design (ratios ×4L are to ${REFERENCE_DESIGN})\n`);
  out.write(`machine: ${describeMachine(machine, date)}\n`);
  out.write(`times: medians of ${o.clock === "cpu" ? "CPU" : "wall-clock"} time per iteration (tinybench, after warm-up; short iterations timed in batches of about 1 ms)${o.quick ? ", --quick (short run: not for figures)" : ""}; counts: exact, one iteration\n`);
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
  const panel = (title: string, value: (r: Result) => number) => ({
    title,
    values: o.workloads.map((w) =>
      o.designs.map((d) => {
        const r = wasm.find((x) => x.design === d && x.workload === w);
        const ref = r && referenceOf(wasm, r);
        return r && ref ? ratio(value(r), value(ref)) : null;
      }),
    ),
  });
  return barChart({
    title: `fork+exit cost of each page-table design, relative to ${REFERENCE_DESIGN} (lower is cheaper)`,
    subtitle: `wasm-mmu ${report.version} compare${report.quick ? " --quick" : ""}: ${describeMachine(report.machine, new Date(report.date))}`,
    groups: o.workloads,
    series: o.designs,
    panels: [
      panel(`fork+exit median ${report.clock === "cpu" ? "CPU" : "wall-clock"} time`, (r) => r.forkExitNs.median),
      panel("page-table pages allocated (and freed) per fork+exit", (r) => r.counts.tablePagesAllocated),
      panel("page-table entries visited per fork+exit", (r) => r.counts.entriesVisited),
      panel("memory references of page walks after fork (no paging-structure caches)", (r) => r.counts.walkMemRefs),
    ],
    yLabel: `relative to ${REFERENCE_DESIGN}`,
    reference: { value: 1, label: `${REFERENCE_DESIGN} = 1` },
  });
}
