// Soak (bounded for CI; `npm run soak -- --cycles 10000` or SOAK_CYCLES=10000 for the long run):
// fork/exit cycles with random writes in random designs, RAM driven to full, every process's
// memory equal to a model, every frame free at the end of every round.
import { expect, it } from "vitest";
import { soak } from "./soak/soak.js";

const cycles = Number(process.env.SOAK_CYCLES ?? 400);

it.each(["wasm", "ts"] as const)(`${cycles} fork/exit cycles (impl %s), fixed seed`, async (impl) => {
  const r = await soak({ cycles: impl === "ts" ? Math.ceil(cycles / 2) : cycles, seed: 20261122, cyclesPerRound: 100, impl });
  expect(r.forks).toBeGreaterThanOrEqual(impl === "ts" ? cycles / 2 : cycles);
  expect(r.pagesChecked).toBeGreaterThan(r.forks);
  expect(r.minFreeFraction).toBeLessThan(0.05); // RAM really was near full
}, 600_000);
