// `wasm-mmu compare --quick` end to end, as a user runs it: the built CLI in a child process
// (and each timing round in a child process of its own).
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DESIGN_NAMES } from "../src/index.js";
import { DESIGNS } from "../src/tools/compare/options.js";
import type { Report } from "../src/tools/compare/report.js";
import { parseSvg } from "./svg.js";

const run = promisify(execFile);
const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;

describe("wasm-mmu compare", () => {
  it("knows every Kernel design", () => {
    expect([...DESIGNS]).toEqual([...DESIGN_NAMES]);
  });

  // A whole run in a child process: seconds, more on a loaded machine.
  it("--quick runs real workloads and writes the table, the JSON report and the chart", { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "compare-"));
    const json = join(dir, "r.json");
    const svg = join(dir, "r.svg");
    const { stdout, stderr } = await run(process.execPath, [
      cli, "compare", "--quick", "--designs", "i386-2level,x86_64-5level", "--baseline", "ts", "--json", json, "--svg", svg,
    ]);
    // No bar when stderr is not a terminal: one line per finished row instead.
    const lines = stderr.split("\n").filter(Boolean);
    expect(lines).toHaveLength(3 * 5 * 2);
    lines.forEach((l, i) => expect(l).toMatch(new RegExp(`^compare ${i + 1}/30: \\w+ \\S+( \\(ts\\))?: fork\\+exit [\\d.]+ µs \\[[\\d.]+–[\\d.]+\\], ×4L [×≈][\\d.]+`)));
    expect(stdout).toMatch(/machine: .* x \d+ cores, Node v\d+/);
    expect(stdout).toContain("the median of 3 rounds (each a fresh process");
    for (const w of ["lmbench", "large", "sparse", "huge", "touch"]) expect(stdout).toContain(w);
    expect(stdout).toMatch(/x86_64-4level .*×1\.00/); // the reference is always run
    expect(stdout).toMatch(/i386-2level +│ [\d.]+ \[[\d.]+–[\d.]+\] +│ [×≈][\d.]+ \[[\d.]+–[\d.]+\]/);

    const report = JSON.parse(await readFile(json, "utf8")) as Report;
    expect(report.reference).toBe("x86_64-4level");
    expect(report.quick).toBe(true);
    expect(report.results).toHaveLength(3 * 5 * 2);
    expect(report.rounds).toBe(3);
    expect(report.intervals).toMatch(/bootstrap/);
    for (const r of report.results) {
      expect(r.forkExitNs.median).toBeGreaterThan(0);
      expect(r.forkExitNs.rounds).toHaveLength(3);
      expect(r.forkExitNs.samples.length).toBeGreaterThanOrEqual(3 * 3);
      const [lo, hi] = r.forkExitNs.interval!;
      expect(lo).toBeLessThanOrEqual(r.forkExitNs.median);
      expect(hi).toBeGreaterThanOrEqual(r.forkExitNs.median);
      expect(r.counts.tablePagesAllocated).toBe(r.counts.tablePagesFreed); // exit frees what fork built
      expect(r.counts.entriesCopied).toBeGreaterThan(0);
      expect(r.counts.walkMemRefs).toBeGreaterThan(0);
    }
    const get = (design: string, workload: string, impl = "wasm") =>
      report.results.find((r) => r.design === design && r.workload === workload && r.impl === impl)!;
    for (const w of ["lmbench", "large", "sparse", "huge", "touch"]) {
      // Both implementations do exactly the same work.
      for (const d of ["i386-2level", "x86_64-4level", "x86_64-5level"]) expect(get(d, w, "ts").counts).toEqual(get(d, w).counts);
    }
    // --quick huge: 32 MiB in 2 MiB pages (4 MiB on i386-2level), each walked once: 1, 3 and 4 levels.
    expect([get("i386-2level", "huge"), get("x86_64-4level", "huge"), get("x86_64-5level", "huge")].map((r) => r.counts.walkMemRefs)).toEqual([8, 48, 64]);
    for (const w of ["lmbench", "large", "sparse", "touch"]) {
      // A walk without paging-structure caches reads one entry per level: 2, 4 and 5 levels.
      expect(get("i386-2level", w).counts.walkMemRefs * 2).toBe(get("x86_64-4level", w).counts.walkMemRefs);
      expect(get("x86_64-4level", w).counts.walkMemRefs * 5).toBe(get("x86_64-5level", w).counts.walkMemRefs * 4);
    }
    // Sparse mappings over a bigger address space need more page-table pages.
    expect(get("i386-2level", "sparse").counts.tablePagesAllocated).toBeLessThan(get("x86_64-4level", "sparse").counts.tablePagesAllocated);
    expect(get("x86_64-4level", "sparse").counts.tablePagesAllocated).toBeLessThan(get("x86_64-5level", "sparse").counts.tablePagesAllocated);

    const bars = parseSvg(await readFile(svg, "utf8")).filter((e) => e.attrs.class === "bar");
    expect(bars).toHaveLength(4 * 5 * 3); // panels x workloads x designs
    const reference = bars.filter((b) => b.attrs["data-series"] === "x86_64-4level");
    expect(reference).toHaveLength(4 * 5);
    expect(reference.every((b) => b.attrs["data-value"] === "1")).toBe(true);
    // Error bars on the time panel: every design but the reference, every workload.
    const errorBars = parseSvg(await readFile(svg, "utf8")).filter((e) => e.attrs.class === "error-bar");
    expect(errorBars.map((e) => e.attrs["data-series"]).sort()).toEqual([...Array(5).fill("i386-2level"), ...Array(5).fill("x86_64-5level")]);
  });

  it("refuses a bad option value, naming it, before doing any work", async () => {
    const err = await run(process.execPath, [cli, "compare", "--workloads", "lmbench,forkbomb"]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('--workloads: unknown name "forkbomb"');
  });
});
