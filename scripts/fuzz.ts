// Differential fuzz of the page walker: `npm run fuzz -- --seconds N [--seed S] [--steps K]
// [--tlb]`. Random and adversarial page tables, register values and accesses run on a
// Machine and on the reference model of test/reference/walker.ts (with --tlb, table writes go
// unflushed and every answer must be one test/reference/stale.ts permits); every disagreement (result,
// error code, A/D bytes, RAM, guard bytes outside RAM, a trap) is minimized and saved as
// test/regressions/<kind>-<seed>.json, which test/regressions.test.ts replays.
import { mkdirSync, writeFileSync } from "node:fs";
import { Command } from "commander";
import { generateCase, Rng } from "../test/reference/generate.js";
import { newCoverage, runCase, show } from "../test/reference/differential.js";
import { kindOf, minimize } from "../test/reference/minimize.js";

const opts = new Command()
  .option("--seconds <n>", "how long to run", "30")
  .option("--seed <n>", "first seed (each case takes the next)", String(Date.now() % 1e9))
  .option("--steps <n>", "steps per case after the tables", "60")
  .option("--tlb", "with the Skylake TLB and paging-structure caches, unflushed table writes, INVLPG/INVPCID/CR3/CR4 invalidations")
  .parse()
  .opts();

const seconds = Number(opts.seconds);
if (!(seconds > 0)) {
  console.error(`fuzz: --seconds must be a positive number, got ${JSON.stringify(opts.seconds)}: a run of no case proves nothing`);
  process.exit(1);
}
const machine = opts.tlb ? {} : undefined;
const coverage = newCoverage();
const runOpts = { coverage };
const dir = new URL("../test/regressions/", import.meta.url);
const t0 = Date.now();
const found = new Map<string, number>();
let cases = 0, steps = 0;
let seed = Number(opts.seed);
for (; Date.now() - t0 < seconds * 1000; seed++) {
  const c = generateCase(new Rng(seed), { steps: Number(opts.steps), machine });
  cases++;
  steps += c.steps.length;
  const mm = await runCase(c, runOpts);
  if (!mm) continue;
  const kind = kindOf(mm);
  if (found.has(kind)) continue;
  found.set(kind, seed);
  const small = await minimize(c, {}); // (its runs are not counted in the coverage)
  const slug = kind.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${slug}-${seed}.json`, dir);
  writeFileSync(file, JSON.stringify({ seed, mismatch: JSON.parse(show(small.mismatch)), case: small.case }, null, 2) + "\n");
  console.log(`seed ${seed}: ${show(mm)}\n  minimized to ${small.case.steps.length} steps: ${file.pathname}`);
}
const s = (Date.now() - t0) / 1000;
console.log(`fuzz: ${cases} cases, ${steps} steps, seeds ${Number(opts.seed)}..${seed - 1}, ${s.toFixed(1)} s, ${found.size} kinds of mismatch`);
console.log(`coverage: ${show(coverage)}`);
// A run that tried nothing proves nothing: it fails.
if (cases === 0) console.error("fuzz: ran no case");
process.exitCode = found.size || cases === 0 ? 1 : 0;
