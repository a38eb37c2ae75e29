// Real Linux page tables under QEMU: our walker must list exactly what QEMU's monitor listed.
import { describe, expect, it } from "vitest";
import { FIXTURE_NAMES, MIN_GVA2GPA_SAMPLES, fixtureNames, loadFixture, machineFor } from "./fixtures.js";
import { qemuInfoMem, qemuInfoTlb } from "../src/tools/qemu-format.js";

const names = fixtureNames();

describe.each(names)("fixture %s", (name) => {
  const f = loadFixture(name);

  it("mappings() equals QEMU's info tlb line for line", async () => {
    const m = await machineFor(f);
    const ours = qemuInfoTlb(m.mappings(), m.mode).split("\n");
    const theirs = f.tlb.split("\n");
    for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
      if (ours[i] !== theirs[i]) expect(`${i}: ${ours[i]}`).toBe(`${i}: ${theirs[i]}`);
    }
  });

  it("ranges() equals QEMU's info mem", async () => {
    const m = await machineFor(f);
    // QEMU 7.2 prints nothing for info mem under LA57 (a bug in mem_info_la57): nothing to compare.
    if (f.meta.mode === "x86_64-5level") return expect(f.mem).toBe("");
    expect(qemuInfoMem(m.ranges())).toBe(f.mem);
  });

  it("translate() agrees with QEMU's gva2gpa samples", async () => {
    const m = await machineFor(f);
    expect(f.gva2gpa.length).toBeGreaterThanOrEqual(MIN_GVA2GPA_SAMPLES);
    expect(f.tlb.split("\n").filter((l) => l !== "").length).toBe(Number(f.meta.info_tlb_lines));
    let mapped = 0;
    for (const [va, gpa] of f.gva2gpa) {
      if (gpa !== null) mapped++;
      const r = m.translate(va, { probe: true });
      if (gpa === null) expect(r.fault, `0x${va.toString(16)}`).toBeDefined();
      else expect(r.fault ? r : r.pa, `0x${va.toString(16)}`).toBe(gpa);
    }
    // Both kinds of answer are compared, not only faults.
    expect(mapped).toBeGreaterThan(100);
    expect(f.gva2gpa.length - mapped).toBeGreaterThan(10);
  });
});

it("every capture the repository carries is present", () => {
  expect(names).toEqual([...FIXTURE_NAMES]);
});
