// `wasm-mmu ptdump`: the page tables of a capture folder (../shared/fixtures format) as Linux's
// dump_pagetables, QEMU's info tlb / info mem, or JSON.

import { Command, Option } from "commander";
import { loadCapture } from "../tools/capture.js";
import { PTDUMP_FORMATS, ptdump, type PtdumpFormat } from "../tools/ptdump.js";

export function ptdumpCommand(): Command {
  return new Command("ptdump")
    .description("dump page tables: Linux dump_pagetables style, QEMU info tlb / info mem, or JSON")
    .argument("<capture>", "capture folder: meta.json + tables.bin.gz (as in ../shared/fixtures)")
    .addOption(new Option("-f, --format <format>", "output format").choices(PTDUMP_FORMATS).default("linux"))
    .option("--json", "same as --format json")
    .action(async (capture: string, opts: { format: PtdumpFormat; json?: boolean }) => {
      const machine = await loadCapture(capture);
      process.stdout.write(ptdump(machine, opts.json ? "json" : opts.format));
    });
}
