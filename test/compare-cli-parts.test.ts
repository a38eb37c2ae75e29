import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { describeMachine, machineInfo } from "../src/tools/compare/machine-info.js";
import { DESIGNS, WORKLOADS, parseList, resolveOptions } from "../src/tools/compare/options.js";
import { Progress } from "../src/tools/compare/progress.js";
import { runCompare } from "../src/tools/compare/compare.js";
import type { RoundJob } from "../src/tools/compare/round.js";
import { makeReport, median, ratio, type Result } from "../src/tools/compare/report.js";
import { formatInterval, formatMicros, formatRatioCell, renderTable } from "../src/tools/compare/table.js";
import { holdsOne, medianInterval, quantile, ratioInterval } from "../src/tools/compare/stats.js";

describe("compare options", () => {
  it("takes all designs and workloads by default, in canonical order", () => {
    const o = resolveOptions({});
    expect(o.designs).toEqual([...DESIGNS]);
    expect(o.workloads).toEqual([...WORKLOADS]);
    expect(o.baseline).toBeNull();
    expect(o.quick).toBe(false);
  });
  it("parses lists, keeps the canonical order and drops repeats", () => {
    expect(resolveOptions({ designs: "x86_64-5level,i386-2level" }).designs).toEqual(["i386-2level", "x86_64-4level", "x86_64-5level"]);
    expect(resolveOptions({ clock: "cpu" }).clock).toBe("cpu");
    expect(parseList("--designs", "x86_64-5level, i386-2level,x86_64-5level", DESIGNS)).toEqual(["i386-2level", "x86_64-5level"]);
    expect(resolveOptions({ workloads: "touch,large", baseline: "ts", quick: true }).workloads).toEqual(["large", "touch"]);
  });
  it("names the bad value", () => {
    expect(() => resolveOptions({ designs: "x86_64-4level,x86_64-6level" })).toThrow(/--designs: unknown name "x86_64-6level"/);
    expect(() => resolveOptions({ workloads: "large,,touch" })).toThrow(/--workloads: empty name in "large,,touch"/);
    expect(() => resolveOptions({ baseline: "js" })).toThrow(/--baseline: unknown implementation "js"/);
    expect(() => resolveOptions({ clock: "tsc" })).toThrow(/--clock: unknown clock "tsc"/);
    expect(() => resolveOptions({ json: "" })).toThrow(/--json: empty file name/);
    expect(() => resolveOptions({ json: "a.out", svg: "a.out" })).toThrow(/same file "a.out"/);
    expect(() => resolveOptions({ rounds: "1" })).toThrow(/--rounds: "1" is not a whole number in \[2, 100\]/);
    expect(() => resolveOptions({ rounds: "2.5" })).toThrow(/--rounds: "2.5"/);
    expect(resolveOptions({ rounds: "12" }).rounds).toBe(12);
    expect(resolveOptions({}).rounds).toBeUndefined();
  });
});

const counts = (tables: number, memRefs: number) => ({
  tablePagesAllocated: tables, tablePagesFreed: tables, entriesVisited: 10 * tables, entriesCopied: 9 * tables,
  levelsVisited: 4, tlbFlushes: 1, walkMemRefs: memRefs, walkMemRefsPwc: null,
});
/** A result whose rounds spread ±spread around ns (five rounds). */
const result = (design: Result["design"], impl: Result["impl"], ns: number, tables: number, spread = 0.01): Result => {
  const rounds = [1 - 2 * spread, 1 - spread, 1, 1 + spread, 1 + 2 * spread].map((f) => Math.round(ns * f));
  return {
    design, workload: "large", impl,
    forkExitNs: { median: ns, interval: medianInterval(rounds), rounds, samples: rounds, batch: 1 },
    counts: counts(tables, tables * 4),
  };
};

describe("compare table and report", () => {
  const results = [
    result("x86_64-3level", "wasm", 900_000, 515),
    result("x86_64-4level", "wasm", 1_000_000, 520),
    result("x86_64-4level", "ts", 1_600_000, 520),
  ];
  it("shows each row's ratio to x86_64-4level and the WebAssembly speed-up", () => {
    const text = renderTable(results);
    expect(text).toMatch(/x86_64-3level.*900 \[\d+–\d+\] +│ +×0\.90 \[0\.\d\d–0\.\d\d\].*515 ×0\.99/);
    expect(text).toMatch(/x86_64-4level.*1000 \[\d+–\d+\] +│ +×1\.00 .*520 ×1\.00.*1600 \[\d+–\d+\].*1\.60x \[1\.\d\d–1\.\d\d\]/);
    expect(text).not.toMatch(/\(ts\)/); // ts rows fold into their wasm row
    expect(text).not.toContain("\x1b["); // no colour codes
  });
  it("keeps raw figures in the report", () => {
    const date = new Date("2026-11-22T01:00:00Z");
    const r = makeReport(machineInfo(), date, { quick: true, clock: "cpu", rounds: 5, intervals: "bootstrap" }, results);
    expect([r.rounds, r.intervals]).toEqual([5, "bootstrap"]);
    expect(r.clock).toBe("cpu");
    expect(r.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.date).toBe("2026-11-22T01:00:00.000Z");
    expect(r.reference).toBe("x86_64-4level");
    expect(JSON.parse(JSON.stringify(r)).results[2]).toEqual(results[2]);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(describeMachine(r.machine, date)).toMatch(/cores, Node v\d+.*2026-11-22 01:00 UTC$/);
  });
  it("computes medians and ratios", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
    expect(ratio(2, 4)).toBe(0.5);
    expect(ratio(2, 0)).toBeNull();
    expect(ratio(null, 1)).toBeNull();
    expect(formatMicros(1234)).toBe("1.23");
    expect(formatMicros(12_345)).toBe("12.3");
    expect(formatMicros(987_654)).toBe("988");
  });
});

class Sink extends Writable {
  text = "";
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
  get columns() {
    return 100;
  }
}

describe("intervals", () => {
  it("bootstraps the median over rounds: an interval around it, narrower for steadier rounds, the same every time", () => {
    const steady = medianInterval([100, 101, 99, 100, 102, 98, 100, 101])!;
    const noisy = medianInterval([60, 150, 90, 170, 88, 159, 85, 152])!;
    expect(steady[0]).toBeLessThanOrEqual(100);
    expect(steady[1]).toBeGreaterThanOrEqual(100);
    expect(steady[1] - steady[0]).toBeLessThan(5);
    expect(noisy[1] - noisy[0]).toBeGreaterThan(40);
    expect(medianInterval([100, 101, 99, 100, 102, 98, 100, 101])).toEqual(steady);
    expect(medianInterval([5])).toBeNull();
    expect(quantile([0, 10], 0.25)).toBe(2.5);
  });
  it("marks a ratio whose interval holds 1.00 as ≈, and a clear difference with ×", () => {
    const same = ratioInterval([100, 103, 97, 101, 99], [101, 98, 102, 100, 99])!;
    expect(holdsOne(same.interval)).toBe(true);
    expect(formatRatioCell(same)).toMatch(/^≈1\.0\d \[0\.9\d–1\.0\d\]$/);
    const slower = ratioInterval([150, 152, 149, 151, 150], [100, 101, 99, 100, 102])!;
    expect(slower.ratio).toBe(1.5);
    expect(holdsOne(slower.interval)).toBe(false);
    expect(formatRatioCell(slower)).toMatch(/^×1\.5\d \[1\.4\d–1\.5\d\]$/);
    expect(formatRatioCell({ ratio: 1, interval: null }, true)).toBe("×1.00");
    expect(ratioInterval([1, 2], [1])).toBeNull();
    expect(formatInterval(null, String)).toBe("");
  });
  it("a bimodal design shows as a wide interval, not as a ratio far from 1", () => {
    // The same work, one row landing on slow or fast host memory per process (the medians).
    const bimodal = [1.52, 0.88, 0.85, 1.75, 0.88, 1.59, 0.9, 1.6];
    const other = [0.87, 1.55, 1.7, 0.86, 1.62, 0.9, 1.58, 0.88];
    expect(holdsOne(ratioInterval(bimodal, other)!.interval)).toBe(true);
  });
});

describe("rounds", () => {
  it("runs every row of a workload in each round, rotating the order, counting in the first round only", async () => {
    const jobs: RoundJob[] = [];
    const o = resolveOptions({ designs: "i386-2level,x86_64-5level", workloads: "lmbench,huge", rounds: "4" });
    const sink = new Sink(false);
    const out = new Sink(false);
    const report = await runCompare(o, {
      stdout: out, stderr: sink,
      runRound: async (job) => {
        jobs.push(job);
        return job.rows.map((r, i) => ({
          ...r, batch: 1,
          // The row that runs first in a round is slow: rotation spreads that over every design.
          samples: [i === 0 ? 2000 : 1000, 1000, 1000],
          counts: job.count ? counts(10, 40) : undefined,
        }));
      },
    });
    expect(jobs.map((j) => j.workload)).toEqual(["lmbench", "lmbench", "lmbench", "lmbench", "huge", "huge", "huge", "huge"]);
    expect(jobs.map((j) => j.count)).toEqual([true, false, false, false, true, false, false, false]);
    expect(jobs.slice(0, 3).map((j) => j.rows.map((r) => r.design))).toEqual([
      ["i386-2level", "x86_64-4level", "x86_64-5level"],
      ["x86_64-4level", "x86_64-5level", "i386-2level"],
      ["x86_64-5level", "i386-2level", "x86_64-4level"],
    ]);
    expect(report.rounds).toBe(4);
    const first = report.results.find((r) => r.design === "i386-2level" && r.workload === "lmbench")!;
    expect(first.forkExitNs.rounds).toEqual([1000, 1000, 1000, 1000]);
    expect(sink.text.split("\n").filter(Boolean)).toHaveLength(6);
    expect(out.text).toContain("the median of 4 rounds");
  });
});

describe("progress", () => {
  it("draws no bar when the stream is not a terminal: one line per finished row", () => {
    const sink = new Sink(false);
    const p = new Progress(3, { stream: sink, delayMs: 0 });
    for (let i = 0; i < 3; i++) {
      p.step(`step ${i}`);
      p.tick();
      p.done(`row ${i} done`);
    }
    p.stop();
    expect(p.visible).toBe(false);
    expect(sink.text).toBe("row 0 done\nrow 1 done\nrow 2 done\n");
  });
  it("draws nothing on a terminal for a run shorter than the delay", () => {
    const sink = new Sink(true);
    let t = 0;
    const p = new Progress(2, { stream: sink, delayMs: 1000, now: () => t });
    p.step("a");
    t = 500;
    p.tick();
    p.step("b");
    p.tick();
    p.stop();
    expect(sink.text).toBe("");
  });
  it("draws a bar on a terminal once the run is longer than the delay", () => {
    const sink = new Sink(true);
    let t = 0;
    const p = new Progress(2, { stream: sink, delayMs: 1000, now: () => t });
    p.step("lmbench x86_64-4level");
    p.tick();
    t = 1500;
    p.step("large x86_64-4level");
    expect(p.visible).toBe(true);
    p.tick();
    p.done("not on a terminal: the bar shows it");
    p.stop();
    expect(sink.text).not.toContain("not on a terminal");
    expect(sink.text).toContain("large x86_64-4level");
    expect(sink.text).toContain("1/2");
  });
});
