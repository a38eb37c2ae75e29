// `wasm-mmu replay TRACE`: a valgrind lackey trace through a process on each chosen design.

import { writeFile } from "node:fs/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import Table from "cli-table3";
import { DESIGN_NAMES, type DesignName } from "../kernel/designs.js";
import { SKYLAKE_TLB, directMappedTlb, type PwcConfig, type TlbConfig } from "../machine/tlb.js";
import { replay, type CacheRate, type ReplayReport, type ReplayResult } from "../tools/replay.js";

/** --designs: a comma-separated list, or "all". */
function parseDesigns(value: string): DesignName[] {
  if (value === "all") return [...DESIGN_NAMES];
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const d of list) {
    if (!DESIGN_NAMES.includes(d as DesignName)) throw new InvalidArgumentError(`unknown design "${d}" (designs: ${DESIGN_NAMES.join(", ")}, all)`);
  }
  return list as DesignName[];
}

/** --tlb: skylake, direct[:ENTRIES] or none. */
function parseTlb(value: string): TlbConfig | false {
  if (value === "skylake") return SKYLAKE_TLB;
  if (value === "none") return false;
  const m = /^direct(?::(\d+))?$/.exec(value);
  if (m) return directMappedTlb(m[1] ? Number(m[1]) : undefined);
  throw new InvalidArgumentError(`"${value}" is not skylake, direct[:ENTRIES] or none`);
}

function parseRam(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 8 || n > 4095) throw new InvalidArgumentError(`"${value}" is not a whole number of MiB in [8, 4095]`);
  return n * 2 ** 20;
}

const pct = (x: number) => (Number.isNaN(x) ? "-" : `${(100 * x).toFixed(2)}%`);
const int = (x: number) => x.toLocaleString("en-US");
const cache = (c: CacheRate | undefined) => (c ? `${pct(c.hitRate)} (${int(c.hits)})` : "");
const rateM = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;

/** One row per figure, one column per design. */
export function replayTable(report: ReplayReport): string {
  const rs = report.results;
  const table = new Table({
    head: ["", ...rs.map((r) => r.design)],
    style: { head: [], border: [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  const row = (name: string, f: (r: ReplayResult) => string) => table.push([name, ...rs.map(f)]);
  row("accesses", (r) => int(r.accesses));
  row("  instruction fetches (I)", (r) => int(r.instructionFetches));
  row("  loads (L)", (r) => int(r.loads));
  row("  stores (S)", (r) => int(r.stores));
  row("  modifies (M)", (r) => int(r.modifies));
  row("translations (page crossings)", (r) => `${int(r.translations)} (${int(r.pageCrossings)})`);
  if (rs.some((r) => r.outOfRange)) row("out of the design's range", (r) => int(r.outOfRange));
  row("TLB hit rate", (r) => pct(r.tlbHitRate));
  row("  I-TLB (first level)", (r) => pct(r.itlbHitRate));
  row("  D-TLB (first level)", (r) => pct(r.dtlbHitRate));
  for (const name of new Set(rs.flatMap((r) => r.tlb.map((c) => c.name)))) {
    row(`  ${name} hits`, (r) => cache(r.tlb.find((c) => c.name === name)));
  }
  row("walks", (r) => int(r.walks));
  row("memory refs per walk", (r) => r.memRefsPerWalk.toFixed(3));
  for (const name of new Set(rs.flatMap((r) => r.pwc.map((c) => c.name)))) {
    row(`PWC ${name} hits`, (r) => cache(r.pwc.find((c) => c.name === name)));
  }
  row("page faults", (r) => int(r.pageFaults));
  row("resident pages", (r) => int(r.residentPages));
  row("page-table pages", (r) => int(r.tablePages));
  row("simulation", (r) => rateM(r.simulatedAccessesPerSecond));
  row("end to end", (r) => rateM(r.accessesPerSecond));
  return table.toString() + "\n";
}

export function replayCommand(): Command {
  return new Command("replay")
    .description("replay a valgrind lackey trace (valgrind --tool=lackey --trace-mem=yes) through each design")
    .argument("<trace>", "lackey trace file, gzip-compressed or not; - for stdin")
    .addOption(new Option("-d, --designs <list>", `comma-separated designs, or all (${DESIGN_NAMES.join(", ")})`).argParser(parseDesigns).default(["x86_64-4level"], "x86_64-4level"))
    .addOption(new Option("--tlb <tlb>", "TLBs: skylake, direct[:ENTRIES] (one direct-mapped 4 KiB TLB) or none").argParser(parseTlb).default(SKYLAKE_TLB, "skylake"))
    .addOption(new Option("--pwc <pwc>", "paging-structure caches").choices(["default", "none"]).default("default"))
    .addOption(new Option("--ram-mib <MiB>", "guest RAM per design").argParser(parseRam).default(512 * 2 ** 20, "512"))
    .option("--json <file>", "also write the report as JSON")
    .option("--strict", "a malformed line is an error (by default it is counted, reported on stderr and skipped)")
    .action(async (trace: string, opts: { designs: DesignName[]; tlb: TlbConfig | false; pwc: string; ramMib: number; json?: string; strict?: boolean }) => {
      const pwc: PwcConfig | false | undefined = opts.pwc === "none" ? false : undefined;
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: "replay [{bar}] {percentage}% | {translations} translations | {duration_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      let started = false;
      const report = await replay(trace, {
        designs: opts.designs,
        tlb: opts.tlb,
        pwc,
        ramBytes: opts.ramMib,
        strict: opts.strict === true,
        onProgress: bar && ((read, total, translations) => {
          if (!started) { bar.start(total ?? 0, 0, { translations: 0 }); started = true; }
          bar.update(total ? read : 0, { translations: int(translations) });
        }),
      });
      bar?.stop();
      if (report.malformedLines > 0) {
        process.stderr.write(
          `wasm-mmu replay: skipped ${int(report.malformedLines)} malformed line${report.malformedLines === 1 ? "" : "s"}` +
            ` (the first is line ${report.firstMalformedLine ?? "?"}); --strict makes them an error\n`,
        );
      }
      process.stdout.write(replayTable(report));
      if (opts.json) await writeFile(opts.json, JSON.stringify(report, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 1) + "\n");
    });
}
