// `wasm-mmu ptdump`: the page tables of a capture folder (test/fixtures/README.md format) or of a
// process on a Kernel, as Linux's dump_pagetables, QEMU's info tlb / info mem, or JSON.

import { Command, InvalidArgumentError, Option } from "commander";
import { DESIGN_NAMES, type DesignName } from "../kernel/designs.js";
import { Kernel } from "../kernel/kernel.js";
import { PROT_WRITE } from "../kernel/constants.js";
import type { Machine } from "../machine/machine.js";
import { loadCapture } from "../tools/capture.js";
import { PTDUMP_FORMATS, ptdump, type PtdumpFormat } from "../tools/ptdump.js";
import { replay } from "../tools/replay.js";

const MIB = 2 ** 20;

function parseDesign(value: string): DesignName {
  if (!DESIGN_NAMES.includes(value as DesignName)) throw new InvalidArgumentError(`unknown design "${value}" (designs: ${DESIGN_NAMES.join(", ")})`);
  return value as DesignName;
}

interface Options {
  format: PtdumpFormat;
  json?: boolean;
  design?: DesignName;
  trace?: string;
  ramMib: number;
}

/** A process on a kernel of the design: the one a trace ran on, or a fresh one with its areas
 * faulted in (text read, the rest written). Its address space is left loaded in CR3. */
async function processMachine(design: DesignName, trace: string | undefined, ramBytes: number): Promise<Machine> {
  if (trace) {
    let machine: Machine | undefined;
    await replay(trace, { designs: [design], ramBytes, inspect: (_d, kernel) => (machine = kernel.machine) });
    return machine!;
  }
  const kernel = await Kernel.create({ design, ramBytes });
  const p = kernel.spawn();
  for (const area of p.maps()) p.touch(area.start, area.end - area.start, (area.prot & PROT_WRITE) !== 0);
  kernel.switchTo(p); // the context switch to p (CR3 = its pgd)
  return kernel.machine;
}

export function ptdumpCommand(): Command {
  return new Command("ptdump")
    .description("dump page tables (a capture folder, or a process on a Kernel): Linux dump_pagetables style, QEMU info tlb / info mem, or JSON")
    .argument("[capture]", "capture folder: meta.json + tables.bin.gz (format: test/fixtures/README.md)")
    .addOption(new Option("-f, --format <format>", "output format").choices(PTDUMP_FORMATS).default("linux"))
    .option("--json", "same as --format json")
    .addOption(new Option("--design <design>", "dump a process on a Kernel of this design instead of a capture").argParser(parseDesign))
    .option("--trace <file>", "with --design: the process a lackey trace ran on (see replay)")
    .addOption(new Option("--ram-mib <MiB>", "with --design: guest RAM").argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 8 || n > 4095) throw new InvalidArgumentError(`"${v}" is not a whole number of MiB in [8, 4095]`);
      return n * MIB;
    }).default(256 * MIB, "256"))
    .action(async (capture: string | undefined, opts: Options) => {
      if ((capture === undefined) === (opts.design === undefined)) throw new InvalidArgumentError("give either a capture folder or --design");
      if (opts.trace && !opts.design) throw new InvalidArgumentError("--trace needs --design");
      const machine = capture ? await loadCapture(capture) : await processMachine(opts.design!, opts.trace, opts.ramMib);
      process.stdout.write(ptdump(machine, opts.json ? "json" : opts.format));
    });
}
