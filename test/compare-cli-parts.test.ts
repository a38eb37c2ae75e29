import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { describeMachine, machineInfo } from "../src/tools/compare/machine-info.js";
import { DESIGNS, WORKLOADS, parseList, resolveOptions } from "../src/tools/compare/options.js";
import { Progress } from "../src/tools/compare/progress.js";
import { makeReport, median, ratio, type Result } from "../src/tools/compare/report.js";
import { formatMicros, renderTable } from "../src/tools/compare/table.js";

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
  });
});

const counts = (tables: number, memRefs: number) => ({
  tablePagesAllocated: tables, tablePagesFreed: tables, entriesVisited: 10 * tables, entriesCopied: 9 * tables,
  levelsVisited: 4, tlbFlushes: 1, walkMemRefs: memRefs, walkMemRefsPwc: null,
});
const result = (design: Result["design"], impl: Result["impl"], ns: number, tables: number): Result => ({
  design, workload: "large", impl, forkExitNs: { median: ns, samples: [ns], batch: 1 }, counts: counts(tables, tables * 4),
});

describe("compare table and report", () => {
  const results = [
    result("x86_64-3level", "wasm", 900_000, 515),
    result("x86_64-4level", "wasm", 1_000_000, 520),
    result("x86_64-4level", "ts", 1_600_000, 520),
  ];
  it("shows each row's ratio to x86_64-4level and the WebAssembly speed-up", () => {
    const text = renderTable(results);
    expect(text).toMatch(/x86_64-3level.*900 ×0\.90.*515 ×0\.99/);
    expect(text).toMatch(/x86_64-4level.*1000 ×1\.00.*520 ×1\.00.*1600.*1\.60x/);
    expect(text).not.toMatch(/\(ts\)/); // ts rows fold into their wasm row
    expect(text).not.toContain("\x1b["); // no colour codes
  });
  it("keeps raw figures in the report", () => {
    const date = new Date("2026-11-22T01:00:00Z");
    const r = makeReport(machineInfo(), date, { quick: true, clock: "cpu" }, results);
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

describe("progress", () => {
  it("draws nothing when the stream is not a terminal", () => {
    const sink = new Sink(false);
    const p = new Progress(3, { stream: sink, delayMs: 0 });
    for (let i = 0; i < 3; i++) {
      p.step(`step ${i}`);
      p.tick();
    }
    p.stop();
    expect(p.visible).toBe(false);
    expect(sink.text).toBe("");
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
    p.stop();
    expect(sink.text).toContain("large x86_64-4level");
    expect(sink.text).toContain("1/2");
  });
});
