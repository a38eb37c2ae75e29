// Every case the fuzz ever minimized (test/regressions/*.json) replays with no disagreement
// between the Machine and the reference walker. A case with an "open" field is a Machine bug
// found and not yet fixed: it must still give exactly the mismatch saved with it, so a fix (or a
// change in how it fails) makes it fail here until the field is removed.
import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { runCase, show, type Case } from "./reference/differential.js";

const dir = new URL("./regressions/", import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const load = (file: string) => JSON.parse(readFileSync(new URL(file, dir), "utf8")) as { case: Case; open?: string; mismatch?: unknown };

it("there are regression cases to replay", () => {
  expect(files.length).toBeGreaterThanOrEqual(3);
});

for (const file of files) {
  const saved = load(file);
  it(saved.open ? `${file} (open: ${saved.open})` : file, async () => {
    const mm = await runCase(saved.case);
    if (saved.open) expect(mm && JSON.parse(show(mm))).toEqual(saved.mismatch);
    else expect(mm && show(mm)).toBeNull();
  });
}
