// `wasm-mmu compare`: fork/exit and page-walk costs of the 2-, 3-, 4- and 5-level designs.
import { Command } from "commander";
import { runCompare } from "../tools/compare/compare.js";
import { DESIGNS, WORKLOADS, resolveOptions, type RawCompareOptions } from "../tools/compare/options.js";
import { WORKLOAD_SPECS } from "../tools/compare/workloads.js";

export function compareCommand(): Command {
  return new Command("compare")
    .description("fork+exit and page-walk costs of every page-table design side by side (the seeds' claim, measured)")
    .option("--designs <list>", `comma-separated designs, or all: ${DESIGNS.join(", ")}`, "all")
    .option("--workloads <list>", `comma-separated workloads, or all: ${WORKLOADS.join(", ")}`, "all")
    .option("--baseline <impl>", "also run the plain TypeScript range loops (ts) and show the WebAssembly speed-up")
    .option("--clock <clock>", "time measured: wall (elapsed) or cpu (this process's CPU time)", "wall")
    .option("--quick", "short run for CI and tests (small resident sets, few iterations, 3 rounds)")
    .option("--rounds <n>", "timing rounds per row, each a fresh process; the intervals are over rounds (default 8, 3 with --quick)")
    .option("--json <file>", "write every raw figure (samples, counts) as JSON")
    .option("--svg <file>", "write a grouped bar chart of each design's cost relative to x86_64-4level")
    .addHelpText("after", "\nWorkloads:\n" + WORKLOADS.map((w) => `  ${w.padEnd(8)} ${WORKLOAD_SPECS[w].description}`).join("\n"))
    .action(async (raw: RawCompareOptions) => {
      await runCompare(resolveOptions(raw), { stdout: process.stdout, stderr: process.stderr });
    });
}
