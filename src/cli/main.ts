#!/usr/bin/env node
// The wasm-mmu command line: each subcommand lives in its own module, registered here.

import { Command } from "commander";
import { compareCommand } from "./compare.js";
import { ptdumpCommand } from "./ptdump.js";
import { replayCommand } from "./replay.js";

const program = new Command("wasm-mmu")
  .description("x86 MMU emulator: page tables in WebAssembly linear memory")
  .showHelpAfterError();

program.addCommand(compareCommand());
program.addCommand(ptdumpCommand());
program.addCommand(replayCommand());

// A closed pipe (`| head`) ends the output, not the program with a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`wasm-mmu: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
