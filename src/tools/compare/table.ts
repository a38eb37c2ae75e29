// The table `wasm-mmu compare` prints: one row per workload x design, fork+exit time with its
// 95% interval and its ratio to x86_64-4level with the ratio's interval ("≈" where it holds
// 1.00), the exact counts with their ratios, and the WebAssembly speed-up over the TypeScript
// baseline (with its interval) when it ran.
import Table from "cli-table3";
import { formatRatio } from "./chart.js";
import { REFERENCE_DESIGN } from "./options.js";
import { ratio, referenceOf, type Result } from "./report.js";
import { holdsOne, ratioInterval, type Interval } from "./stats.js";

/** Nanoseconds as microseconds with three significant figures. */
export function formatMicros(ns: number): string {
  const us = ns / 1000;
  if (us >= 100) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  return us.toFixed(2);
}

/** "[low–high]" in the figure's format, or "" without an interval. */
export function formatInterval(interval: Interval | null, format: (v: number) => string): string {
  return interval ? `[${format(interval[0])}–${format(interval[1])}]` : "";
}

/**
 * A time ratio: "×1.59 [1.50–1.66]", or "≈1.02 [0.97–1.06]" when the interval holds 1.00 (no
 * measurable difference); the reference itself is "×1.00".
 */
export function formatRatioCell(r: { ratio: number; interval: Interval | null }, reference = false): string {
  if (reference) return "×1.00";
  const mark = holdsOne(r.interval) ? "≈" : "×";
  return `${mark}${formatRatio(r.ratio)}${r.interval ? ` ${formatInterval(r.interval, formatRatio)}` : ""}`;
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
    "workload", "design", "fork+exit µs [95%]", "×4L [95%]", "tables alloc ×4L", "tables freed", "entries visited ×4L",
    "entries copied", "levels visited", "TLB flushes", "walk refs ×4L",
  ];
  if (hasPwc) head.push("walk refs (PWC)");
  if (hasTs) head.push("TS fork+exit µs [95%]", "wasm speed-up [95%]");
  const table = new Table({ head, style: { head: [], border: [], compact: true } });
  let lastWorkload = "";
  for (const r of rows) {
    const ref = referenceOf(results, r);
    const c = r.counts;
    const row: string[] = [
      r.workload === lastWorkload ? "" : r.workload,
      r.impl === "ts" ? `${r.design} (ts)` : r.design,
      `${formatMicros(r.forkExitNs.median)} ${formatInterval(r.forkExitNs.interval, formatMicros)}`.trim(),
      ref ? formatRatioCell(ref === r ? { ratio: 1, interval: null } : (ratioInterval(r.forkExitNs.rounds, ref.forkExitNs.rounds) ?? { ratio: NaN, interval: null }), r.design === REFERENCE_DESIGN) : "",
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
      const speedup = t ? ratioInterval(t.forkExitNs.rounds, r.forkExitNs.rounds) : null;
      row.push(
        t ? `${formatMicros(t.forkExitNs.median)} ${formatInterval(t.forkExitNs.interval, formatMicros)}`.trim() : "",
        speedup === null ? "" : `${formatRatio(speedup.ratio)}x ${formatInterval(speedup.interval, formatRatio)}`.trim(),
      );
    }
    lastWorkload = r.workload;
    table.push(row);
  }
  return table.toString();
}
