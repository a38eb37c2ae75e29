// Soak test of the Kernel: `npm run soak -- --cycles 10000 [--seed S] [--ram BYTES] [--impl wasm|ts]`.
// fork/exit cycles with random writes, every design in turn, RAM near full and once per round
// full, every process's memory equal to a model, every frame free at the end of each round (see
// test/soak/soak.ts).
import { Command } from "commander";
import { soak } from "../test/soak/soak.js";

const opts = new Command()
  .option("--cycles <n>", "fork/exit cycles in all", "10000")
  .option("--seed <n>", "random seed", "1")
  .option("--ram <bytes>", "guest RAM per kernel", String(8 << 20))
  .option("--per-round <n>", "cycles per kernel before a new design boots", "500")
  .option("--impl <impl>", "kernel range-loop implementation: wasm or ts")
  .parse()
  .opts();

const t0 = Date.now();
const report = await soak({
  cycles: Number(opts.cycles),
  seed: Number(opts.seed),
  ramBytes: Number(opts.ram),
  cyclesPerRound: Number(opts.perRound),
  impl: opts.impl,
  log: (l) => console.log(l),
});
console.log(JSON.stringify({ ...report, seconds: (Date.now() - t0) / 1000 }, null, 2));
