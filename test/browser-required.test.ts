// The browser suite without a browser: one line saying how to install Debian's chromium and a
// skip on a developer's machine, a failure under CI=true (as .ci/run sets), never an empty pass.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const VITEST = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));

/** The browser suite in a child vitest, its browser pointed at a file that does not exist. */
function browserSuiteWithoutBrowser(ci: boolean) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: "1", CHROMIUM_PATH: "/nonexistent/chromium" };
  if (ci) env.CI = "true";
  const r = spawnSync(process.execPath, [VITEST, "run", "test/browser.test.ts"], { cwd: ROOT, env, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

const HOW = "Debian's chromium is not installed (no /nonexistent/chromium); install it with: apt-get install -y chromium";

it("skips with one line on how to install the browser when it is missing", { timeout: 60_000 }, () => {
  const r = browserSuiteWithoutBrowser(false);
  expect(r.status, r.out).toBe(0);
  expect(r.out.split("\n").filter((l) => l.includes("browser test skipped"))).toEqual([`browser test skipped: ${HOW}`]);
  expect(r.out).toMatch(/Tests +\d+ skipped/);
  expect(r.out).not.toMatch(/\d+ passed/);
});

it("fails when the browser is missing under CI=true", { timeout: 60_000 }, () => {
  const r = browserSuiteWithoutBrowser(true);
  expect(r.status, r.out).toBe(1);
  expect(r.out).toContain(`browser test required under CI=true: ${HOW}`);
});
