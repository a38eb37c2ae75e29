// `npm run fuzz -- --seconds 0` ran no case and passed; a fuzz run that tries nothing must fail.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const TSX = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));

it("fuzz refuses --seconds 0 (no case would run) with exit 1", { timeout: 60_000 }, () => {
  for (const seconds of ["0", "-1", "soon"]) {
    const r = spawnSync(process.execPath, [TSX, "scripts/fuzz.ts", "--seconds", seconds], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`fuzz: --seconds must be a positive number, got "${seconds}"`);
    expect(r.stdout).not.toMatch(/fuzz: \d+ cases/);
  }
});
