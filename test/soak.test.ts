// Soak (bounded for CI; `npm run soak -- --cycles 10000` or SOAK_CYCLES=10000 for the long run):
// fork/exit cycles with random writes, every design in turn on both cores, RAM driven to no free
// frame once per round, every process's memory equal to a model, every frame free at the end of
// every round (test/soak/soak.ts throws SoakError at the first difference).
import { expect, it } from "vitest";
import { DESIGN_NAMES } from "../src/index.js";
import { soak } from "./soak/soak.js";

const perRound = 200;
const cycles = Number(process.env.SOAK_CYCLES ?? perRound * DESIGN_NAMES.length);

it.each(["wasm", "ts"] as const)(`${cycles} fork/exit cycles, every design in turn (%s core), fixed seed`, async (impl) => {
  const r = await soak({ cycles, seed: 20261122, cyclesPerRound: perRound, impl });
  for (const design of DESIGN_NAMES) {
    const d = r.designs[design];
    expect(d, `${design} ran`).toBeDefined();
    expect(d!.forks, `${design}: forks`).toBeGreaterThan(0);
    expect(d!.enomem, `${design}: ENOMEMs of the processes' own operations`).toBeGreaterThan(0);
    expect(d!.minFreeFrames, `${design}: fewest free frames`).toBe(0);
  }
  expect(r.pagesChecked).toBeGreaterThan(r.forks);
}, 600_000);
