// The table `wasm-mmu compare` prints: one row per workload x design, fork+exit median time and
// the exact counts, each key figure with its ratio to x86_64-4level, and the WebAssembly
// speed-up over the TypeScript baseline when it ran.
import Table from "cli-table3";
import { formatRatio } from "./chart.js";
import { ratio, referenceOf, type Result } from "./report.js";

/** Nanoseconds as microseconds with three significant figures. */
export function formatMicros(ns: number): string {
  const us = ns / 1000;
  if (us >= 100) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  return us.toFixed(2);
}

const count = (v: number) => v.toLocaleString("en-US");
const withRatio = (text: string, r: number | null) => (r === null ? text : `${text} ×${formatRatio(r)}`);

export function renderTable(results: readonly Result[]): string {
  const wasm = results.filter((r) => r.impl === "wasm");
  const rows = wasm.length > 0 ? wasm : [...results];
  const ts = (r: Result) => results.find((x) => x.impl === "ts" && x.design === r.design && x.workload === r.workload);
  const hasTs = rows.some((r) => r.impl === "wasm" && ts(r));
  const hasPwc = rows.some((r) => r.counts.walkMemRefsPwc !== null);

  const head = [
    "workload", "design", "fork+exit µs ×4L", "tables alloc ×4L", "tables freed", "entries visited ×4L",
    "entries copied", "levels visited", "TLB flushes", "walk refs ×4L",
  ];
  if (hasPwc) head.push("walk refs (PWC)");
  if (hasTs) head.push("TS fork+exit µs", "wasm speed-up");
  const table = new Table({ head, style: { head: [], border: [], compact: true } });
  let lastWorkload = "";
  for (const r of rows) {
    const ref = referenceOf(results, r);
    const c = r.counts;
    const row: string[] = [
      r.workload === lastWorkload ? "" : r.workload,
      r.impl === "ts" ? `${r.design} (ts)` : r.design,
      withRatio(formatMicros(r.forkExitNs.median), ratio(r.forkExitNs.median, ref?.forkExitNs.median)),
      withRatio(count(c.tablePagesAllocated), ratio(c.tablePagesAllocated, ref?.counts.tablePagesAllocated)),
      count(c.tablePagesFreed),
      withRatio(count(c.entriesVisited), ratio(c.entriesVisited, ref?.counts.entriesVisited)),
      count(c.entriesCopied),
      count(c.levelsVisited),
      count(c.tlbFlushes),
      withRatio(count(c.walkMemRefs), ratio(c.walkMemRefs, ref?.counts.walkMemRefs)),
    ];
    if (hasPwc) row.push(c.walkMemRefsPwc === null ? "" : count(c.walkMemRefsPwc));
    if (hasTs) {
      const t = ts(r);
      const speedup = t ? ratio(t.forkExitNs.median, r.forkExitNs.median) : null;
      row.push(t ? formatMicros(t.forkExitNs.median) : "", speedup === null ? "" : `${formatRatio(speedup)}x`);
    }
    lastWorkload = r.workload;
    table.push(row);
  }
  return table.toString();
}
