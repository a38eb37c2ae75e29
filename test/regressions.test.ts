// Every case the fuzz ever minimized (test/regressions/*.json) replays with no disagreement
// between the Machine and the reference walker.
import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { runCase, show, type Case } from "./reference/differential.js";

const dir = new URL("./regressions/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

it.each(files)("%s", async (file) => {
  const saved = JSON.parse(readFileSync(new URL(file, dir), "utf8")) as { case: Case };
  const mm = await runCase(saved.case);
  expect(mm && show(mm)).toBeNull();
});
